"""Fixed-budget training ablations: one change at a time against a base recipe, same data.

Each variant trains ``equipot.train.Trainer`` on the same frames for the same budget, a
number of epochs (``--epochs``, the cosine schedule annealing over them) or of wall-clock
minutes (``--minutes``), then its best (EMA) checkpoint is evaluated on held-out frames: the
first ``--test-frames`` of the 500 K test split and the first ``--hot-frames`` of a hotter set.
A variant name joins changes with "+" (``lr5e-3_bs4+no_zbl``: both, in that order). Rows are
appended to ``OUT/results.jsonl`` as each variant finishes, so the queue can be stopped and
restarted (finished variants are skipped). Prints a Markdown table; the ratio column compares
each variant with the one named by ``--reference``.

    python bench/ablation.py --epochs 6 --threads 1 --variants base lr5e-3_bs4 lr5e-3_bs4+no_zbl
    python bench/ablation.py --list
    python bench/ablation.py --table-only --reference lr5e-3_bs4   # the table of what OUT holds
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BASE = dict(
    data="datasets/md17_gfn2/aspirin.h5",
    train_size=1000,
    val_size=100,
    test_size=500,
    split_seed=0,
    model={"preset": "small", "zbl_switch": 1.0},
    epochs=1000,
    batch_size=8,
    lr=2e-3,
    min_lr=1e-5,
    weight_decay=1e-6,
    warmup_epochs=1.0,
    scheduler="cosine",
    energy_weight=1.0,
    force_weight=80.0,
    ema_decay=0.99,
    grad_clip=10.0,
    patience=1000,
    seed=0,
    device="cpu",
    dtype="float32",
    progress=False,
)

# One change from BASE each (nested "model" keys are merged into BASE's model).
VARIANTS: dict[str, dict] = {
    "base": {},
    # the default recipe of equipot train: the reference of the second round of ablations
    "recipe": {"lr": 5e-3, "batch_size": 4, "energy_weight": 50.0, "model": {"zbl_switch": 0.7}},
    "lr5e-3": {"lr": 5e-3},
    "lr5e-3_bs4": {"lr": 5e-3, "batch_size": 4},
    "energy_w50": {"energy_weight": 50.0},
    "lr1e-2_bs4": {"lr": 1e-2, "batch_size": 4},
    "bs4": {"batch_size": 4},
    "no_zbl": {"model": {"zbl": False}},
    "zbl0.7": {"model": {"zbl_switch": 0.7}},
    "ema0.999": {"ema_decay": 0.999},
    "no_ema": {"ema_decay": 0.0},
    "energy_w10": {"energy_weight": 10.0},
    "huber": {"loss": "huber", "huber_delta": 0.01},
    "blocks2": {"model": {"num_blocks": 2}},
    "blocks4": {"model": {"num_blocks": 4}},
    "lmax1": {"model": {"irreps_node": "64x0e+32x1o"}},
    "no_l2": {"model": {"irreps_node": "64x0e+16x1o"}},
    "lr2e-3_bs2": {"lr": 2e-3, "batch_size": 2},
    "bs2": {"batch_size": 2},
    "bs8": {"batch_size": 8},
    "wide_l1": {"model": {"irreps_node": "128x0e+32x1o"}},
    "cutoff4": {"model": {"cutoff": 4.0}},
    "cutoff6": {"model": {"cutoff": 6.0}},
    "gaussian": {"model": {"radial_basis": "gaussian"}},
    "basis8": {"model": {"num_basis": 8}},
    "radial64": {"model": {"radial_hidden": 64}},
    "ffn1": {"model": {"ffn_multiplier": 1}},
    "heads2": {"model": {"num_heads": 2}},
    "lr1e-2": {"lr": 1e-2},
    "amsgrad": {"amsgrad": True},
    "wd5e-3": {"weight_decay": 5e-3},
    "wd2e-2": {"weight_decay": 2e-2},
    "l2x16": {"model": {"irreps_node": "64x0e+16x1o+16x2e"}},
    "l1x32": {"model": {"irreps_node": "64x0e+32x1o+8x2e"}},
    "sh3": {"model": {"lmax": 3}},
    "layerscale": {"model": {"residual_scale": 0.1}},
    "ln_scalars": {"model": {"norm_high_l": False}},
    "null_learned": {"model": {"learned_null": True}},
    "no_isolated": {"model": {"subtract_isolated": False}},
}


def variant_settings(name: str) -> dict:
    """BASE with the changes of each "+"-joined part of ``name``."""
    cfg = {**BASE, "model": dict(BASE["model"])}
    for part in name.split("+"):
        if part not in VARIANTS:
            raise SystemExit(f"unknown variant {part!r}; --list shows them")
        change = VARIANTS[part]
        cfg.update({k: v for k, v in change.items() if k != "model"})
        cfg["model"].update(change.get("model", {}))
    return cfg


def variant_config(name: str, out: Path, args) -> dict:
    """``variant_settings`` with the budget, seed and threads of ``args``."""
    cfg = variant_settings(name)
    if args.epochs:
        cfg.update(epochs=args.epochs, time_limit_minutes=None)
    else:
        cfg.update(time_limit_minutes=args.minutes)
    cfg.update(out=str(out / f"{name}_s{args.seed}"), num_threads=args.threads, seed=args.seed)
    return cfg


def run_variant(name: str, args) -> dict:
    import torch

    from equipot.checkpoint import load_model
    from equipot.data.splits import training_splits
    from equipot.data.store import FrameStore
    from equipot.train import TrainConfig, Trainer
    from equipot.train.metrics import evaluate_store

    cfg = variant_config(name, Path(args.out), args)
    t0 = time.perf_counter()
    trainer = Trainer(TrainConfig.from_dict(cfg))
    trainer.fit()
    train_s = time.perf_counter() - t0
    model = load_model(Path(cfg["out"]) / "best.pt", dtype="float64")
    data = str(ROOT / cfg["data"])
    with FrameStore(data) as store:
        test = training_splits(model.metadata, len(store))["test"][: args.test_frames]
    test_m = evaluate_store(model, data, list(test))
    hot_m = evaluate_store(model, str(ROOT / args.hot), list(range(args.hot_frames)))
    epochs = trainer.history
    row = {
        "variant": name,
        "seed": args.seed,
        "epochs_budget": args.epochs,
        "minutes": None if args.epochs else args.minutes,
        "threads": args.threads or torch.get_num_threads(),
        "epochs": len(epochs),
        "seconds_per_epoch": sum(r["seconds"] for r in epochs) / max(len(epochs), 1),
        "train_seconds": train_s,
        "parameters": model.num_parameters(),
        "best_epoch": min(epochs, key=lambda r: r["val_loss"])["epoch"],
        "final_train_loss": epochs[-1]["train_loss"],
        "final_val_loss": epochs[-1]["val_loss"],
        "test_force_mae": test_m["force_mae"],
        "test_energy_mae": test_m["energy_mae"],
        "hot_force_mae": hot_m["force_mae"],
        "hot_energy_mae": hot_m["energy_mae"],
    }
    return row


def force_call_ms(names: list[str], rounds: int = 5, repeats: int = 20) -> dict[str, float]:
    """Median ms of one float32 energy+forces call on aspirin with each variant's architecture
    (random weights: the cost does not depend on them), in this process's torch threads.

    The variants take turns, ``repeats`` calls each per round, so a machine whose speed drifts
    slows all of them alike; the median is over all rounds.
    """
    import statistics

    import torch

    sys.path.insert(0, str(ROOT / "bench"))
    from single_point import time_calls

    from equipot import EquiformerCalculator, EquiformerConfig, Potential
    from equipot.data.readers import read_structure

    calculators = {}
    for name in names:
        model_cfg = variant_settings(name)["model"]
        preset = model_cfg.pop("preset")
        torch.manual_seed(0)
        model = Potential(EquiformerConfig.preset(preset, species=["H", "C", "O"], **model_cfg))
        calculators[name] = EquiformerCalculator(model, dtype="float32", compile=False)
    atoms = read_structure("aspirin")
    times: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(rounds):
        for name, calc in calculators.items():
            times[name] += time_calls(calc, atoms, repeats)
    return {name: 1000 * statistics.median(t) for name, t in times.items()}


def print_table(rows: list[dict], reference: str = "base") -> None:
    base = {r["seed"]: r for r in rows if r["variant"] == reference}
    speed = "call_ms" in rows[0] if rows else False
    print(
        "| variant | seed | epochs | s/epoch | train loss | val loss | F MAE test (meV/Å) | F MAE hot | "
        f"E MAE test (meV) | E MAE hot | F test / {reference} |" + (" force call (ms) |" if speed else "")
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|" + ("---|" if speed else ""))
    for r in rows:
        b = base.get(r["seed"])
        ratio = f"{r['test_force_mae'] / b['test_force_mae']:.2f}" if b else "-"
        print(
            f"| {r['variant']} | {r['seed']} | {r['epochs']} | {r['seconds_per_epoch']:.0f} | "
            f"{r['final_train_loss']:.3g} | {r['final_val_loss']:.3g} | {r['test_force_mae']:.1f} | "
            f"{r['hot_force_mae']:.1f} | {r['test_energy_mae']:.1f} | {r['hot_energy_mae']:.1f} | {ratio} |"
            + (f" {r['call_ms']:.1f} |" if speed else "")
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=["base"])
    parser.add_argument("--epochs", type=int, default=None, help="training budget of each variant, in epochs")
    parser.add_argument("--minutes", type=float, default=12.0, help="training budget in minutes (without --epochs)")
    parser.add_argument("--reference", default="base", help="variant the ratio column compares with")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/ablation")
    parser.add_argument("--test-frames", type=int, default=200)
    parser.add_argument("--hot", default="datasets/md17_gfn2/aspirin_600K.h5")
    parser.add_argument("--hot-frames", type=int, default=100)
    parser.add_argument("--list", action="store_true", help="print the variants and exit")
    parser.add_argument("--table-only", action="store_true")
    parser.add_argument(
        "--speed",
        action="store_true",
        help="add the median time of one float32 aspirin force call of each variant's architecture "
        "(measured now, the variants taking turns over --speed-rounds rounds, in --threads threads)",
    )
    parser.add_argument("--speed-rounds", type=int, default=5)
    args = parser.parse_args()
    if args.list:
        for name, change in VARIANTS.items():
            print(f"{name:14s} {json.dumps(change)}")
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.jsonl"
    rows = [json.loads(line) for line in results.read_text().splitlines()] if results.is_file() else []
    if not args.table_only:
        done = {(r["variant"], r["seed"]) for r in rows}
        for name in args.variants:
            if (name, args.seed) in done:
                continue
            row = run_variant(name, args)
            rows.append(row)
            with results.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            print(
                f"{name}: F test {row['test_force_mae']:.1f}, hot {row['hot_force_mae']:.1f} meV/Å "
                f"({row['epochs']} epochs)",
                flush=True,
            )
    if args.speed:
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        times = force_call_ms(list(dict.fromkeys(r["variant"] for r in rows)), args.speed_rounds)
        rows = [{**r, "call_ms": times[r["variant"]]} for r in rows]
    print_table(rows, args.reference)


if __name__ == "__main__":
    main()
