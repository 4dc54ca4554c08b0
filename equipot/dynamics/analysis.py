"""Trajectory analysis: energy drift, distance distribution h(r), chain shape."""

from __future__ import annotations

import numpy as np


def energy_drift(time_ps, total_energy_eV, n_atoms: int) -> dict[str, float]:
    """Least-squares slope of the total energy (meV/atom/ps) and its fluctuation (meV/atom)."""
    t = np.asarray(time_ps, float)
    e = np.asarray(total_energy_eV, float) * 1000 / n_atoms
    if len(t) < 2:
        return {"drift_meV_per_atom_per_ps": float("nan"), "fluctuation_meV_per_atom": float("nan")}
    slope, intercept = np.polyfit(t, e, 1)
    return {"drift_meV_per_atom_per_ps": float(slope),
            "fluctuation_meV_per_atom": float(np.std(e - (slope * t + intercept))),
            "max_abs_deviation_meV_per_atom": float(np.abs(e - e[0]).max())}


def distance_histogram(positions: np.ndarray, bins: int = 500, r_max: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    """h(r) of Fu et al.: normalised histogram of all interatomic distances over frames.

    positions (T, n, 3) or (n, 3); returns (bin centres (bins,), h (bins,)) with sum(h) * dr = 1.
    """
    pos = np.asarray(positions, float)
    pos = pos[None] if pos.ndim == 2 else pos
    i, j = np.triu_indices(pos.shape[1], 1)
    d = np.linalg.norm(pos[:, i] - pos[:, j], axis=-1).reshape(-1)
    h, edges = np.histogram(d, bins=bins, range=(0.0, r_max), density=True)
    return 0.5 * (edges[1:] + edges[:-1]), h


def distance_histogram_error(positions, reference_positions, bins: int = 500, r_max: float = 10.0) -> float:
    """Fu et al.'s h(r) error: the mean over bins of |h - h_ref|, times 10, with both
    histograms normalised on (0, 10] Å in 500 bins."""
    _, h = distance_histogram(positions, bins, r_max)
    _, h_ref = distance_histogram(reference_positions, bins, r_max)
    return float(np.abs(h - h_ref).mean() * 10)


def radius_of_gyration(positions: np.ndarray, masses: np.ndarray | None = None) -> np.ndarray:
    """Rg (Å) of each frame; positions (..., n, 3)."""
    pos = np.asarray(positions, float)
    w = np.ones(pos.shape[-2]) if masses is None else np.asarray(masses, float)
    centre = (pos * w[:, None]).sum(-2, keepdims=True) / w.sum()
    return np.sqrt((((pos - centre) ** 2).sum(-1) * w).sum(-1) / w.sum())


def end_to_end(positions: np.ndarray, first: int, last: int) -> np.ndarray:
    """Distance (Å) between two chain-end atoms in each frame."""
    pos = np.asarray(positions, float)
    return np.linalg.norm(pos[..., last, :] - pos[..., first, :], axis=-1)
