"""``equipot eval CKPT DATA``: error metrics table and parity plots."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from equipot.errors import EquipotError


def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help="error metrics of a model on a frame store")
    p.add_argument("model", help="checkpoint path or shipped model name")
    p.add_argument("data", help="frame store (.h5)")
    p.add_argument("--split", default="all", help="'all', or a split name saved next to the data (e.g. test)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--plot", default=None, help="write energy/force parity plots to this PNG")
    p.add_argument("--dtype", default="float64")
    p.set_defaults(func=run)


def split_indices(model, data: str, split: str) -> tuple[np.ndarray, str]:
    """Frame indices of ``split`` in ``data``, and where they came from.

    When the checkpoint was trained on a file of this name, its own split is drawn again from
    the sizes and seed in its training config: the file saved next to the data may belong to
    another run, whose test frames this model may have trained on. Otherwise the saved file.
    """
    from equipot.data.splits import load_splits, splits_path, training_splits
    from equipot.data.store import FrameStore

    meta = getattr(model, "metadata", {}) or {}
    trained_on = {Path(p).name for p in meta.get("data") or []}
    splits, source = None, "the checkpoint's training split"
    if Path(data).name in trained_on:
        with FrameStore(data) as store:
            splits = training_splits(meta, len(store))
    if splits is None:
        path = splits_path(data)
        if not path.is_file():
            raise EquipotError(
                f"the checkpoint records no split of {Path(data).name} and none is saved next to "
                f"it ({path}); use --split all"
            )
        splits = load_splits(path)
        source = str(path)
    if split not in splits:
        raise EquipotError(f"split {split!r} not in {sorted(splits)}")
    return splits[split], source


def run(args: argparse.Namespace) -> int:
    from equipot.checkpoint import load_model

    model = load_model(args.model, dtype=args.dtype)
    indices, source = None, "all frames"
    if args.split != "all":
        indices, source = split_indices(model, args.data, args.split)
    from equipot.train.metrics import evaluate_store

    metrics = evaluate_store(model, args.data, indices, args.batch_size)
    arrays = metrics.pop("arrays")
    print(f"{args.model} on {args.data} ({args.split}, {len(arrays[0])} frames; from {source})")
    print(f"{'metric':<24} {'value':>10}")
    units = {
        "energy_mae": "meV",
        "energy_rmse": "meV",
        "energy_per_atom_mae": "meV/atom",
        "energy_per_atom_rmse": "meV/atom",
        "force_mae": "meV/Å",
        "force_rmse": "meV/Å",
        "stress_mae": "GPa",
        "pressure_mae": "GPa",
    }
    for key, value in metrics.items():
        print(f"{key:<24} {value:>10.2f} {units[key]}")
    if args.plot:
        from equipot.train.plots import plot_parity

        plot_parity(arrays, metrics, args.plot, title=f"{args.model} on {args.data}")
        print(f"parity plot: {args.plot}")
    return 0
