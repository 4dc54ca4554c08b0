"""Generalisation across polymer chemistry and temperature: leave-classes-out folds, equipot
(energy+forces and forces only) beside MACE L=1, at equal CPU time.

Folds (``equipot.data.folds``): each holds out two whole chemistry classes, every class is held
out once, and every element of a held-out class stays in training. A model is trained on the
other classes' frames and tested on the test frames of both: "seen" (families it trained on,
frames it did not) and "unseen" (classes it never saw). The temperature fold trains on every
family's 300 K and 450 K files and tests at 600 K ("unseen") against the 450 K test frames
("seen"). Every file gets the same seeded train/val/test split (``--train/--val/--test``
frames per file), so a family's test frames are the same whether a fold saw it or not.

Equal CPU time: with ``--mace-python``, MACE trains first with its recipe
(``bench/_mace_runs.py``, as ``bench/accuracy_vs_mace.py`` trains it: ``64x0e+64x1o``, max_L 1, ``--mace-epochs`` epochs) and each
equipot model gets the minutes MACE's training loop took; without it, every model gets
``--minutes``. Everything runs on ``--threads`` threads. Results are cached per fold and model in
``--out``, so a rerun (or an interrupted run) only does what is missing.

    python bench/generalisation.py --quick                                   # minutes: 2 folds, tiny budgets
    python bench/generalisation.py --mace-python MACE_VENV/bin/python --mace-epochs 8
    python bench/generalisation.py --minutes 20 --models ef fo               # equipot only

Prints the table and writes it to ``OUT/table.md`` (and every number to ``OUT/results.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

DATA = ROOT / "datasets" / "polymers_gfn2"
# equipot's polymer recipe (equipot/models/polymers-gfn2.yaml) without its data and budget
RECIPE = dict(model={"preset": "small16"}, energy_weight=200.0, epochs=1000, patience=1000, warmup_epochs=0.3)
MODELS = {"ef": "equipot e+f", "fo": "equipot forces-only", "mace": "MACE 64x0e+64x1o"}


def linked(path: Path, work: Path) -> str:
    """A link to a dataset file in ``work/data`` (its split file is written there, not beside
    the shipped data)."""
    link = work / "data" / path.name
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        link.symlink_to(path)
    return str(link)


def test_indices(path: Path, args) -> list[int]:
    """The test frames of a file: the split every fold and the training runs draw."""
    from equipot.data.splits import make_splits
    from equipot.data.store import FrameStore

    with FrameStore(path) as store:
        n = len(store)
    return [int(i) for i in make_splits(n, sizes(args), args.seed)["test"]]


def sizes(args) -> dict:
    return {"train": args.train, "val": args.val, "test": args.test}


# variant keys that choose the training files rather than set the training config
DATA_KEYS = ("families", "temperatures")


def variant_settings(kind: str, variants: dict[str, dict]) -> dict:
    """TrainConfig settings of a model kind: ef, fo, or a named --variant (e+f with overrides)."""
    from equipot.data.reference import gfn2_free_atom_energies

    if kind in ("ef", "fo"):
        return {"force_only": kind == "fo"}
    settings = {k: v for k, v in variants[kind].items() if k not in DATA_KEYS}
    if settings.get("reference_energies") == "isolated":
        settings["reference_energies"] = gfn2_free_atom_energies()
    if "model" in settings:
        settings["model"] = {**RECIPE["model"], **settings["model"]}
    return settings


def train_equipot(args, fold: dict, work: Path, kind: str, minutes: float) -> dict:
    from equipot.data.folds import training_files
    from equipot.train import TrainConfig, Trainer

    out = work / f"equipot-{kind}"
    files = training_files(fold["train"], args.variants.get(kind, {}))
    own = variant_settings(kind, args.variants)
    if own.get("train_size", args.train) + own.get("val_size", args.val) > args.train + args.val:
        # the trainer's split draws training and validation frames first: more would reach
        # into the frames every model is tested on
        raise SystemExit(f"variant {kind}: train_size + val_size must stay within --train + --val")
    settings = dict(
        RECIPE,
        data=[linked(f, args.out) for f in files],
        out=str(out),
        train_size=args.train,
        val_size=args.val,
        test_size=args.test,
        split_seed=args.seed,
        seed=args.seed,
        time_limit_minutes=minutes,
        num_threads=args.threads,
        progress=False,
    )
    config = TrainConfig.from_dict({**settings, **own})  # a variant may set the budget
    t0 = time.perf_counter()
    trainer = Trainer(config)
    trainer.fit()
    return {
        "minutes": (time.perf_counter() - t0) / 60,
        "model": str(out / "best.pt"),
        "epochs": len(trainer.history),
        "files": len(files),
        "frames": int(len(files) * config.train_size),  # train_size is a count here
    }


def evaluate_equipot(args, model_path: str, fold: dict) -> dict:
    """Force MAE (meV/Å, over components) and energy MAE (meV/atom) on the seen and the
    unseen test frames, pooled over files; the energy MAE also with each file's mean error
    removed (``offset_free_energy_mae``)."""
    from equipot.checkpoint import load_model
    from equipot.train.metrics import evaluate_store, pooled_error_metrics

    model = load_model(model_path, dtype="float64")
    out = {}
    for label in ("seen", "unseen"):
        arrays = [evaluate_store(model, str(f), test_indices(f, args))["arrays"] for f in fold[label]]
        out[label] = pooled_error_metrics(arrays)
    return out


def mace_side(args, fold: dict, work: Path) -> tuple[dict, dict]:
    """MACE trained with its recipe on the fold's training frames; (training record, errors)."""
    from _mace_runs import evaluate_mace, labelled, mace_runs
    from ase.io import write

    from equipot.data.splits import make_splits
    from equipot.data.store import FrameStore

    work.mkdir(parents=True, exist_ok=True)
    names = {"train": fold["train"], "valid": fold["train"], "seen": fold["seen"], "unseen": fold["unseen"]}
    for name, paths in names.items():
        if (work / f"{name}.xyz").is_file():
            continue
        atoms = []
        for path in paths:
            with FrameStore(path) as store:
                split = make_splits(len(store), sizes(args), args.seed)
                key = {"train": "train", "valid": "val"}.get(name, "test")
                atoms += [labelled(store[int(i)]) for i in split[key]]
        write(work / f"{name}.xyz", atoms, format="extxyz")
    mace_args = argparse.Namespace(
        mace_python=args.mace_python,
        mace_irreps="64x0e+64x1o",
        mace_device="cpu",
        seed=args.seed,
        mace_epochs=[args.mace_epochs],
    )
    run = mace_runs(mace_args, work)[args.mace_epochs]
    errors = {}
    for label in ("seen", "unseen"):
        (work / "test.xyz").unlink(missing_ok=True)
        (work / "test.xyz").symlink_to(work / f"{label}.xyz")
        errors[label] = evaluate_mace(args.mace_python, run["model"], work)["test"]
    return run, errors


