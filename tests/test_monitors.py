"""Monitors fire on constructed failures and stay quiet on healthy frames; analysis; the md CLI."""

import json

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.singlepoint import SinglePointCalculator

from equipot import save_checkpoint
from equipot.cli import main
from equipot.dynamics.analysis import (distance_histogram, distance_histogram_error, end_to_end, energy_drift,
                                       radius_of_gyration)
from equipot.dynamics.md import run_md
from equipot.dynamics.monitors import (BondStability, ForceSanity, MinDistance, TemperatureBlowup, Uncertainty,
                                       bonds_of, reference_bond_lengths)
from tests.conftest import make_model, molecule


def test_bond_stability(ethanol):
    monitor = BondStability(0.5)
    assert monitor.check(ethanol, 0, 0.0) is None
    healthy = ethanol.copy()
    healthy.rattle(0.05, seed=1)
    assert monitor.check(healthy, 10, 0.005) is None
    broken = ethanol.copy()
    c, o = 0, 2  # ethanol.xyz: atoms 0, 1 carbon, 2 oxygen bonded to 0
    bonds = {tuple(b) for b in bonds_of(ethanol)}
    assert (c, o) in bonds and len(bonds) == 8
    broken.positions[o] += 0.7 * (broken.positions[o] - broken.positions[c]) / np.linalg.norm(broken.positions[o] - broken.positions[c])
    assert "deviates" in monitor.check(broken, 20, 0.01)
    # against a reference trajectory: mean lengths
    ref = reference_bond_lengths([ethanol, healthy], monitor.bonds)
    assert ref.shape == (len(monitor.bonds),)
    assert BondStability(0.5, reference_lengths=ref, bonds=monitor.bonds).check(healthy, 0, 0) is None


def test_temperature_forces_distance_uncertainty(ethanol):
    atoms = ethanol.copy()
    atoms.set_velocities(np.full((len(atoms), 3), 0.5))  # Å/ASE-time: thousands of K
    assert TemperatureBlowup(2000).check(atoms, 0, 0) is not None
    atoms.set_velocities(np.zeros((len(atoms), 3)))
    assert TemperatureBlowup(2000).check(atoms, 0, 0) is None
    for bad, fires in [(np.zeros((9, 3)), False), (np.full((9, 3), 100.0), True), (np.full((9, 3), np.nan), True)]:
        atoms.calc = SinglePointCalculator(atoms, forces=bad)
        assert (ForceSanity(50).check(atoms, 0, 0) is not None) == fires
    assert MinDistance(0.5).check(ethanol, 0, 0) is None
    squeezed = ethanol.copy()
    squeezed.positions[3] = squeezed.positions[0] + [0.3, 0, 0]
    assert "0.30" in MinDistance(0.5).check(squeezed, 0, 0)
    atoms.calc = SinglePointCalculator(atoms, forces=np.zeros((9, 3)))
    atoms.calc.results["force_uncertainty"] = np.array([0.01] * 8 + [0.4])
    assert Uncertainty(0.2).check(atoms, 0, 0) is not None and Uncertainty(0.5).check(atoms, 0, 0) is None
    del atoms.calc.results["force_uncertainty"]
    with pytest.raises(ValueError, match="committee"):
        Uncertainty(0.2).check(atoms, 0, 0)


class Harmonic(Calculator):
    """Two atoms on a spring, k = 10 eV/Å^2, rest length 1 Å."""

    implemented_properties = ["energy", "forces"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        d = self.atoms.positions[1] - self.atoms.positions[0]
        r = np.linalg.norm(d)
        f = -10.0 * (r - 1.0) * d / r
        self.results = {"energy": 5.0 * (r - 1.0) ** 2, "forces": np.array([-f, f])}


def test_nve_drift_of_harmonic_toy_is_zero(tmp_path):
    atoms = Atoms("H2", positions=[[0, 0, 0], [1.05, 0, 0]])
    atoms.calc = Harmonic()
    result = run_md(atoms, ensemble="nve", temperature_K=300, timestep_fs=0.25, steps=2000, monitors=[],
                    out_dir=tmp_path, progress=False)
    assert abs(result.drift["drift_meV_per_atom_per_ps"]) < 0.01
    assert result.drift["fluctuation_meV_per_atom"] < 1.0
    assert not result.stopped_early


def test_energy_drift_slope_by_hand():
    t = np.linspace(0, 2, 21)
    d = energy_drift(t, 5 + 0.003 * t, n_atoms=3)
    assert d["drift_meV_per_atom_per_ps"] == pytest.approx(1.0)
    assert d["fluctuation_meV_per_atom"] == pytest.approx(0.0, abs=1e-9)


def test_distance_histogram_and_chain_shape(aspirin):
    r, h = distance_histogram(aspirin.positions)
    assert len(h) == 500 and (h * (r[1] - r[0])).sum() == pytest.approx(1.0)
    frames = np.stack([aspirin.positions, aspirin.positions + 0.01])
    assert distance_histogram_error(frames, frames) == 0.0
    stretched = aspirin.positions * 1.2
    assert distance_histogram_error(stretched, aspirin.positions) > 0.01
    line = np.array([[0.0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0]])
    assert radius_of_gyration(line) == pytest.approx(np.sqrt(1.25))
    assert end_to_end(line, 0, 3) == pytest.approx(3.0)


def test_langevin_run_stops_early_on_failure(ethanol, tmp_path):
    class FailAt:
        name = "test"

        def check(self, atoms, step, time_ps):
            return "planned" if step >= 30 else None

    model = make_model()
    model.scale.fill_(0.3)
    from equipot import EquiformerCalculator

    ethanol.calc = EquiformerCalculator(model)
    result = run_md(ethanol, ensemble="nvt", temperature_K=300, steps=100, monitors=[FailAt()], check_every=10,
                    out_dir=tmp_path, progress=False)
    assert result.stopped_early and result.failure.step == 30
    assert result.time_to_failure_ps == pytest.approx(0.015)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["result"]["failure"]["reason"] == "planned"


def test_md_cli_writes_report(tmp_path, capsys):
    model = make_model()
    model.scale.fill_(0.3)
    save_checkpoint(model, tmp_path / "m.pt")
    out = tmp_path / "run"
    rc = main(["md", "ethanol", "--model", str(tmp_path / "m.pt"), "--duration", "20steps", "--temperature", "300",
               "--out", str(out), "--no-progress", "--traj-every", "5"])
    assert rc == 0
    for name in ("md.csv", "report.json", "report.png", "trajectory.extxyz"):
        assert (out / name).is_file(), name
    assert json.loads((out / "report.json").read_text())["result"]["steps_done"] == 20
    assert "C2H6O" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["md", "ethanol"])  # --model is required
    assert main(["md", "notamolecule", "--model", str(tmp_path / "m.pt")]) == 1
