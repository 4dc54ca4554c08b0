"""One structure with its labels (``Frame``), as the frame store, the readers and the
trainers pass it, and the labels an ASE ``Atoms`` carries (``atoms_labels``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from equipot.errors import EquipotError


@dataclass
class Frame:
    """One structure. numbers (n,), positions (n, 3) Å, energy eV, forces (n, 3) eV/Å,
    cell (3, 3) Å, pbc (3,), stress (6,) eV/Å^3 Voigt, velocities (n, 3) Å/fs."""

    numbers: np.ndarray
    positions: np.ndarray
    energy: float | None = None
    forces: np.ndarray | None = None
    cell: np.ndarray | None = None
    pbc: np.ndarray | None = None
    stress: np.ndarray | None = None
    velocities: np.ndarray | None = None
    frame_id: int = -1

    @classmethod
    def from_atoms(
        cls,
        atoms,
        frame_id: int = -1,
        *,
        energy_key: str | None = "energy",
        forces_key: str | None = "forces",
        stress_key: str | None = "stress",
        required: bool = False,
        velocities: bool = True,
    ) -> "Frame":
        """A frame of ``atoms`` with its labels (``atoms_labels``) and, if ``velocities`` and
        the momenta are set, its velocities."""
        from ase import units

        energy, forces, stress = atoms_labels(atoms, energy_key, forces_key, stress_key, required=required)
        velocities = atoms.get_velocities() * units.fs if velocities and atoms.has("momenta") else None
        return cls(
            numbers=atoms.numbers.copy(),
            positions=atoms.positions.copy(),
            energy=None if energy is None else float(energy),
            forces=None if forces is None else np.asarray(forces, dtype=float),
            cell=atoms.cell.array.copy(),
            pbc=atoms.pbc.copy(),
            stress=None if stress is None else np.asarray(stress, dtype=float).reshape(-1),
            velocities=velocities,
            frame_id=frame_id,
        )

    def to_atoms(self):
        """``ase.Atoms`` with a SinglePointCalculator holding energy/forces/stress."""
        from ase import Atoms, units
        from ase.calculators.singlepoint import SinglePointCalculator

        atoms = Atoms(
            numbers=self.numbers,
            positions=self.positions,
            cell=self.cell if self.cell is not None else np.zeros((3, 3)),
            pbc=self.pbc if self.pbc is not None else False,
        )
        if self.velocities is not None:
            atoms.set_velocities(self.velocities / units.fs)
        results = {
            k: v
            for k, v in (("energy", self.energy), ("forces", self.forces), ("stress", self.stress))
            if v is not None
        }
        if results:
            atoms.calc = SinglePointCalculator(atoms, **results)
        atoms.info["frame_id"] = self.frame_id
        return atoms


def atoms_labels(
    atoms,
    energy_key: str | None = "energy",
    forces_key: str | None = "forces",
    stress_key: str | None = "stress",
    required: bool = False,
):
    """(energy, forces, stress) of ``atoms``: each from the calculator's results under its key,
    else from ``atoms.info`` (energy, stress) or ``atoms.arrays`` (forces); None where a key is
    None or (unless ``required``: then a ValueError naming the keys present) absent. A stress
    is never required: only periodic frames have one.

    ASE puts the "energy", "forces" and "stress" of an extxyz file or a database row into a
    SinglePointCalculator, and other keys (``dft_energy``...) into info and arrays.
    """
    results = atoms.calc.results if atoms.calc is not None else {}

    def take(key: str | None, where: dict, needed: bool = required):
        if key is None:
            return None
        if key in results:
            return results[key]
        if key in where:
            return where[key]
        if needed:
            have = sorted(set(atoms.info) | set(atoms.arrays) | set(results))
            raise EquipotError(f"frame has no {key!r}; keys present: {have}")
        return None

    # a stress is optional however ``required`` is set: only periodic frames have one
    return take(energy_key, atoms.info), take(forces_key, atoms.arrays), take(stress_key, atoms.info, False)