def run_fold(args, k: int, fold: dict) -> dict:
    """Every model of one fold, each cached in ``OUT/fold_k/<model>.json``."""
    work = args.out / f"fold_{k}"
    work.mkdir(parents=True, exist_ok=True)
    results = {}
    minutes = args.minutes
    if "mace" in args.models:
        path = work / "mace.json"
        if not path.is_file() and not args.table_only:
            run, errors = mace_side(args, fold, work / "mace")
            path.write_text(json.dumps({"train": run, "errors": errors}, indent=1))
        if path.is_file():
            results["mace"] = json.loads(path.read_text())
            minutes = args.minutes or results["mace"]["train"]["minutes"]
    for kind in (m for m in args.models if m != "mace"):
        path = work / f"{kind}.json"
        if args.table_only and not path.is_file():
            continue
        cached = path.is_file()
        if not cached or (args.reevaluate and not args.table_only):  # --reevaluate: a cached model measured again
            run = json.loads(path.read_text())["train"] if cached else train_equipot(args, fold, work, kind, minutes)
            path.write_text(json.dumps({"train": run, "errors": evaluate_equipot(args, run["model"], fold)}, indent=1))
        results[kind] = json.loads(path.read_text())
    return results


def table(all_results: list[tuple[dict, dict]], args) -> str:
    lines = [
        f"Per file: {args.train} training, {args.val} validation, {args.test} test frames (seed {args.seed}); "
        f"{args.threads} thread(s).",
        "",
    ]
    for fold, _ in all_results:
        families = {f.name.split("_")[0] for f in fold["train"]}
        lines.append(
            f"- {fold['name']}: trained on {len(fold['train'])} files of {len(families)} families; "
            f"tested on {len(fold['seen'])} seen and {len(fold['unseen'])} unseen files"
        )
    lines += [
        "",
        "| fold (held out) | model | train frames | train min | force seen | force unseen | ratio | "
        "energy seen | energy unseen | ratio | offset-free energy seen | unseen | ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for fold, results in all_results:
        for kind, r in results.items():
            e, minutes = r["errors"], r["train"]["minutes"]
            fs, fu = e["seen"]["force_mae"], e["unseen"]["force_mae"]
            es, eu = e["seen"]["energy_per_atom_mae"], e["unseen"]["energy_per_atom_mae"]
            frames = int(r["train"]["frames"]) if "frames" in r["train"] else "-"
            offset_free = "| - | - | - |"  # a result cached before the column existed (--reevaluate)
            if "energy_per_atom_offset_free_mae" in e["unseen"]:
                os_, ou = (e[k]["energy_per_atom_offset_free_mae"] for k in ("seen", "unseen"))
                offset_free = f"| {os_:.2f} | {ou:.2f} | {ou / os_:.2f}x |"
            lines.append(
                f"| {fold['name']} | {MODELS.get(kind, kind)} | {frames} | {minutes:.1f} | {fs:.1f} | {fu:.1f} | "
                f"{fu / fs:.2f}x | {es:.2f} | {eu:.2f} | {eu / es:.2f}x {offset_free}"
            )
    lines.append("")
    lines.append(
        "Force MAE in meV/Å over Cartesian components, energy MAE in meV/atom; seen: test frames of the "
        "families trained on; unseen: the held-out classes (temperature fold: 600 K against 450 K); "
        "offset-free: the energy MAE with each file's mean error removed."
    )
    return "\n".join(lines)


def parse_variants(items: list[str]) -> dict[str, dict]:
    """``NAME:key=value,model.key=value`` -> {NAME: settings}; values parsed as YAML."""
    import yaml

    variants = {}
    for item in items:
        name, _, rest = item.partition(":")
        settings: dict = {}
        for pair in filter(None, re.split(r",(?![^\[]*\])", rest)):  # commas inside [...] belong to a list
            key, _, value = pair.partition("=")
            if key.startswith("model."):
                settings.setdefault("model", {})[key[6:]] = yaml.safe_load(value)
            else:
                settings[key] = yaml.safe_load(value)
        variants[name] = settings
    return variants


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="one class fold and the temperature fold, "
        "20 training frames per file, 1-minute budgets, equipot only unless --mace-python",
    )
    parser.add_argument(
        "--models", nargs="*", default=None, choices=sorted(MODELS), help="default: ef fo, and mace with --mace-python"
    )
    parser.add_argument("--mace-python", default=None, help="python of an environment with mace-torch 0.3.16")
    parser.add_argument("--mace-epochs", type=int, default=8, help="MACE's epochs; equipot gets MACE's minutes")
    parser.add_argument("--minutes", type=float, default=None, help="budget per model (default: MACE's time, or 10)")
    parser.add_argument("--train", type=int, default=60, help="training frames per file")
    parser.add_argument("--val", type=int, default=10)
    parser.add_argument("--test", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--data",
        type=Path,
        default=DATA,
        help="folder of <family>_<atoms>_<T>K.h5 files (a fixed copy keeps folds comparable "
        "while generation adds files)",
    )
    parser.add_argument("--table-only", action="store_true", help="print the table of what OUT holds; train nothing")
    parser.add_argument(
        "--reevaluate", action="store_true", help="measure the errors of the cached equipot models again (new metrics)"
    )
    parser.add_argument(
        "--folds",
        type=int,
        nargs="+",
        default=None,
        help="run only these folds (0-based; the temperature fold is the last)",
    )
    parser.add_argument(
        "--variant",
        nargs="+",
        default=[],
        metavar="NAME:KEY=VALUE[,KEY=VALUE]",
        help="extra equipot e+f models with training-config overrides, e.g. "
        "e50:energy_weight=50 cut4:model.cutoff=4 e0:reference_energies=isolated; two keys choose "
        "the training files instead: families=FRACTION (of each class's families) and "
        "temperatures=[K,...], e.g. half:families=0.5 t450:temperatures=[450] (a variant's "
        "train_size may be lower than --train, never higher: its frames stay off the test frames)",
    )
    return parser


