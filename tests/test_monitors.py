"""Stability monitors: each fires on a constructed failing frame and stays quiet on healthy ones."""

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from equipot.dynamics.monitors import (BondStability, ForceSanity, MinDistance, TemperatureBlowup, Uncertainty,
                                       bond_deviation, bond_lengths, bonds_of, kinetic_temperature,
                                       max_force_norm, min_pair_distance, reference_bond_lengths)
from tests.conftest import molecule


@pytest.fixture
def ethanol():
    return molecule("ethanol")


def stretched(atoms, i, j, by):
    """Copy with atom j moved ``by`` Å further from atom i along the i-j bond."""
    out = atoms.copy()
    d = out.positions[j] - out.positions[i]
    out.positions[j] += by * d / np.linalg.norm(d)
    return out


def test_bonds_of_ethanol_include_c_h_bonds(ethanol):
    bonds = {tuple(b) for b in bonds_of(ethanol)}
    # ethanol.xyz: C0, C1, O2; 8 bonds (C-C, C-O, O-H, 5 C-H); plain radius sums would miss C-H
    assert len(bonds) == 8 and (0, 1) in bonds and (0, 2) in bonds


def test_bond_stability_fires_on_stretched_bond_only(ethanol):
    monitor = BondStability(0.5)
    monitor.start(ethanol)
    assert monitor.check(ethanol, 0, 0.0) is None
    healthy = ethanol.copy()
    healthy.rattle(0.05, seed=1)
    assert monitor.check(healthy, 10, 0.005) is None
    assert monitor.check(stretched(ethanol, 0, 2, 0.45), 20, 0.01) is None
    reason = monitor.check(stretched(ethanol, 0, 2, 0.7), 20, 0.01)
    assert reason is not None and "0-2" in reason and "0.70" in reason
    # compressed bonds count too (|deviation|)
    assert monitor.check(stretched(ethanol, 0, 1, -0.6), 20, 0.01) is not None
    # NaN positions are a failure, not a silent pass
    bad = ethanol.copy()
    bad.positions[3] = np.nan
    assert monitor.check(bad, 30, 0.015) is not None


def test_bond_stability_against_reference_mean(ethanol):
    bonds = bonds_of(ethanol)
    frames = [stretched(ethanol, 0, 2, 0.3), stretched(ethanol, 0, 2, 0.5)]  # mean C-O: +0.4 Å
    ref = reference_bond_lengths(frames, bonds)
    assert ref.shape == (len(bonds),)
    k = [tuple(b) for b in bonds].index((0, 2))
    assert ref[k] == pytest.approx(bond_lengths(ethanol.positions, bonds)[k] + 0.4)
    monitor = BondStability(0.5, reference_lengths=ref, bonds=bonds)
    assert monitor.check(stretched(ethanol, 0, 2, 0.8), 0, 0) is None  # 0.4 from the mean
    assert monitor.check(ethanol, 0, 0) is None
    assert monitor.check(stretched(ethanol, 0, 2, -0.2), 0, 0) is not None  # 0.6 from the mean
    with pytest.raises(ValueError, match="reference lengths"):
        BondStability(0.5, reference_lengths=ref[:3], bonds=bonds)


def test_array_checks_batch_over_replicas(ethanol):
    bonds = bonds_of(ethanol)
    ref = bond_lengths(ethanol.positions, bonds)
    batch = np.stack([ethanol.positions, stretched(ethanol, 0, 2, 0.7).positions])
    np.testing.assert_allclose(bond_deviation(batch, bonds, ref), [0.0, 0.7], atol=1e-12)
    close = ethanol.positions.copy()
    close[3] = close[0] + [0.3, 0, 0]
    d = min_pair_distance(np.stack([ethanol.positions, close]))
    assert d.shape == (2,) and d[0] > 0.9 and d[1] == pytest.approx(0.3)
    forces = np.zeros((3, 9, 3))
    forces[1, 4] = [3.0, 4.0, 0.0]
    forces[2, 0, 0] = np.nan
    np.testing.assert_array_equal(max_force_norm(forces), [0.0, 5.0, np.inf])
    v = np.random.default_rng(0).normal(size=(9, 3)) * 0.02
    atoms = ethanol.copy()
    atoms.set_velocities(v)
    assert kinetic_temperature(v, atoms.get_masses()) == pytest.approx(atoms.get_temperature())


