"""equipot in OpenMM through ``openmm.PythonForce``: forces equal the calculator's, and a short
Langevin run completes."""

from __future__ import annotations

import numpy as np
import pytest

from equipot import EquiformerCalculator
from equipot.data.readers import read_structure
from equipot.openmm import EV_TO_KJ_PER_MOL, openmm_system

openmm = pytest.importorskip("openmm", reason="the OpenMM route needs the engines extra: pip install -e '.[engines]'")
if not hasattr(openmm, "PythonForce"):
    pytest.skip("openmm.PythonForce needs OpenMM 8.2 or newer", allow_module_level=True)

MODEL = "aspirin-gfn2-small"


def test_forces_equal_calculator_and_langevin_runs():
    atoms = read_structure("aspirin")
    system, positions = openmm_system(atoms, MODEL)
    integrator = openmm.LangevinMiddleIntegrator(
        300 * openmm.unit.kelvin, 1 / openmm.unit.picosecond, 0.5 * openmm.unit.femtosecond
    )
    integrator.setRandomNumberSeed(7)
    context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName("Reference"))
    context.setPositions(positions)
    state = context.getState(getEnergy=True, getForces=True)
    atoms.calc = EquiformerCalculator(MODEL)
    energy = state.getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole) / EV_TO_KJ_PER_MOL
    forces = state.getForces(asNumpy=True).value_in_unit(openmm.unit.kilojoule_per_mole / openmm.unit.nanometer)
    assert energy == pytest.approx(atoms.get_potential_energy(), rel=1e-12)
    np.testing.assert_allclose(forces / (EV_TO_KJ_PER_MOL * 10), atoms.get_forces(), rtol=0, atol=1e-9)
    integrator.step(20)
    after = context.getState(getEnergy=True, getPositions=True)
    moved = after.getPositions(asNumpy=True).value_in_unit(openmm.unit.nanometer) - positions.value_in_unit(
        openmm.unit.nanometer
    )
    assert np.isfinite(after.getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole))
    assert 0 < np.abs(moved).max() < 0.05  # atoms moved, by less than 0.5 Å in 10 fs


def test_partly_periodic_is_a_clear_error():
    atoms = read_structure("ethanol")
    atoms.pbc = [True, True, False]
    with pytest.raises(ValueError, match="all three directions or none"):
        openmm_system(atoms, MODEL)