def main() -> None:
    from equipot.data.folds import class_folds
    from equipot.errors import EquipotError

    parser = _parser()
    args = parser.parse_args()
    args.variants = parse_variants(args.variant)
    if args.quick:
        args.train, args.val, args.test = 20, 5, 10
        args.minutes = args.minutes or 1.0
    args.models = (args.models or (["mace"] if args.mace_python else []) + ["ef", "fo"]) + list(args.variants)
    if "mace" in args.models and not args.mace_python:
        parser.error("--models mace needs --mace-python")
    if "mace" not in args.models:
        args.minutes = args.minutes or 10.0
    args.out = (args.out or ROOT / "runs" / ("generalisation_quick" if args.quick else "generalisation")).resolve()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    chosen = list(enumerate(class_folds(args.data.resolve(), args.train + args.val + args.test, args.quick)))
    if args.folds is not None:
        bad = [k for k in args.folds if not 0 <= k < len(chosen)]
        if bad:
            parser.error(f"--folds {bad}: the data has folds 0-{len(chosen) - 1} (the temperature fold is the last)")
        chosen = [chosen[k] for k in args.folds]
    try:
        all_results = [(fold, run_fold(args, k, fold)) for k, fold in chosen]
    except EquipotError as error:
        raise SystemExit(f"error: {error}") from None
    text = table(all_results, args)
    print(text)
    (args.out / "table.md").write_text(text + "\n")
    (args.out / "results.json").write_text(json.dumps([{"fold": f["name"], **r} for f, r in all_results], indent=1))


if __name__ == "__main__":
    main()
