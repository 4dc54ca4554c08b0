"""Accuracy of the shipped models on held-out data: the model-card numbers of docs/models.md.

For each model, the test split of every file it was trained on (rebuilt from the split sizes
and seed stored in its checkpoint, the same split as ``DATA.splits.json``), plus extra sets:
aspirin at 600 K, ethanol at 650 K (PBE/def2-SVP for ethanol-pbe, GFN2-xTB for md17-gfn2),
and for the polymer models the two held-out families (all their frames).

    python bench/accuracy.py [--models aspirin-gfn2 ...] [--max-frames 500] [--json FILE]
    python bench/accuracy.py --models runs/x/best.pt --sets-of polymers-gfn2   # a retrained checkpoint
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from equipot.checkpoint import load_model, shipped_models  # noqa: E402
from equipot.data.splits import training_splits  # noqa: E402
from equipot.data.store import FrameStore  # noqa: E402
from equipot.train.metrics import evaluate_store  # noqa: E402

EXTRA = {
    "aspirin-gfn2": {"aspirin 600 K": ["datasets/md17_gfn2/aspirin_600K.h5"]},
    "aspirin-gfn2-small": {"aspirin 600 K": ["datasets/md17_gfn2/aspirin_600K.h5"]},
    "aspirin-gfn2-medium": {"aspirin 600 K": ["datasets/md17_gfn2/aspirin_600K.h5"]},
    "ethanol-pbe": {"ethanol 650 K": ["datasets/ethanol_dft/ethanol_pbe_def2svp_650K.h5"]},
    "md17-gfn2": {
        "aspirin 600 K, ethanol 650 K": ["datasets/md17_gfn2/aspirin_600K.h5", "datasets/md17_gfn2/ethanol_650K.h5"]
    },
    "polymers-gfn2": {
        "held-out families PMMA, PVA": ["datasets/polymers_gfn2/pmma_*.h5", "datasets/polymers_gfn2/pva_*.h5"]
    },
}
EXTRA["polymers-gfn2-fo"] = EXTRA["polymers-gfn2"]
EXTRA["ethanol-pbe-from-md17-gfn2"] = EXTRA["ethanol-pbe"]
EXTRA["aspirin-gfn2-from-md17-gfn2"] = EXTRA["aspirin-gfn2"]


def test_sets(model) -> dict[str, list[tuple[str, list[int] | None]]]:
    """{"test split": [(file, test indices)]}: the test split of every training file."""
    sets = {}
    for path in model.metadata["data"]:
        with FrameStore(ROOT / path) as store:
            test = training_splits(model.metadata, len(store))["test"]
        sets.setdefault("test split", []).append((path, [int(i) for i in test]))
    return sets


def evaluate(name: str, max_frames: int | None, sets_of: str | None = None) -> list[dict]:
    """Rows of one model (a shipped name or a checkpoint path): its test split, and its extra
    sets; a model without its own (a checkpoint path) takes those of the shipped ``sets_of``, so
    a retrained checkpoint meets the same held-out frames."""
    model = load_model(name, dtype="float64")
    rows = []
    sets = test_sets(model)
    for label, patterns in EXTRA.get(name, EXTRA.get(sets_of, {})).items():
        sets[label] = [(p, None) for pat in patterns for p in sorted(glob.glob(str(ROOT / pat)))]
    for label, parts in sets.items():
        per_file = {}
        for path, indices in parts:
            if max_frames:  # the first N test frames (or, for the extra sets, frames) of each file
                if indices is None:
                    with FrameStore(ROOT / path) as store:
                        indices = list(range(len(store)))
                indices = indices[:max_frames]
            t0 = time.perf_counter()
            metrics = evaluate_store(model, str(ROOT / path), indices, batch_size=16)
            arrays = metrics.pop("arrays")
            per_file[Path(path).name] = {**metrics, "frames": int(len(arrays[0])), "seconds": time.perf_counter() - t0}
        frames = sum(m["frames"] for m in per_file.values())
        pooled = {
            k: sum(m[k] * m["frames"] for m in per_file.values()) / frames
            for k in ("force_mae", "energy_mae", "energy_per_atom_mae")
        }
        rows.append({"model": name, "set": label, "frames": frames, **pooled, "files": per_file})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=None, help="default: every shipped model")
    parser.add_argument("--max-frames", type=int, default=None, help="first N frames of each file's set")
    parser.add_argument("--per-file", action="store_true", help="also print each file's row")
    parser.add_argument(
        "--sets-of",
        default=None,
        help="checkpoints given by path are also evaluated on this shipped model's extra sets",
    )
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    names = args.models or sorted(shipped_models())
    print("| model | set | frames | force MAE (meV/Å) | energy MAE (meV) | energy MAE (meV/atom) |")
    print("|---|---|---|---|---|---|")
    rows = []
    for name in names:
        for row in evaluate(name, args.max_frames, args.sets_of):
            rows.append(row)
            print(
                f"| {name} | {row['set']} | {row['frames']} | {row['force_mae']:.1f} | {row['energy_mae']:.1f} | "
                f"{row['energy_per_atom_mae']:.2f} |",
                flush=True,
            )
            if args.per_file:
                for fname, m in row["files"].items():
                    print(
                        f"| | {fname} | {m['frames']} | {m['force_mae']:.1f} | {m['energy_mae']:.1f} | "
                        f"{m['energy_per_atom_mae']:.2f} |",
                        flush=True,
                    )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