def test_temperature_blowup(ethanol):
    atoms = ethanol.copy()
    atoms.set_velocities(np.full((len(atoms), 3), 0.5))  # Å per ASE time unit: thousands of K
    assert "above 2000 K" in TemperatureBlowup(2000).check(atoms, 0, 0)
    atoms.set_velocities(np.zeros((len(atoms), 3)))
    assert TemperatureBlowup(2000).check(atoms, 0, 0) is None
    by_factor = TemperatureBlowup(factor=3)
    by_factor.start(atoms, 300)
    assert by_factor.max_K == pytest.approx(900)
    with pytest.raises(ValueError, match="exactly one"):
        TemperatureBlowup()
    with pytest.raises(ValueError, match="before start"):
        TemperatureBlowup(factor=3).check(atoms, 0, 0)


def test_force_sanity(ethanol):
    atoms = ethanol.copy()
    for bad, fires in [(np.zeros((9, 3)), False), (np.full((9, 3), 10.0), False),
                       (np.full((9, 3), 100.0), True), (np.full((9, 3), np.nan), True)]:
        atoms.calc = SinglePointCalculator(atoms, forces=bad)
        assert (ForceSanity(50).check(atoms, 0, 0) is not None) == fires
    with pytest.raises(ValueError, match="positive"):
        ForceSanity(-1)


def test_min_distance(ethanol):
    assert MinDistance(0.5).check(ethanol, 0, 0) is None
    squeezed = ethanol.copy()
    squeezed.positions[3] = squeezed.positions[0] + [0.3, 0, 0]
    assert "0.30" in MinDistance(0.5).check(squeezed, 0, 0)
    # fraction of the covalent-radius sum: H-H (0.31 + 0.31 Å) at 0.4 Å is below 0.7 x 0.62
    h2 = Atoms("H2", positions=[[0, 0, 0], [0.4, 0, 0]])
    assert MinDistance(covalent_fraction=0.7).check(h2, 0, 0) is not None
    h2.positions[1, 0] = 0.74
    assert MinDistance(covalent_fraction=0.7).check(h2, 0, 0) is None
    assert MinDistance(0.5).check(Atoms("H"), 0, 0) is None


def test_uncertainty_fires_and_skips_without_committee(ethanol):
    atoms = ethanol.copy()
    atoms.calc = SinglePointCalculator(atoms, forces=np.zeros((9, 3)))
    atoms.calc.results["force_uncertainty"] = np.array([0.01] * 8 + [0.4])
    reason = Uncertainty(0.2).check(atoms, 0, 0)
    assert reason is not None and "atom 8" in reason
    assert Uncertainty(0.5).check(atoms, 0, 0) is None
    atoms.calc.results["force_uncertainty"] = np.array([0.01] * 8 + [np.nan])
    assert Uncertainty(0.5).check(atoms, 0, 0) is not None
    del atoms.calc.results["force_uncertainty"]
    monitor = Uncertainty(0.2)
    with pytest.warns(UserWarning, match="force_uncertainty"):
        monitor.start(atoms)
    assert not monitor.active and monitor.check(atoms, 0, 0) is None


def test_md_cli_with_shipped_model(tmp_path):
    """`equipot md aspirin --model aspirin-gfn2` runs on a fresh install, nothing else needed."""
    import json

    from equipot.checkpoint import shipped_models
    from equipot.cli import main

    assert "aspirin-gfn2" in shipped_models()
    out = tmp_path / "run"
    rc = main(["md", "aspirin", "--model", "aspirin-gfn2", "--duration", "20steps", "--temperature", "500",
               "--out", str(out), "--no-progress"])
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    assert report["result"]["steps_done"] == 20 and not report["result"]["stopped_early"]
    assert (out / "report.png").is_file()
