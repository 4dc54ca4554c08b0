"""Train/validation/test splits by frame index, seeded and saved next to the data."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from equipot.errors import EquipotError


def make_splits(n_frames: int, sizes: dict[str, int | float], seed: int) -> dict[str, np.ndarray]:
    """Disjoint random index sets. A size < 1 is a fraction of ``n_frames``, else a count.

    Fractions are rounded one by one; where that rounds a total of at most 1 up past
    ``n_frames`` (0.9 and 0.1 of 175 are 157.5 and 17.5), they are rounded by their running sum
    instead, so fractions that fit always fit (splits that already did are unchanged)."""
    counts = {k: int(round(v * n_frames)) if 0 < v < 1 else int(v) for k, v in sizes.items()}
    fractions = {k: v for k, v in sizes.items() if 0 < v < 1}
    whole = sum(int(v) for v in sizes.values() if not 0 < v < 1)
    if sum(counts.values()) > n_frames and sum(fractions.values()) * n_frames + whole <= n_frames + 1e-9:
        edges = np.round(np.cumsum([0.0, *fractions.values()]) * n_frames).astype(int)
        counts.update(zip(fractions, np.diff(edges).tolist()))
    if sum(counts.values()) > n_frames:
        raise EquipotError(f"split sizes {counts} add up to more than the {n_frames} frames")
    order = np.random.default_rng(seed).permutation(n_frames)
    out, start = {}, 0
    for name, count in counts.items():
        out[name] = np.sort(order[start : start + count])
        start += count
    return out


def grown_splits(
    n_frames: int, sizes: dict[str, int | float], seed: int, stages: list[int] | tuple[int, ...] = ()
) -> dict[str, np.ndarray]:
    """``make_splits`` of a store that grew: no frame changes split as frames are appended.

    ``stages`` are the store's earlier lengths at which it was split (non-decreasing, at most
    ``n_frames``). The first ``stages[0]`` frames keep ``make_splits(stages[0], sizes, seed)``;
    the frames appended in each later stretch are split among themselves in the same
    fractions (seed ``seed + j`` for the j-th stretch). Without ``stages`` this is
    ``make_splits``. Fractions only: a count would not say how to split a stretch.
    """
    if not stages:
        return make_splits(n_frames, sizes, seed)
    edges = [int(x) for x in stages] + [int(n_frames)]
    if any(b < a for a, b in zip(edges, edges[1:])) or edges[0] < 1:
        raise EquipotError(f"split stages {list(stages)} must not decrease nor exceed the {n_frames} frames")
    if any(v >= 1 for v in sizes.values()):
        raise EquipotError(f"a split that grows with its store needs fractional sizes, got {sizes}")
    parts = [make_splits(edges[0], sizes, seed)]
    for j, (start, stop) in enumerate(zip(edges, edges[1:]), start=1):
        parts.append({k: v + start for k, v in make_splits(stop - start, sizes, seed + j).items()})
    return {k: np.concatenate([p[k] for p in parts]) for k in sizes}


def splits_path(data_path: str | Path) -> Path:
    return Path(str(data_path) + ".splits.json")


def save_splits(path: str | Path, splits: dict[str, np.ndarray], seed: int) -> None:
    """Written whole (``atomic_open``), so a run reading it meanwhile (two trainings on the
    same data) never sees half a file."""
    from equipot.files import atomic_open

    payload = {"seed": seed, **{k: np.asarray(v).tolist() for k, v in splits.items()}}
    with atomic_open(path, "w") as fh:
        fh.write(json.dumps(payload))


def load_splits(path: str | Path) -> dict[str, np.ndarray]:
    data = json.loads(Path(path).read_text())
    data.pop("seed", None)
    return {k: np.asarray(v, dtype=np.int64) for k, v in data.items()}


def load_or_make_splits(
    data_path: str | Path,
    n_frames: int,
    sizes: dict[str, int | float],
    seed: int,
    stages: list[int] | tuple[int, ...] = (),
    differing: list | None = None,
) -> dict[str, np.ndarray]:
    """The splits for ``sizes``, ``seed`` and ``stages`` (``grown_splits``), saved next to the
    data unless a different split is already saved there (or the folder is read-only).

    A different saved split is left alone: another run on the same data made it, and
    ``equipot eval --split`` may still need it. Each checkpoint records its own split
    (sizes and seed in its training config), which ``equipot eval`` re-draws. Meeting one
    warns, or, given a ``differing`` list, appends the saved file's path to it (a caller
    with many files says so once).
    """
    path = splits_path(data_path)
    wanted = grown_splits(n_frames, sizes, seed, stages)
    if path.is_file():
        saved = load_splits(path)
        if set(saved) == set(wanted) and all(np.array_equal(saved[k], wanted[k]) for k in wanted):
            return saved
        if differing is not None:
            differing.append(path)
        else:
            warnings.warn(
                f"{path} holds a different split (other sizes or seed); this run draws its own "
                f"(seed {seed}) and leaves that file as it is",
                stacklevel=2,
            )
        return wanted
    try:
        save_splits(path, wanted, seed)
    except OSError:
        pass
    return wanted


def training_splits(metadata: dict, n_frames: int) -> dict[str, np.ndarray] | None:
    """The split a checkpoint's training run drew for each of its files of ``n_frames`` frames,
    re-drawn from the sizes and seed in its training config; None if it records none."""
    cfg = (metadata or {}).get("train_config") or {}
    if "split_seed" not in cfg:
        return None
    sizes = {"train": cfg["train_size"], "val": cfg["val_size"], "test": cfg["test_size"]}
    return grown_splits(n_frames, sizes, cfg["split_seed"], cfg.get("split_stages") or ())


def untrained_frames(lineage: list[dict], data_path: str | Path, n_frames: int) -> np.ndarray | None:
    """Frames of one store that no model of ``lineage`` trained or validated on: the test
    frames of a fine-tuned model, judged against what its ancestors saw as well.

    ``lineage`` is the metadata of a checkpoint and of the checkpoints it was fine-tuned from
    (``init_from``), nearest first. A fine-tune with fewer frames per file than its parent may
    test on frames the parent trained on; this returns only frames that none of them did.
    None where no model of the lineage names the store."""
    name = Path(data_path).name
    touched, known = np.zeros(n_frames, dtype=bool), False
    for metadata in lineage:
        if name not in {Path(p).name for p in (metadata or {}).get("data") or []}:
            continue
        splits = training_splits(metadata, n_frames)
        if splits is None:
            continue
        known = True
        for key in ("train", "val"):
            touched[splits[key]] = True
    return np.flatnonzero(~touched) if known else None
