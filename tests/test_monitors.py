"""Stability monitors: each fires on a constructed failing frame and stays quiet on healthy ones."""

from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from equipot.dynamics.monitors import (
    BondStability,
    ContactStability,
    ForceSanity,
    MinDistance,
    TemperatureBlowup,
    Uncertainty,
    bond_deviation,
    bond_lengths,
    bonds_of,
    contact_pairs,
    max_force_norm,
    reference_bond_lengths,
    study_monitors,
)
from tests.conftest import molecule

ROOT = Path(__file__).resolve().parents[1]


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
    forces = np.zeros((3, 9, 3))
    forces[1, 4] = [3.0, 4.0, 0.0]
    forces[2, 0, 0] = np.nan
    np.testing.assert_array_equal(max_force_norm(forces), [0.0, 5.0, np.inf])


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
    for bad, fires in [
        (np.zeros((9, 3)), False),
        (np.full((9, 3), 10.0), False),
        (np.full((9, 3), 100.0), True),
        (np.full((9, 3), np.nan), True),
    ]:
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


def test_contact_stability_on_a_constructed_squeeze():
    from ase.io import read

    start = read(ROOT / "equipot" / "geometries" / "salicylic.xyz")
    pairs = {tuple(p) for p in contact_pairs(start).tolist()}
    # phenol O3 and carbonyl O8 are four bonds apart; C0-O8 is a bond, O8-O9 share C0; no H
    assert (3, 8) in pairs and (0, 8) not in pairs and (8, 9) not in pairs
    assert all(start.numbers[i] > 1 and start.numbers[j] > 1 for i, j in pairs)
    reference = np.stack([start.positions] * 3)  # the start is the closest approach of every pair
    monitor = ContactStability(reference, margin=0.25)
    monitor.start(start)
    assert monitor.check(start, 0, 0) is None
    for by, fires in ((0.2, False), (0.3, True)):  # O8 pulled toward O3 along O3-O8
        moved = start.copy()
        moved.positions[8] -= by * (start.positions[8] - start.positions[3]) / start.get_distance(3, 8)
        reason = monitor.check(moved, 0, 0)
        assert (reason is not None) == fires
    assert "atoms 3 and 8" in reason
    with pytest.raises(ValueError, match="atoms"):
        ContactStability(reference[:, :5]).start(start)
    # ethanol has no heavy atoms three bonds apart: nothing to watch, never fires
    ethanol = molecule("ethanol")
    quiet = ContactStability(np.stack([ethanol.positions] * 2))
    quiet.start(ethanol)
    assert len(quiet.pairs) == 0 and quiet.check(ethanol, 0, 0) is None
    # the studies' monitors include it only on request (a folding polymer chain is no failure)
    names = lambda ms: [m.name for m in ms]  # noqa: E731
    assert "contact" not in names(study_monitors(start, reference))
    assert "contact" in names(study_monitors(start, reference, contacts=True))


def _extxyz_positions(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(T, n, 3) positions and (T,) times in ps of a gzipped extxyz of equal-size frames written
    by ``md17_stability.py --save-frames`` (parsed directly: ASE's reader takes ~10 ms a frame)."""
    import gzip
    import re

    lines = gzip.open(path, "rt").read().splitlines()
    n = int(lines[0])
    blocks = [lines[k : k + n + 2] for k in range(0, len(lines), n + 2)]
    times = np.array([float(re.search(r"time_fs=([-0-9.eE+]+)", b[1]).group(1)) for b in blocks]) / 1000
    positions = np.array([[row.split()[1:4] for row in b[2:]] for b in blocks], dtype=float)
    return positions, times


def test_contact_stability_catches_the_salicylic_collapse_in_the_committed_frames():
    """The seed-2 salicylic acid replica of the MD17 study (md/reports/md17_cpu_20ps_seed2) passes
    the bond criterion for all 20 ps but falls at about 13.5 ps into an O3...H...O8 structure
    that GFN2-xTB's own 500 K trajectory never comes near (md/reports/md17_cpu_20ps_seed2/audit.md)."""
    from ase.io import read

    from equipot.data.store import FrameStore

    start = read(ROOT / "equipot" / "geometries" / "salicylic.xyz")
    positions, times = _extxyz_positions(ROOT / "md" / "reports" / "md17_cpu_20ps_seed2" / "frames_salicylic.xyz.gz")
    assert positions.shape == (2000, len(start), 3)
    with FrameStore(ROOT / "datasets" / "md17_gfn2" / "salicylic.h5") as store:
        reference = store.trajectory_positions()
    bonds = bonds_of(start)
    assert bond_deviation(positions, bonds, reference_bond_lengths(reference, bonds)).max() < 0.5
    contact = ContactStability(reference)
    contact.start(start)
    gap = (bond_lengths(positions, contact.pairs) - contact.limit).min(axis=1)
    first = int(np.argmax(gap < 0))
    assert gap[first] < 0 and 13.0 < times[first] < 14.0
    # frame by frame, as in MD: quiet just before, fires at the collapse, on O3-O8
    for k in range(first - 3, first):
        assert contact.check(Atoms(start.numbers, positions[k]), k, times[k]) is None
    assert "atoms 3 and 8" in contact.check(Atoms(start.numbers, positions[first]), first, times[first])


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
    rc = main(
        [
            "md",
            "aspirin",
            "--model",
            "aspirin-gfn2",
            "--duration",
            "20steps",
            "--temperature",
            "500",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    assert report["result"]["steps_done"] == 20 and not report["result"]["stopped_early"]
    assert (out / "report.png").is_file()
