"""Which explored frames to label: committee disagreement between two thresholds, de-duplicated.

DP-GEN's rule: a frame whose largest per-atom force disagreement u (eV/Å) is below ``lower``
the committee already agrees on, and labelling it teaches little; above ``upper`` the structure
is usually unphysical (the MD has already left the data far behind), and labelling it spends the
budget on a place the dynamics should never reach. Frames in [lower, upper) are candidates.

One excursion gives many such frames a few femtoseconds apart. Candidates are taken in order of
falling u (``order="uncertain"``), or in random order (``order="random"``, DP-GEN's choice:
every frame of the window is as likely, so the labels spread over the window instead of
piling up near ``upper``, where the first frames of an excursion sit); a candidate is skipped when its source run has already given ``max_per_run`` frames,
or when it is within ``min_change`` Å of a frame already taken, measured as the RMS change of
all interatomic distances (a rotation- and translation-free distance between two geometries of
the same molecule).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from equipot.errors import EquipotError


@dataclass
class Candidate:
    """One explored frame: ``numbers`` (n,), ``positions`` (n, 3) Å, ``uncertainty`` eV/Å (the
    largest per-atom committee force disagreement), the run it came from and its time there."""

    numbers: np.ndarray
    positions: np.ndarray
    uncertainty: float
    source: str
    time_ps: float


def distance_change(a: np.ndarray, b: np.ndarray) -> float:
    """RMS difference (Å) of all interatomic distances of two geometries (n, 3) of one molecule."""
    iu = np.triu_indices(len(a), 1)
    da = np.linalg.norm(a[:, None] - a[None], axis=-1)[iu]
    db = np.linalg.norm(b[:, None] - b[None], axis=-1)[iu]
    return float(np.sqrt(np.mean((da - db) ** 2))) if len(da) else 0.0


ORDERS = ("uncertain", "random")


def select(
    candidates: list[Candidate],
    *,
    lower: float,
    upper: float,
    max_frames: int,
    max_per_run: int | None = None,
    min_change: float = 0.0,
    order: str = "uncertain",
    seed: int = 0,
) -> list[int]:
    """Indices into ``candidates`` of the frames to label, in the order taken (see module);
    ``seed`` draws the random order."""
    if not 0 <= lower < upper:
        raise EquipotError(f"need 0 <= lower < upper (eV/Å), got lower={lower}, upper={upper}")
    if max_frames < 0:
        raise EquipotError(f"max_frames must be >= 0, got {max_frames}")
    if order not in ORDERS:
        raise EquipotError(f"order must be one of {ORDERS}, got {order!r}")
    window = [i for i, c in enumerate(candidates) if lower <= c.uncertainty < upper]
    if order == "uncertain":
        window.sort(key=lambda i: -candidates[i].uncertainty)
    else:
        window = [window[j] for j in np.random.default_rng(seed).permutation(len(window))]
    return _take(candidates, window, max_frames, max_per_run, min_change)


def _take(
    candidates: list[Candidate], order: list[int], max_frames: int, max_per_run: int | None, min_change: float
) -> list[int]:
    """The first ``max_frames`` of ``order`` that keep the per-run cap and the distance."""
    taken: list[int] = []
    per_run: dict[str, int] = {}
    for i in order:
        if len(taken) >= max_frames:
            break
        c = candidates[i]
        if max_per_run is not None and per_run.get(c.source, 0) >= max_per_run:
            continue
        if min_change > 0 and any(
            np.array_equal(candidates[j].numbers, c.numbers)
            and distance_change(candidates[j].positions, c.positions) < min_change
            for j in taken
        ):
            continue
        taken.append(i)
        per_run[c.source] = per_run.get(c.source, 0) + 1
    return taken


def committee_uncertainty(models, candidates_atoms, batch_size: int = 16) -> np.ndarray:
    """(F,) largest per-atom force disagreement (``force_disagreement``, eV/Å) of a committee of
    ``Potential``s on frames given as ``ase.Atoms``, computed in batches of ``batch_size``."""
    import torch

    from equipot.data.graph import AtomicGraph, collate
    from equipot.evaluator import Evaluator, force_disagreement

    if len(models) < 2:
        raise EquipotError("committee disagreement needs at least two models")
    committee = Evaluator(
        models, device=next(models[0].parameters()).device, dtype=next(models[0].parameters()).dtype, workers=1
    )
    out = []
    for start in range(0, len(candidates_atoms), batch_size):
        chunk = candidates_atoms[start : start + batch_size]
        graph = collate([AtomicGraph.from_atoms(a, committee.cutoff, dtype=committee.dtype) for a in chunk])
        graph = graph.to(committee.device, committee.dtype)
        spread = force_disagreement(torch.stack([o["forces"] for o in committee(graph)]))  # (N,)
        per_frame = spread.new_zeros(graph.num_graphs).scatter_reduce(
            0, graph.batch, spread, reduce="amax", include_self=False
        )
        out.append(per_frame.cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def candidates_state(candidates: list[Candidate], stability: list[dict]):
    """Candidates (and the MD runs' stability records) as a ``RestartState`` for one .npz."""
    from equipot.dynamics.restart import RestartState

    arrays = {}
    for i, c in enumerate(candidates):
        arrays[f"numbers{i}"], arrays[f"positions{i}"] = c.numbers, c.positions
    meta = {
        "stability": stability,
        "uncertainty": [c.uncertainty for c in candidates],
        "source": [c.source for c in candidates],
        "time_ps": [c.time_ps for c in candidates],
    }
    return RestartState(arrays, meta)


def candidates_from(state) -> list[Candidate]:
    """The candidates ``candidates_state`` saved."""
    m = state.meta
    return [
        Candidate(
            state.arrays[f"numbers{i}"],
            state.arrays[f"positions{i}"],
            float(m["uncertainty"][i]),
            m["source"][i],
            float(m["time_ps"][i]),
        )
        for i in range(len(m["source"]))
    ]


def calibrated_lower(config, store_path, initial_frames: int, models: list[str]) -> tuple[float, list[int]]:
    """``lower: auto``: the ``lower_quantile`` quantile of the committee's disagreement on
    the validation frames among the store's starting frames (all starting frames when the
    committee was given, not trained here), at most 500 of them; and their store indices.

    Frames the loop labelled are left out even when they fall in the validation split: they
    were chosen because an earlier committee disagreed on them, so they sit in the tail of
    the distribution and would drive the quantile up round by round, until the loop selects
    nothing."""
    from equipot.checkpoint import load_model
    from equipot.data.splits import load_splits, splits_path
    from equipot.data.store import FrameStore

    c = config
    split = splits_path(store_path)
    with FrameStore(store_path) as store:
        indices = load_splits(split)["val"].tolist() if split.is_file() else list(range(len(store)))
        indices = [i for i in indices if i < initial_frames]
        if len(indices) > 500:
            indices = np.random.default_rng(c.seed).choice(indices, 500, replace=False).tolist()
        indices = [int(i) for i in indices]
        atoms = [store[i].to_atoms() for i in indices]
    if not atoms:
        raise EquipotError(
            "lower: auto needs validation frames among the starting frames: give the committee "
            "a val_size or start from more frames"
        )
    committee = [load_model(m, dtype=c.dtype) for m in models]
    lower = float(np.quantile(committee_uncertainty(committee, atoms), c.lower_quantile))
    if lower >= c.upper:
        raise EquipotError(
            f"the committee disagrees by {lower:.3f} eV/Å (quantile {c.lower_quantile}) on its "
            f"own validation frames, not below upper={c.upper}: raise upper or train it longer"
        )
    return lower, indices
