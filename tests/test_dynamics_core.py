"""The calculator drives ASE: NVE energy conservation, BFGS, vibrations, Langevin."""

import numpy as np
import pytest
import torch
from ase import units
from ase.md.langevin import Langevin
from ase.md.verlet import VelocityVerlet
from ase.optimize import BFGS
from ase.vibrations import Vibrations

from equipot import AtomicGraph, EquiformerCalculator
from equipot.dynamics.md import initialise_velocities
from tests.conftest import make_model


def test_nve_conserves_energy(ethanol):
    """0.5 ps of velocity Verlet (0.5 fs) on ethanol at 300 K with a random-weight model."""
    model = make_model()
    # Random weights at unit scale give eV-sized random forces with no repulsive core, and
    # atoms then fly through each other (r -> 0.1 Å); 0.3 keeps forces at trained-model size.
    model.scale.fill_(0.3)
    ethanol.calc = EquiformerCalculator(model, dtype="float64")
    initialise_velocities(ethanol, 300, np.random.default_rng(0), exact=False)
    dyn = VelocityVerlet(ethanol, timestep=0.5 * units.fs)
    times, totals = [], []

    def record():
        times.append(dyn.get_time() / (1000 * units.fs))
        totals.append(ethanol.get_total_energy())

    dyn.attach(record, interval=10)
    dyn.run(1000)
    n = len(ethanol)
    slope = np.polyfit(times, totals, 1)[0] * 1000 / n  # meV/atom/ps
    fluctuation = np.std(totals) * 1000 / n  # meV/atom
    assert times[-1] == pytest.approx(0.5)
    assert abs(slope) < 0.1, f"drift {slope:.3g} meV/atom/ps"
    assert fluctuation < 0.5, f"total-energy fluctuation {fluctuation:.3g} meV/atom"
    # The molecule really moved: kinetic energy is not frozen.
    assert ethanol.get_temperature() > 50


def test_bfgs_lowers_energy(ethanol):
    ethanol.calc = EquiformerCalculator(make_model())
    e0 = ethanol.get_potential_energy()
    BFGS(ethanol, logfile=None).run(fmax=1e-3, steps=30)
    assert ethanol.get_potential_energy() < e0


def test_vibrations_hessian_matches_autograd(tmp_path, ethanol):
    """ASE's finite-difference Hessian equals the exact second derivative of the model."""
    model = make_model()
    ethanol.calc = EquiformerCalculator(model, skin=0.0)
    vib = Vibrations(ethanol, name=str(tmp_path / "vib"), delta=1e-3, nfree=4)
    vib.run()
    hessian_fd = vib.get_vibrations().get_hessian_2d()

    g = AtomicGraph.from_atoms(ethanol, model.cutoff)

    def energy(x):
        g.positions = x.view(-1, 3)
        return model(g, compute_forces=False)["energy"].sum()

    x0 = torch.tensor(ethanol.positions.reshape(-1), dtype=torch.float64)
    hessian = torch.autograd.functional.hessian(energy, x0).numpy()
    np.testing.assert_allclose(hessian_fd, hessian, atol=1e-5 * np.abs(hessian).max() + 1e-7)
    assert len(vib.get_frequencies()) == 3 * len(ethanol)


def test_langevin_runs(aspirin):
    aspirin.calc = EquiformerCalculator(make_model())
    initialise_velocities(aspirin, 500, np.random.default_rng(1), exact=False)
    dyn = Langevin(
        aspirin,
        timestep=0.5 * units.fs,
        temperature_K=500,
        friction=0.01 / units.fs,
        fixcm=False,
        rng=np.random.default_rng(2),
    )
    dyn.run(20)
    assert np.all(np.isfinite(aspirin.positions))
    assert dyn.nsteps == 20
