"""Accuracy against MD speed, equipot against MACE trained on identical frames on this machine.

1. Writes the training, validation and test frames of a frame store (equipot's split: sizes
   and seed as in a training config) and a hotter set to extended XYZ for MACE.
2. Trains MACE with its documented recipe (``mace_run_train``: ``64x0e+64x1o``, max_L 1,
   correlation 3, 2 interactions, r_max 5 Å, batch 5, lr 0.01, E:F weights 1:100, EMA 0.99,
   AMSGrad, 60 epochs) in MACE's own environment, and times it.
3. Trains each equipot preset on the same frames with ``equipot train``'s defaults, within the
   time MACE's training loop took (or ``--budget-minutes``); ``--models`` adds equipot models trained
   elsewhere on this split (shipped names or checkpoints; their training time is read from the
   metrics CSV beside them, and a model whose training split differs is refused).
4. Evaluates every model on the same held-out frames (test split and the hot set) and times
   ASE velocity-Verlet MD with each (``--md-structure``: aspirin unless told), float32 and
   float64, alternating sides.

Prints one table: force and energy MAE (per structure, or per atom with ``--per-atom-energy``
where structures differ in size) against MD steps/s. Steps already done (a trained model,
an evaluation) are kept in OUT and skipped on a rerun.

    python -m venv --system-site-packages MACE_VENV && MACE_VENV/bin/pip install mace-torch==0.3.16
    python bench/accuracy_vs_mace.py --mace-python MACE_VENV/bin/python [--presets small medium]
    python bench/accuracy_vs_mace.py --mace-python MACE_VENV/bin/python --mace-epochs 24 39 60 --presets \
        --models aspirin-gfn2     # MACE at two budgets and its full recipe, against a shipped model

MACE's learning rate falls on plateaus, not on a schedule that knows the run's length, so a run
of N epochs is the first N epochs of the 60-epoch recipe: ``--mace-epochs`` is how to give MACE
a wall-clock budget. Several values give one row each; each longer run continues the previous
one from MACE's latest checkpoint (``--restart_latest``), and its minutes include the shorter
run's. MACE resumes by running its checkpoint's epoch again, so a continuation trains one epoch
more than the difference (24 then 39 is 40 passes over the data). ``--train-only --mace-device
cuda`` trains on a GPU machine (bench/gpu_training.sh); rerun here with the same ``--out`` to
evaluate and time MD on this CPU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(Path(__file__).parent))
from _mace_runs import MACE_ENV, SIDE, cached, evaluate_mace, labelled, mace_runs  # noqa: E402


def data_paths(items: list[str]) -> list[str]:
    """Frame-store paths (relative to the repository, globs allowed); empty items are none."""
    from equipot.train.data import expand_data_paths

    items = [str(ROOT / item) for item in items if item]
    return expand_data_paths(items) if items else []


def split_size(text: str) -> int | float:
    """A split size as equipot's configs take it: a frame count, or a fraction below 1."""
    value = float(text)
    return value if 0 < value < 1 else int(value)


def export_frames(args, work: Path) -> dict[str, dict[str, list[int]]]:
    """train/valid/test/hot extended XYZ files with REF_energy and REF_forces; the split
    indices of each ``--data`` file (equipot's split: the sizes apply to each file)."""
    from ase.io import write

    from equipot.data.splits import make_splits
    from equipot.data.store import FrameStore

    splits, frames = {}, {"train": [], "valid": [], "test": [], "hot": []}
    for path in data_paths(args.data):
        with FrameStore(path) as store:
            split = make_splits(len(store), {"train": args.train, "val": args.val, "test": args.test}, args.seed)
            splits[path] = {k: [int(i) for i in v] for k, v in split.items()}
            for name, key in (("train", "train"), ("valid", "val"), ("test", "test")):
                if not (work / f"{name}.xyz").is_file():
                    frames[name] += [labelled(store[i]) for i in splits[path][key]]
    for path in data_paths(args.hot) if not (work / "hot.xyz").is_file() else []:
        with FrameStore(path) as store:
            frames["hot"] += [labelled(store[i]) for i in range(len(store))]
    for name, atoms in frames.items():
        if atoms:
            write(work / f"{name}.xyz", atoms, format="extxyz")
    return splits


