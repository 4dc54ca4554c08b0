"""Trajectory analysis: NVE energy drift, distance distribution h(r), chain shape."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np

from equipot.errors import EquipotError


def energy_drift(time_ps: Sequence[float], etot_eV: Sequence[float], n_atoms: int) -> dict[str, float]:
    """NVE total-energy drift, per atom.

    Returns ``slope_meV_per_atom_per_ps`` (least-squares slope of E_tot/N against time),
    ``fluctuation_meV_per_atom`` (std of the residual about that line) and
    ``max_abs_dev_meV_per_atom`` (largest |E_tot(t) - E_tot(0)| / N). NaN with < 2 points.
    """
    t = np.asarray(time_ps, float)
    if n_atoms < 1:
        raise EquipotError(f"n_atoms must be at least 1, got {n_atoms}")
    e = np.asarray(etot_eV, float) * 1000.0 / n_atoms  # meV/atom
    if t.shape != e.shape or t.ndim != 1:
        raise EquipotError(f"time_ps and etot_eV must be 1-D of equal length, got {t.shape} and {e.shape}")
    nan = float("nan")
    if len(t) < 2 or np.ptp(t) == 0:
        return {"slope_meV_per_atom_per_ps": nan, "fluctuation_meV_per_atom": nan, "max_abs_dev_meV_per_atom": nan}
    slope, intercept = np.polyfit(t, e, 1)
    return {
        "slope_meV_per_atom_per_ps": float(slope),
        "fluctuation_meV_per_atom": float(np.std(e - (slope * t + intercept))),
        "max_abs_dev_meV_per_atom": float(np.abs(e - e[0]).max()),
    }


def _as_frames(positions) -> np.ndarray:
    """(T, n, 3) float array from (n, 3), (T, n, 3) or a list of Atoms."""
    if not isinstance(positions, np.ndarray) and len(positions) and hasattr(positions[0], "positions"):
        positions = np.stack([a.positions for a in positions])
    pos = np.asarray(positions, float)
    pos = pos[None] if pos.ndim == 2 else pos
    if pos.ndim != 3 or pos.shape[-1] != 3:
        raise EquipotError(f"positions must be (n, 3), (T, n, 3) or a list of Atoms, got shape {pos.shape}")
    return pos


def distance_histogram(positions, bins: int = 500, r_max: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    """h(r) of Fu et al. (TMLR 2023): the normalised histogram of all interatomic distances
    (each pair once, pooled over frames) on (0, r_max] Å, as a density: sum(h) * dr = 1 (1/Å).

    positions: (n, 3), (T, n, 3) or a list of Atoms; distances have no periodic images.
    Returns (bin centres (bins,) Å, h (bins,) 1/Å); h is all zeros if no distance is in range.
    """
    pos = _as_frames(positions)
    if pos.shape[1] < 2:
        raise EquipotError("h(r) needs at least two atoms")
    i, j = np.triu_indices(pos.shape[1], 1)
    d = np.linalg.norm(pos[:, i] - pos[:, j], axis=-1).reshape(-1)
    d = d[(d > 0) & (d <= r_max)]  # the half-open range (0, r_max]
    edges = np.linspace(0.0, r_max, bins + 1)
    counts, _ = np.histogram(d, bins=edges)
    total = counts.sum()
    h = counts / (total * np.diff(edges)) if total else np.zeros(bins)
    return 0.5 * (edges[1:] + edges[:-1]), h


def distance_histogram_error(positions, reference_positions, bins: int = 500, r_max: float = 10.0) -> float:
    """Fu et al.'s h(r) error: mean over bins of |h - h_ref| times r_max (10 Å by default),
    i.e. the integral of |h - h_ref| dr, between 0 (identical) and 2 (disjoint)."""
    _, h = distance_histogram(positions, bins, r_max)
    _, h_ref = distance_histogram(reference_positions, bins, r_max)
    return float(np.abs(h - h_ref).mean() * r_max)


def radius_of_gyration(positions, masses: Sequence[float] | None = None) -> np.ndarray:
    """Radius of gyration (Å) of each frame, positions (..., n, 3); mass-weighted if masses
    (n,) are given, else every atom counts the same."""
    pos = np.asarray(positions, float)
    w = np.ones(pos.shape[-2]) if masses is None else np.asarray(masses, float)
    if w.shape != (pos.shape[-2],):
        raise EquipotError(f"masses must have shape ({pos.shape[-2]},), got {w.shape}")
    centre = (pos * w[:, None]).sum(-2, keepdims=True) / w.sum()
    return np.sqrt((((pos - centre) ** 2).sum(-1) * w).sum(-1) / w.sum())


def end_to_end(positions, first: int, last: int) -> np.ndarray:
    """Distance (Å) between the chain-end atoms ``first`` and ``last`` in each frame."""
    pos = np.asarray(positions, float)
    n = pos.shape[-2]
    for k in (first, last):
        if not -n <= k < n:
            raise EquipotError(f"end atom index {k} out of range for {n} atoms")
    return np.linalg.norm(pos[..., last, :] - pos[..., first, :], axis=-1)


def chain_ends(atoms) -> tuple[int, int]:
    """The two heavy atoms furthest apart along the bond graph: the ends of the backbone."""
    from equipot.dynamics.monitors import bonds_of

    heavy = set(np.flatnonzero(atoms.numbers > 1).tolist())
    graph: dict[int, list[int]] = {i: [] for i in heavy}
    for i, j in bonds_of(atoms):
        if i in heavy and j in heavy:
            graph[i].append(j)
            graph[j].append(i)

    def farthest(start: int) -> int:
        seen, queue, last = {start}, deque([start]), start
        while queue:
            last = queue.popleft()
            for k in graph[last]:
                if k not in seen:
                    seen.add(k)
                    queue.append(k)
        return last

    a = farthest(min(heavy))
    return a, farthest(a)
