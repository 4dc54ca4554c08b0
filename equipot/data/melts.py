"""Periodic polymer melts: oligomer chains packed into a cubic box at a given density.

The packer inserts chains one at a time, largest first, each with a uniformly random
orientation and position, and rejects an insertion that brings any atom closer than a contact
distance to an atom already placed or to a periodic image of the chain itself:

    d(i, j) >= contact[heavy or H, heavy or H]   for every pair, minimum image

(2.0 Å between heavy atoms, 1.6 Å with hydrogen, 1.4 Å between hydrogens by default, about the
tolerance packmol uses). Chains keep the conformer they were built with: packing at melt density
works for short oligomers; ``equipot.dynamics.compress`` brings a looser box to density by MD.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from equipot.errors import EquipotError

AMU_A3_PER_G_CM3 = 1.66053906660  # (g/mol per Å^3) / (g/cm^3): volume of 1 amu at 1 g/cm^3, Å^3
CONTACT = {"heavy-heavy": 2.0, "heavy-H": 1.6, "H-H": 1.4}
CONTACT_KINDS = ("H-H", "heavy-H", "heavy-heavy")  # by the number of heavy atoms in the pair
BOND_SLACK = 0.15  # Å added to each atom's covalent radius: a pair within the sum is bonded

# Amorphous densities of the polymers near room temperature, g/cm^3 (by short family name): the
# density a melt is built at, scaled by a factor for other densities and temperatures.
AMORPHOUS_DENSITY = {
    "pe": 0.86,
    "pp": 0.85,
    "peo": 1.13,
    "pvc": 1.39,
    "ps": 1.05,
    "pmma": 1.18,
    "nylon6": 1.08,
    "pet": 1.33,
    "pan": 1.18,
    "pva": 1.26,
}


def box_side(chains: list[Atoms], density_g_cm3: float) -> float:
    """Side (Å) of the cube that holds ``chains`` at ``density_g_cm3``."""
    if density_g_cm3 <= 0:
        raise EquipotError(f"density must be positive, got {density_g_cm3} g/cm^3")
    mass = sum(float(c.get_masses().sum()) for c in chains)
    return (mass * AMU_A3_PER_G_CM3 / density_g_cm3) ** (1 / 3)


def box_density(box: Atoms) -> float:
    """Mass density of a periodic box, g/cm^3."""
    return float(box.get_masses().sum()) * AMU_A3_PER_G_CM3 / box.get_volume()


def pack_chains(
    chains: list[Atoms],
    density_g_cm3: float,
    *,
    seed: int = 0,
    contact: dict[str, float] | None = None,
    attempts: int = 5000,
) -> Atoms:
    """One periodic cubic box of ``chains`` at ``density_g_cm3`` (g/cm^3), no contact closer than
    ``contact`` (keys as ``CONTACT``), chains whole (not wrapped) in the order given.

    Raises ``EquipotError`` when a chain finds no place in ``attempts`` tries: the density is
    too high for rigid insertion (pack lower and compress by MD) or a chain is longer than the
    box allows."""
    if not chains:
        raise EquipotError("give at least one chain to pack")
    limits = {**CONTACT, **(contact or {})}
    side = box_side(chains, density_g_cm3)
    rng = np.random.default_rng(seed)
    order = sorted(range(len(chains)), key=lambda k: -len(chains[k]))
    placed = [None] * len(chains)
    positions = np.zeros((0, 3))
    heavy = np.zeros(0, bool)
    for k in order:
        chain = chains[k]
        local = chain.positions - chain.positions.mean(axis=0)
        chain_heavy = chain.numbers > 1
        for _ in range(attempts):
            turned = local @ _random_rotation(rng).T
            trial = turned + rng.uniform(0, side, 3)
            if _fits_own_images(turned, chain_heavy, side, limits) and _clear(
                trial, chain_heavy, positions, heavy, side, limits
            ):
                break
        else:
            raise EquipotError(
                f"no room for chain {k} ({chain.get_chemical_formula()}) in a {side:.1f} Å box after "
                f"{attempts} tries at {density_g_cm3} g/cm^3: pack at a lower density and compress by MD, "
                "or use shorter chains"
            )
        placed[k] = trial
        positions = np.concatenate([positions, trial])
        heavy = np.concatenate([heavy, chain_heavy])
    numbers = np.concatenate([c.numbers for c in chains])
    box = Atoms(numbers=numbers, positions=np.concatenate(placed), cell=np.eye(3) * side, pbc=True)
    box.arrays["chain"] = np.concatenate([np.full(len(c), k) for k, c in enumerate(chains)])
    return box


def closest_contact(box: Atoms, limits: dict[str, float] | None = None) -> float:
    """The smallest d(i, j) / contact(i, j) over pairs of atoms on different chains (minimum
    image; ``box.arrays["chain"]`` as ``pack_chains`` sets it): 1 or more when every contact
    keeps its distance, and inf when no such pair is within the largest contact distance."""
    from ase.neighborlist import neighbor_list

    limits = {**CONTACT, **(limits or {})}
    i, j, d = neighbor_list("ijd", box, max(limits.values()))
    chain = box.arrays["chain"]
    other = chain[i] != chain[j]
    if not other.any():
        return float("inf")
    heavy = box.numbers > 1
    i, j, d = i[other], j[other], d[other]
    return float((d / contact_limit(heavy[i], heavy[j], limits)).min())


def bond_set(atoms: Atoms) -> set[tuple[int, int]]:
    """Bonded pairs {(i, j), i < j} of a frame, across periodic boundaries: atoms within the sum
    of their covalent radii plus 0.3 Å (the criterion of ``equipot.dynamics.bonds.bonds_of``,
    which sees C-H at 1.09 Å and leaves H...H above 0.92 Å unbonded)."""
    from ase.neighborlist import natural_cutoffs, neighbor_list

    i, j = neighbor_list("ij", atoms, [r + BOND_SLACK for r in natural_cutoffs(atoms)])
    return {(int(a), int(b)) for a, b in zip(i, j) if a < b}


def molecule_ids(atoms: Atoms, bonds: set[tuple[int, int]] | None = None) -> np.ndarray:
    """(n,) index of the molecule (connected component of ``bonds``, default ``bond_set``) that
    each atom belongs to, numbered in order of first atom."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    pairs = np.array(sorted(bond_set(atoms) if bonds is None else bonds), int).reshape(-1, 2)
    n = len(atoms)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def closest_contacts(atoms: Atoms, chain: np.ndarray, cutoff: float = 4.0) -> dict[str, float]:
    """Closest distance (Å, minimum image) between atoms of different chains, per pair kind
    ("H-H", "heavy-H", "heavy-heavy"); inf for a kind with no pair within ``cutoff``."""
    from ase.neighborlist import neighbor_list

    i, j, d = neighbor_list("ijd", atoms, cutoff)
    other = chain[i] != chain[j]
    heavy = atoms.numbers > 1
    kind = heavy[i[other]].astype(int) + heavy[j[other]].astype(int)
    d = d[other]
    return {
        name: float(d[kind == k].min()) if (kind == k).any() else float("inf") for k, name in enumerate(CONTACT_KINDS)
    }