def train_equipot(args, work: Path, preset: str, minutes: float) -> dict:
    from equipot.train import TrainConfig, Trainer

    out = work / f"equipot-{preset}"
    config = TrainConfig(
        data=data_paths(args.data),
        out=str(out),
        train_size=args.train,
        val_size=args.val,
        test_size=args.test,
        split_seed=args.seed,
        model={"preset": preset},
        time_limit_minutes=minutes,
        num_threads=args.threads,
        progress=False,
    )
    t0 = time.perf_counter()
    Trainer(config).fit()
    return {"minutes": (time.perf_counter() - t0) / 60, "model": str(out / "best.pt")}


def trained_elsewhere(args, spec: str, splits: dict) -> dict:
    """``{"minutes", "model"}`` of an equipot model trained outside this script, after checking
    that its training split of each ``--data`` file is this script's (else its test frames could
    be ones it trained on)."""
    import csv

    import numpy as np

    from equipot.checkpoint import load_model, shipped_models
    from equipot.data.splits import training_splits
    from equipot.data.store import FrameStore

    shipped = shipped_models()
    path = Path(shipped.get(spec, spec))
    metadata = load_model(path).metadata
    for data, split in splits.items():
        with FrameStore(data) as store:
            own = training_splits(metadata, len(store))
        if own is None or any(not np.array_equal(own[k], split[k]) for k in ("train", "val", "test")):
            raise SystemExit(f"{spec}: its training split of {data} is not this script's (--train/--val/--test/--seed)")
    csv_path = path.with_name(f"{path.stem}.metrics.csv" if spec in shipped else "metrics.csv")
    minutes = None
    if csv_path.is_file():
        with open(csv_path) as f:
            minutes = sum(float(row["seconds"]) for row in csv.DictReader(f)) / 60
    return {"minutes": minutes, "model": str(path)}


def cache_name(spec: str) -> str:
    """File-name stem for a model's cached results: a shipped name, or folder and stem of a
    checkpoint path (``runs/x/best.pt`` -> ``x-best``, so two runs' ``best.pt`` stay apart)."""
    path = Path(spec)
    return spec if not path.suffix else f"{path.parent.name}-{path.stem}"


def evaluate_equipot(args, model_path: str, splits: dict) -> dict:
    """Errors on the test frames of every ``--data`` file together, and on all ``--hot`` frames."""

    from equipot.checkpoint import load_model
    from equipot.train.metrics import evaluate_store, pooled_error_metrics

    model = load_model(model_path, dtype="float64")
    sets = {
        "test": [(path, split["test"]) for path, split in splits.items()],
        "hot": [(path, None) for path in data_paths(args.hot)],
    }
    out = {}
    for label, parts in sets.items():
        if parts:
            arrays = [evaluate_store(model, path, indices)["arrays"] for path, indices in parts]
            out[label] = pooled_error_metrics(arrays)
    return out


