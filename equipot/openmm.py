"""equipot in OpenMM: the potential as an ``openmm.PythonForce``.

OpenMM (8.2 and newer) calls a Python function with the positions each step; this module's
function evaluates ``EquiformerCalculator`` there, converting units (nm and kJ/mol for OpenMM,
Å and eV for equipot)::

    system, positions = openmm_system(atoms, "aspirin-gfn2")
    integrator = openmm.LangevinMiddleIntegrator(500 * unit.kelvin, 1 / unit.picosecond, 0.5 * unit.femtosecond)
    context = openmm.Context(system, integrator)
    context.setPositions(positions)
    integrator.step(1000)

The calculator runs on the CPU or GPU torch uses, whatever OpenMM platform integrates.
"""

from __future__ import annotations

import numpy as np

from equipot.errors import EquipotError

EV_TO_KJ_PER_MOL = 96.48533212331002  # 1 eV in kJ/mol (CODATA 2018)


def python_force(atoms, model, *, dtype: str = "float64", device: str = "cpu"):
    """An ``openmm.PythonForce`` with the energy and forces of ``model`` for ``atoms``'s elements
    (and, for a periodic ``atoms``, the box OpenMM passes in)."""
    import openmm

    from equipot.calculator import EquiformerCalculator

    work = atoms.copy()
    work.calc = EquiformerCalculator(model, dtype=dtype, device=device)
    periodic = bool(work.pbc.all())

    def compute(state):
        work.positions = state.getPositions(asNumpy=True).value_in_unit(openmm.unit.nanometer) * 10.0
        if periodic:
            work.cell = state.getPeriodicBoxVectors(asNumpy=True).value_in_unit(openmm.unit.nanometer) * 10.0
        energy = work.get_potential_energy() * EV_TO_KJ_PER_MOL
        forces = work.get_forces() * (EV_TO_KJ_PER_MOL * 10.0)  # eV/Å -> kJ/mol/nm
        return energy, forces

    force = openmm.PythonForce(compute)
    force.setUsesPeriodicBoundaryConditions(periodic)
    return force


def openmm_system(atoms, model, *, dtype: str = "float64", device: str = "cpu"):
    """(``openmm.System`` with ``atoms``'s masses, box and the equipot force; positions in nm)."""
    import openmm

    system = openmm.System()
    for mass in atoms.get_masses():
        system.addParticle(float(mass))
    if atoms.pbc.all():
        a, b, c = (openmm.Vec3(*(v / 10.0)) for v in atoms.cell.array)
        system.setDefaultPeriodicBoxVectors(a, b, c)
    elif atoms.pbc.any():
        raise EquipotError("OpenMM boxes are periodic in all three directions or none")
    system.addForce(python_force(atoms, model, dtype=dtype, device=device))
    return system, np.asarray(atoms.positions) / 10.0 * openmm.unit.nanometer
