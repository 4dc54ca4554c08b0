"""A repulsive wall between the chains of a melt, for sampling: it keeps MD on an imperfect
potential out of the configurations that ``equipot.data.melts.MeltCheck`` rejects, and is
zero everywhere else.

A potential that never saw two chains touch may pull them into each other: it joins two Cl
atoms of a PVC melt, or an H of one chain to a Cl of another. The generator of melt data then
has to throw the box away. With the wall added to the potential that drives the MD, every pair
(i, j) of atoms on different chains has a distance below which it is pushed back,

    r0(i, j) = max(r_i + r_j + 0.3 Å,  floor * contact(i, j)) + margin

(the first term is where ``bond_set`` would call the pair bonded, the second where the check
calls it an overlap), with energy

    E = sum over pairs with d < r0 of  k / 2 * (r0 - d)^2

and forces -dE/dx and the virial stress that follow. Pairs farther apart than r0 feel nothing,
so the MD samples the potential's own distribution wherever that is sound; where the potential
is wrong, frames pile up at the wall, and the reference labels (GFN2-xTB, without the wall)
show a model in training how wrong it was.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from equipot.data.melts import CONTACT


class ContactWall(Calculator):
    """Harmonic wall between atoms of different chains (module docstring).

    Args:
        chain: (n,) chain index of each atom (``MeltCheck.chain``).
        floor: the check's fraction of the contact distances (``MeltCheck.floor``).
        margin: Å the wall stands off from what the check rejects.
        k: spring constant, eV/Å^2.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, chain: np.ndarray, floor: float = 0.85, margin: float = 0.2, k: float = 20.0, **kwargs):
        super().__init__(**kwargs)
        self.chain = np.asarray(chain)
        self.floor, self.margin, self.k = floor, margin, k

    def r0(self, numbers_a: np.ndarray, numbers_b: np.ndarray) -> np.ndarray:
        """Wall distance (Å) of pairs of atoms with these atomic numbers, elementwise."""
        from ase.data import covalent_radii

        bonded = covalent_radii[numbers_a] + covalent_radii[numbers_b] + 0.3
        heavy = (numbers_a > 1).astype(int) + (numbers_b > 1).astype(int)
        contact = np.choose(heavy, [CONTACT["H-H"], CONTACT["heavy-H"], CONTACT["heavy-heavy"]])
        return np.maximum(bonded, self.floor * contact) + self.margin

    def calculate(self, atoms: Atoms | None = None, properties=("energy",), system_changes=all_changes) -> None:
        from ase.data import covalent_radii
        from ase.neighborlist import neighbor_list

        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        reach = 2 * covalent_radii[atoms.numbers].max() + 0.3 + self.margin + self.floor * max(CONTACT.values())
        i, j, d, vec = neighbor_list("ijdD", atoms, reach)
        keep = (self.chain[i] != self.chain[j]) & (i < j)
        i, j, d, vec = i[keep], j[keep], d[keep], vec[keep]  # vec = x_j - x_i (minimum image)
        depth = self.r0(atoms.numbers[i], atoms.numbers[j]) - d
        inside = depth > 0
        i, j, d, vec, depth = i[inside], j[inside], d[inside], vec[inside], depth[inside]
        energy = 0.5 * self.k * float((depth**2).sum())
        # dE/dd = -k * depth; the force on j is -dE/dd * vec / d, on i the opposite
        pair = (self.k * depth / d)[:, None] * vec
        forces = np.zeros((len(atoms), 3))
        np.add.at(forces, j, pair)
        np.add.at(forces, i, -pair)
        stress = np.zeros((3, 3))
        if atoms.cell.rank == 3:
            # virial stress: (1/V) sum over pairs of r_ij (x) dE/dr_ij
            stress = -(vec.T @ pair) / atoms.get_volume()
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "forces": forces,
            "stress": stress.flat[[0, 4, 8, 5, 2, 1]],
        }


def walled(calculator: Calculator, check) -> Calculator:
    """``calculator`` plus the ``ContactWall`` of ``check``'s chains (a ``MeltCheck``): what
    drives MD that must not leave the configurations the check accepts."""
    from ase.calculators.mixing import SumCalculator

    return SumCalculator([calculator, ContactWall(check.chain, floor=check.floor)])