def md_rates(args, models: dict[str, dict], start: Path) -> dict[str, dict[str, float]]:
    """Median MD steps/s per model and dtype from ``start``, the models taking turns in each round."""
    from mace_compare import equipot_rate

    from equipot import EquiformerCalculator

    rates: dict[str, dict[str, list[float]]] = {name: {"float32": [], "float64": []} for name in models}
    for dtype in ("float32", "float64"):
        calcs = {
            name: EquiformerCalculator(m["model"], dtype=dtype, compile=False)
            for name, m in models.items()
            if m["kind"] == "equipot"
        }
        for _ in range(args.rounds):
            for name, m in models.items():
                if m["kind"] == "equipot":
                    rates[name][dtype].append(equipot_rate(calcs[name], args.md_steps))
                else:
                    result = subprocess.run(
                        [args.mace_python, str(SIDE), "md", m["model"], dtype, str(start), str(args.md_steps)],
                        capture_output=True,
                        text=True,
                        check=True,
                        env=MACE_ENV,
                    )
                    rates[name][dtype].append(json.loads(result.stdout.strip().splitlines()[-1])["steps_per_s"])
    return {name: {d: statistics.median(v) for d, v in r.items()} for name, r in rates.items()}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mace-python", required=True, help="python of an environment with mace-torch 0.3.16")
    parser.add_argument(
        "--data",
        nargs="+",
        default=["datasets/md17_gfn2/aspirin.h5"],
        help="frame stores (globs allowed); the split sizes apply to each",
    )
    parser.add_argument(
        "--hot",
        nargs="*",
        default=["datasets/md17_gfn2/aspirin_600K.h5"],
        help="held-out frame stores beyond the training distribution (none: no column)",
    )
    parser.add_argument("--hot-name", default="hot", help="the table's name for them")
    parser.add_argument("--md-structure", default="aspirin", help="start of the timed MD (file or MD17 name)")
    parser.add_argument("--train", type=split_size, default=1000, help="frames (or a fraction < 1) of each file")
    parser.add_argument("--val", type=split_size, default=100)
    parser.add_argument("--test", type=split_size, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mace-irreps", default="64x0e+64x1o")
    parser.add_argument(
        "--mace-epochs",
        type=int,
        nargs="+",
        default=[60],
        help="MACE's documented 60; fewer for a budget; several give one row each (a longer run "
        "continues the shorter one)",
    )
    parser.add_argument("--mace-device", default="cpu", help="where MACE trains (cuda: its accuracy, not its CPU time)")
    parser.add_argument(
        "--train-only",
        action="store_true",
        help="stop after training (on a machine lent for it); a rerun here evaluates and times MD",
    )
    parser.add_argument("--presets", nargs="*", default=["small", "medium"], help="equipot presets to train here")
    parser.add_argument("--models", nargs="*", default=[], help="equipot models trained elsewhere on the same split")
    parser.add_argument("--budget-minutes", type=float, default=None, help="equipot's budget (default: MACE's time)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--per-atom-energy", action="store_true", help="energy MAE per atom (meV/atom), for frames of different sizes"
    )
    parser.add_argument("--md-steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default="runs/accuracy_vs_mace")
    return parser


def main() -> None:
    import torch

    args = _parser().parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    work = Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    splits = export_frames(args, work)
    maces = mace_runs(args, work)
    budget = args.budget_minutes or maces[max(maces)]["minutes"]
    presets = {
        preset: cached(work / f"equipot-{preset}_train.json", train_equipot, args, work, preset, budget)
        for preset in args.presets
    }
    if args.train_only:
        return
    models = {}
    for epochs, mace in maces.items():
        labels = ("test", "hot") if data_paths(args.hot) else ("test",)
        errors = cached(
            work / f"mace-{epochs}ep_eval.json", evaluate_mace, args.mace_python, mace["model"], work, labels
        )
        name = f"MACE {args.mace_irreps}, {epochs} epochs"
        if mace.get("continued_from"):
            name += f" (continuing {mace['continued_from']})"
        models[name] = {"kind": "mace", **mace, "errors": errors}
    for preset, trained in presets.items():
        errors = cached(work / f"equipot-{preset}_eval.json", evaluate_equipot, args, trained["model"], splits)
        models[f"equipot {preset}"] = {"kind": "equipot", **trained, "errors": errors}
    for spec in args.models:
        trained = trained_elsewhere(args, spec, splits)
        errors = cached(work / f"{cache_name(spec)}_eval.json", evaluate_equipot, args, trained["model"], splits)
        models[f"equipot {spec}"] = {"kind": "equipot", **trained, "errors": errors}
    start = work / "md_start.xyz"
    from equipot.data.readers import read_structure

    read_structure(args.md_structure).write(start)
    speeds = md_rates(args, models, start)
    print_table(args, splits, models, speeds)
    (work / "table.json").write_text(json.dumps({"models": models, "md_steps_per_s": speeds}, indent=1, default=str))


def print_table(args, splits: dict, models: dict[str, dict], speeds: dict[str, dict[str, float]]) -> None:
    """The side-by-side table: errors on the test and hot frames against MD steps/s."""
    counts = {k: sum(len(split[k]) for split in splits.values()) for k in ("train", "test")}
    print(
        f"{counts['train']} training frames of {' '.join(args.data)}; test: {counts['test']} held-out frames; "
        f"{args.hot_name}: {' '.join(args.hot) or '-'}; MD: {args.md_structure}"
    )
    energy, unit = ("energy_per_atom_mae", "meV/atom") if args.per_atom_energy else ("energy_mae", "meV")
    print(
        f"| model | training (min) | force MAE test (meV/Å) | force MAE {args.hot_name} | energy MAE test ({unit}) | "
        f"energy MAE {args.hot_name} | "
        "MD steps/s float32 | float64 |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, m in models.items():
        e = m["errors"]
        minutes = "?" if m["minutes"] is None else f"{m['minutes']:.0f}"
        if m.get("device", "cpu") != "cpu":
            minutes += f" ({m['device']})"
        hot = e.get("hot", {"force_mae": float("nan"), energy: float("nan")})
        print(
            f"| {name} | {minutes} | {e['test']['force_mae']:.1f} | {hot['force_mae']:.1f} | "
            f"{e['test'][energy]:.1f} | {hot[energy]:.1f} | {speeds[name]['float32']:.1f} | "
            f"{speeds[name]['float64']:.1f} |"
        )


if __name__ == "__main__":
    main()