class MeltCheck:
    """Whether a melt frame still holds the chains it started with.

    A frame fails when a bond was made or broken (``bond_set`` against the reference box's)
    or when atoms of two chains come closer than ``floor`` times their contact distance
    (``CONTACT``): both mark configurations the MD potential reached but a melt at these
    temperatures does not visit (a potential trained on isolated chains lets hydrogens of two
    chains overlap, and may join two Cl atoms). Calling it returns None for a good frame, else
    what failed, so that a generator stops before labelling such a frame."""

    def __init__(self, reference: Atoms, floor: float = 0.85):
        self.bonds = bond_set(reference)
        self.chain = molecule_ids(reference, self.bonds)
        self.floor = floor

    def __call__(self, atoms: Atoms) -> str | None:
        bonds = bond_set(atoms)
        if bonds != self.bonds:
            made, broken = sorted(bonds - self.bonds), sorted(self.bonds - bonds)
            return f"bonds made {_named(atoms, made)}, broken {_named(atoms, broken)}"
        closest = closest_contacts(atoms, self.chain)
        short = {k: d for k, d in closest.items() if d < self.floor * CONTACT[k]}
        if short:
            parts = ", ".join(f"{k} {d:.2f} Å < {self.floor * CONTACT[k]:.2f}" for k, d in short.items())
            return f"chains in contact closer than {self.floor} of their contact distance: {parts}"
        return None

    def __repr__(self) -> str:
        return f"MeltCheck({len(self.bonds)} bonds, {self.chain.max() + 1} chains, floor={self.floor})"


def _named(atoms: Atoms, pairs: list[tuple[int, int]]) -> str:
    symbols = atoms.get_chemical_symbols()
    return (
        "["
        + ", ".join(f"{symbols[i]}{i}-{symbols[j]}{j}" for i, j in pairs[:4])
        + (", ...]" if len(pairs) > 4 else "]")
    )


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A rotation matrix drawn uniformly from SO(3) (a normalised Gaussian quaternion)."""
    w, x, y, z = (q := rng.normal(size=4)) / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def bond_limit(numbers_a: np.ndarray, numbers_b: np.ndarray) -> np.ndarray:
    """Distance (Å) below which ``bond_set`` calls pairs of these atomic numbers bonded,
    elementwise: the sum of their covalent radii plus 2 * BOND_SLACK."""
    from ase.data import covalent_radii

    return covalent_radii[numbers_a] + covalent_radii[numbers_b] + 2 * BOND_SLACK


def contact_limit(heavy_a: np.ndarray, heavy_b: np.ndarray, limits: dict[str, float] = CONTACT) -> np.ndarray:
    """Contact distance (Å) of pairs (a, b), elementwise (broadcast for every pair), from
    whether each end is a heavy atom."""
    both, either = heavy_a & heavy_b, heavy_a ^ heavy_b
    return np.where(both, limits["heavy-heavy"], np.where(either, limits["heavy-H"], limits["H-H"]))


def _clear(trial, trial_heavy, positions, heavy, side: float, limits) -> bool:
    """Whether ``trial`` keeps its contact distances from every atom placed (minimum image)."""
    if not len(positions):
        return True
    d = trial[:, None, :] - positions[None, :, :]
    d -= side * np.round(d / side)
    return bool(
        (np.einsum("ijk,ijk->ij", d, d) >= contact_limit(trial_heavy[:, None], heavy[None, :], limits) ** 2).all()
    )


def _fits_own_images(local, chain_heavy, side: float, limits) -> bool:
    """Whether a chain keeps its contact distances from its own periodic images."""
    d = local[:, None, :] - local[None, :, :]
    shifted = d - side * np.round(d / side)
    image = np.abs(shifted - d).max(axis=-1) > 1e-9  # pairs whose nearest copy is an image
    close = (
        np.einsum("ijk,ijk->ij", shifted, shifted)
        < contact_limit(chain_heavy[:, None], chain_heavy[None, :], limits) ** 2
    )
    return not (image & close).any()
