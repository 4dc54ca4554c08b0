"""The geometry behind the stability monitors: bond lists from covalent radii, bond lengths
and their deviation from a reference, contact pairs, the largest force. The array functions
take one frame (n, 3) or a stack of frames (T, n, 3) and return one value per frame."""

from __future__ import annotations

import numpy as np
from ase import Atoms

from equipot.errors import EquipotError

# ----------------------------------------------------------------------------- array checks


def bond_lengths(positions: np.ndarray, bonds: np.ndarray) -> np.ndarray:
    """Lengths (..., B) in Å of ``bonds`` (B, 2) for positions (..., n, 3); no periodic images."""
    positions = np.asarray(positions, float)
    bonds = np.asarray(bonds, int).reshape(-1, 2)
    return np.linalg.norm(positions[..., bonds[:, 0], :] - positions[..., bonds[:, 1], :], axis=-1)


def bond_deviation(positions: np.ndarray, bonds: np.ndarray, reference_lengths: np.ndarray) -> np.ndarray:
    """Largest |length - reference| (Å) over all bonds: a scalar for (n, 3), (R,) for (R, n, 3)."""
    if len(bonds) == 0:
        return np.zeros(np.asarray(positions).shape[:-2])
    return np.abs(bond_lengths(positions, bonds) - reference_lengths).max(axis=-1)


def max_force_norm(forces: np.ndarray) -> np.ndarray:
    """Largest per-atom |F| (eV/Å) of each frame; inf when any component is not finite."""
    f = np.asarray(forces, float)
    norm = np.linalg.norm(f, axis=-1).max(axis=-1)
    return np.where(np.isfinite(f).all(axis=(-1, -2)), norm, np.inf)


# ------------------------------------------------------------------------------- bond lists


def bonds_of(atoms: Atoms, mult: float = 1.0) -> np.ndarray:
    """Bonded pairs (B, 2), i < j, in this frame: ASE's ``NeighborList`` on natural cutoffs
    (covalent radii) with its default 0.3 Å skin, as Fu et al. built their bond lists (plain
    covalent-radius sums miss C-H bonds, 1.09 Å against 0.76 + 0.31 Å). Only bonds within the
    cell image are kept, since ``bond_lengths`` does not apply periodic shifts."""
    from ase.neighborlist import NeighborList, natural_cutoffs

    nl = NeighborList(natural_cutoffs(atoms, mult=mult), self_interaction=False, bothways=False)
    nl.update(atoms)
    pairs = {
        (min(i, j), max(i, j))
        for i in range(len(atoms))
        for j, offset in zip(*nl.get_neighbors(i))
        if not np.any(offset)
    }
    return np.array(sorted(pairs), dtype=int).reshape(-1, 2)


def contact_pairs(atoms: Atoms) -> np.ndarray:
    """(P, 2) pairs i < j of non-hydrogen atoms more than two bonds apart in ``atoms`` (bonds
    from ``bonds_of``). Pairs one or two bonds apart (C-O, O-C-O) are left out: their distance
    is fixed by bonds and angles, which the bond criterion already watches."""
    adjacent = np.eye(len(atoms), dtype=int)
    for i, j in bonds_of(atoms).tolist():
        adjacent[i, j] = adjacent[j, i] = 1
    within_two = (adjacent @ adjacent) > 0
    heavy = np.flatnonzero(atoms.numbers > 1)
    pairs = [(i, j) for k, i in enumerate(heavy) for j in heavy[k + 1 :] if not within_two[i, j]]
    return np.array(pairs, dtype=int).reshape(-1, 2)


def reference_bond_lengths(frames, bonds: np.ndarray) -> np.ndarray:
    """Mean length (Å) of each bond over a reference trajectory: a list of Atoms or (T, n, 3)."""
    pos = frames if isinstance(frames, np.ndarray) else np.stack([f.positions for f in frames])
    if pos.ndim != 3:
        raise EquipotError(f"reference frames must be (T, n, 3), got shape {pos.shape}")
    return bond_lengths(pos, bonds).mean(axis=0)
