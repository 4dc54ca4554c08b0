"""A repulsive wall for sampling melts: it keeps MD on an imperfect potential out of the
configurations that ``equipot.data.melts.MeltCheck`` rejects (a bond made, chains overlapping),
and is zero everywhere else.

A potential that never saw two chains touch may pull them into each other: it joins two Cl
atoms of a PVC melt, or an H of one chain to a Cl of another, and brings a Cl within bonding
distance of atoms of its own chain. The generator of melt data then has to throw the box away. With the
wall added to the potential that drives the MD, every pair (i, j) of atoms not bonded in the
reference has a distance below which it is pushed back,

    r0(i, j) = r_i + r_j + 0.3 Å + margin                              (same chain)
    r0(i, j) = max(r_i + r_j + 0.3 Å,  floor * contact(i, j)) + margin  (two chains)

(the first term is where ``bond_set`` would call the pair bonded, the second where the check
calls two chains overlapping), and every bond of the reference is held below where it would
count as broken, r1 = r_i + r_j + 0.3 Å - bond_margin (0.1 Å: about 0.2 Å past the equilibrium
length of every bond in these polymers, 0.18 Å for C-H and C-C; a model that lets a hydroxyl
proton wander to its neighbour's oxygen breaks an O-H),
with energy

    E = sum over pairs with d < r0 of  k / 2 * (r0 - d)^2  +  sum over bonds with d > r1 of  k / 2 * (d - r1)^2

and forces -dE/dx and the virial stress that follow. Pairs farther apart than r0 feel nothing,
so the MD samples the potential's own distribution wherever that is sound; where the potential
is wrong, frames pile up at the wall, and the reference labels (GFN2-xTB, without the wall)
show a model in training how wrong it was.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from equipot.data.melts import BOND_SLACK, CONTACT, bond_limit, contact_limit


class ContactWall(Calculator):
    """Harmonic walls: between atoms not bonded in the reference, and on its bonds (module docstring).

    Args:
        chain: (n,) chain index of each atom (``MeltCheck.chain``).
        bonds: the reference's bonded pairs {(i, j), i < j} (``MeltCheck.bonds``); None: pairs
            within a chain feel no wall.
        floor: the check's fraction of the contact distances (``MeltCheck.floor``).
        margin: Å the wall stands off from what the check rejects.
        bond_margin: Å a reference bond is held short of where the check calls it broken.
        k: spring constant, eV/Å^2.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(
        self,
        chain: np.ndarray,
        bonds: set[tuple[int, int]] | None = None,
        floor: float = 0.85,
        margin: float = 0.2,
        bond_margin: float = 0.1,
        k: float = 20.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.chain = np.asarray(chain)
        n = len(self.chain)
        # bonded pairs as sorted codes i * n + j, for a vectorised lookup
        self._bonded = None if bonds is None else np.sort([i * n + j for i, j in bonds]).astype(np.int64)
        self.floor, self.margin, self.bond_margin, self.k = floor, margin, bond_margin, k

    def r0(self, numbers_a: np.ndarray, numbers_b: np.ndarray, same_chain: np.ndarray | bool = False) -> np.ndarray:
        """Wall distance (Å) of pairs of atoms with these atomic numbers, elementwise."""
        bonded = bond_limit(numbers_a, numbers_b)
        contact = contact_limit(numbers_a > 1, numbers_b > 1)
        return np.where(same_chain, bonded, np.maximum(bonded, self.floor * contact)) + self.margin

    def __repr__(self) -> str:
        return (
            f"ContactWall({self.chain.max() + 1 if len(self.chain) else 0} chains, floor={self.floor}, "
            f"margin={self.margin} Å, bond_margin={self.bond_margin} Å, k={self.k} eV/Å^2)"
        )

    def _bonded_pairs(self, i: np.ndarray, j: np.ndarray, d: np.ndarray) -> np.ndarray:
        """Which pairs (i, j) at distances ``d`` are bonds of the reference (none without
        ``bonds``): of the periodic images of a bonded pair, the nearest one."""
        if self._bonded is None:
            return np.zeros(len(i), bool)
        codes = i.astype(np.int64) * len(self.chain) + j
        bonded = np.isin(codes, self._bonded)
        order = np.lexsort((d, codes))  # by pair, nearest image first
        first = np.zeros(len(i), bool)
        first[order[np.r_[True, codes[order][1:] != codes[order][:-1]]]] = True
        return bonded & first

    def calculate(self, atoms: Atoms | None = None, properties=("energy",), system_changes=all_changes) -> None:
        from ase.data import covalent_radii
        from ase.neighborlist import neighbor_list

        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        reach = (
            2 * (covalent_radii[atoms.numbers].max() + BOND_SLACK) + self.margin + self.floor * max(CONTACT.values())
        )
        i, j, d, vec = neighbor_list("ijdD", atoms, reach)  # vec = x_j - x_i (minimum image)
        upper = i < j
        i, j, d, vec = i[upper], j[upper], d[upper], vec[upper]
        bond = self._bonded_pairs(i, j, d)
        same = self.chain[i] == self.chain[j]
        if self._bonded is None:  # no bonds given: between chains only
            keep = ~same
            i, j, d, vec, bond, same = i[keep], j[keep], d[keep], vec[keep], bond[keep], same[keep]
        limit = self.r0(atoms.numbers[i], atoms.numbers[j], same)
        # a bond is held below where it would break, r0 - margin - bond_margin
        limit = np.where(bond, limit - self.margin - self.bond_margin, limit)
        sign = np.where(bond, 1.0, -1.0)  # stretched past the limit, or closer than it
        depth = sign * (d - limit)
        inside = depth > 0
        i, j, d, vec, depth, sign = i[inside], j[inside], d[inside], vec[inside], depth[inside], sign[inside]
        energy = 0.5 * self.k * float((depth**2).sum())
        # dE/dd = sign * k * depth; the force on j is -dE/dd * vec / d, on i the opposite
        pair = (-sign * self.k * depth / d)[:, None] * vec
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
    """``calculator`` plus the ``ContactWall`` of ``check``'s chains and bonds (a
    ``MeltCheck``): what drives MD that must not leave the configurations the check accepts."""
    from ase.calculators.mixing import SumCalculator

    return SumCalculator([calculator, ContactWall(check.chain, check.bonds, floor=check.floor)])
