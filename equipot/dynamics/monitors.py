"""Stability monitors that run during MD and stop it with a reason (Fu et al., TMLR 2023).

Each monitor has a ``name`` and ``check(atoms, step, time_ps) -> str | None``: a reason when
the trajectory has failed, else None. The checks themselves are functions of arrays, so the
batched replica driver uses the same code through ``ase.Atoms`` views of each replica.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms


def bonds_of(atoms: Atoms, mult: float = 1.0) -> np.ndarray:
    """Bonded pairs (B, 2), i < j, in this frame: ASE's ``NeighborList`` on natural cutoffs
    (covalent radii) with its default 0.3 Å skin, as Fu et al. built their bond lists (plain
    covalent-radius sums miss C-H bonds, 1.09 Å against 0.76 + 0.31 Å)."""
    from ase.neighborlist import NeighborList, natural_cutoffs

    nl = NeighborList(natural_cutoffs(atoms, mult=mult), self_interaction=False, bothways=False)
    nl.update(atoms)
    pairs = [(i, j) for i in range(len(atoms)) for j, offset in zip(*nl.get_neighbors(i)) if not offset.any()]
    return np.array(sorted((min(p), max(p)) for p in pairs), dtype=int).reshape(-1, 2)


def bond_lengths(positions: np.ndarray, bonds: np.ndarray) -> np.ndarray:
    """(..., B) lengths of ``bonds`` for positions (..., n, 3) (no periodic images)."""
    return np.linalg.norm(positions[..., bonds[:, 0], :] - positions[..., bonds[:, 1], :], axis=-1)


def reference_bond_lengths(frames, bonds: np.ndarray) -> np.ndarray:
    """Mean bond lengths over a reference trajectory (list of Atoms or (T, n, 3) array)."""
    pos = np.stack([f.positions for f in frames]) if not isinstance(frames, np.ndarray) else frames
    return bond_lengths(pos, bonds).mean(axis=0)


class BondStability:
    """Unstable at the first frame where any bond deviates more than ``max_deviation`` Å from
    its reference length: the mean over a reference trajectory if given, else its length in
    the first frame checked. Bonds are those of the first frame (ASE natural cutoffs)."""

    name = "bond"

    def __init__(self, max_deviation: float = 0.5, reference_lengths: np.ndarray | None = None,
                 bonds: np.ndarray | None = None) -> None:
        self.max_deviation = max_deviation
        self.reference = reference_lengths
        self.bonds = bonds

    def check(self, atoms: Atoms, step: int, time_ps: float) -> str | None:
        if self.bonds is None:
            self.bonds = bonds_of(atoms)
        if self.reference is None:
            self.reference = bond_lengths(atoms.positions, self.bonds)
        if len(self.bonds) == 0:
            return None
        dev = np.abs(bond_lengths(atoms.positions, self.bonds) - self.reference)
        k = int(np.argmax(dev))
        if dev[k] > self.max_deviation:
            i, j = self.bonds[k]
            return f"bond {i}-{j} deviates {dev[k]:.2f} Å from {self.reference[k]:.2f} Å"
        return None


class TemperatureBlowup:
    """Instantaneous temperature above ``max_K``."""

    name = "temperature"

    def __init__(self, max_K: float) -> None:
        self.max_K = max_K

    def check(self, atoms: Atoms, step: int, time_ps: float) -> str | None:
        t = atoms.get_temperature()
        return f"temperature {t:.0f} K above {self.max_K:.0f} K" if not t <= self.max_K else None


class ForceSanity:
    """Non-finite forces or any |F| above ``max_force`` eV/Å."""

    name = "forces"

    def __init__(self, max_force: float = 50.0) -> None:
        self.max_force = max_force

    def check(self, atoms: Atoms, step: int, time_ps: float) -> str | None:
        f = atoms.get_forces()
        if not np.all(np.isfinite(f)):
            return "non-finite forces"
        biggest = float(np.linalg.norm(f, axis=1).max())
        return f"force {biggest:.1f} eV/Å above {self.max_force} eV/Å" if biggest > self.max_force else None


class MinDistance:
    """Two atoms closer than ``min_distance`` Å."""

    name = "distance"

    def __init__(self, min_distance: float = 0.5) -> None:
        self.min_distance = min_distance

    def check(self, atoms: Atoms, step: int, time_ps: float) -> str | None:
        if len(atoms) < 2:
            return None
        d = atoms.get_all_distances(mic=bool(atoms.pbc.any()))
        d[np.diag_indices_from(d)] = np.inf
        i, j = np.unravel_index(np.argmin(d), d.shape)
        return f"atoms {i} and {j} at {d[i, j]:.2f} Å" if d[i, j] < self.min_distance else None


class Uncertainty:
    """Committee force disagreement above ``threshold`` eV/Å on any atom (active learning)."""

    name = "uncertainty"

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def check(self, atoms: Atoms, step: int, time_ps: float) -> str | None:
        results = getattr(atoms.calc, "results", {})
        if "force_uncertainty" not in results:
            raise ValueError("Uncertainty monitor needs a committee calculator (several models)")
        u = float(np.max(results["force_uncertainty"]))
        return f"force disagreement {u:.3f} eV/Å above {self.threshold}" if u > self.threshold else None


def default_monitors(temperature_K: float) -> list:
    """The checks every run gets: bonds (0.5 Å), 5x temperature, forces, 0.5 Å contacts."""
    return [BondStability(0.5), TemperatureBlowup(max(5 * temperature_K, 1000.0)), ForceSanity(), MinDistance(0.5)]
