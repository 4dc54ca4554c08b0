"""Active learning against random labels: held-out error against labels spent.

Runs ``equipot learn``'s loop from a config (``docs/learn/ethanol.yaml``: 100 frames at 500 K,
MD at 700 K), and the same loop with each round's labels drawn at random from plain GFN2-xTB MD
at the exploration temperature (``equipot.learn.baseline.RandomLabels``), starting from the same
round-0 committee. Both are scored on held-out frames of a separate GFN2-xTB trajectory at that
temperature. Prints the learning curves as a table, where each side's labels sit in energy and
the final committees' mean signed energy error on the held-out frames, and writes
``OUT/learning_curve.png``.

    python bench/active_learning.py --config docs/learn/ethanol.yaml --out runs/al_ethanol
    python bench/active_learning.py --config docs/learn/ethanol.yaml --set lower=0.05 --out runs/al_ethanol_005

``--set KEY=VALUE`` overrides one setting of the config (the value read as YAML), for the loop
and the baseline alike.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def reference_trajectory(
    path: Path, structure: str, temperature: float, frames: int, seed: int, progress: bool = True
) -> str:
    """A GFN2-xTB Langevin trajectory (frames every 20 steps after 2,000 steps), made once."""
    from equipot.data.readers import read_structure
    from equipot.data.reference import gfn2_calculator
    from equipot.dynamics.sampling import sample_md

    sample_md(
        read_structure(structure),
        gfn2_calculator(),
        path,
        temperature_K=temperature,
        n_frames=frames,
        stride=20,
        equilibration_steps=2000,
        seed=seed,
        level_of_theory="GFN2-xTB",
        code="tblite",
        progress=progress,
    )
    return str(path)


def curve(state: dict) -> list[tuple[int, float, float]]:
    """(labels spent, held-out force MAE, energy MAE) after each round's training, and at the end."""
    points, spent = [], 0
    for r in state["rounds"]:
        if r["test"]:
            points.append((spent, r["test"]["force_mae"], r["test"]["energy_mae"]))
        spent += r["labelled"]
    if state.get("final_test") and (not points or points[-1][0] != spent):
        points.append((spent, state["final_test"]["force_mae"], state["final_test"]["energy_mae"]))
    return points


def label_offsets(state: dict, store: str, test: str) -> tuple[float, float]:
    """Where a side's labels sit: the mean and the largest reference energy of the frames the
    loop added, above the mean of the held-out frames (eV)."""
    import numpy as np

    from equipot.data.store import FrameStore

    with FrameStore(test) as frames:
        reference = np.mean([frames[i].energy for i in range(len(frames))])
    with FrameStore(store) as frames:
        added = np.array([frames[i].energy for i in range(state["initial_frames"], len(frames))]) - reference
    return float(added.mean()), float(added.max())


def main() -> None:
    from equipot.cli import parse_overrides
    from equipot.learn import ActiveLearner, LearnConfig
    from equipot.learn.baseline import RandomLabels
    from equipot.learn.loop import STORE_NAME
    from equipot.plotting import pyplot

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "docs" / "learn" / "ethanol.yaml"))
    parser.add_argument("--out", default="runs/al_ethanol")
    parser.add_argument("--pool-frames", type=int, default=400, help="frames of the random-label pool")
    parser.add_argument("--test-frames", type=int, default=200, help="held-out frames")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting of the config, e.g. --set lower=0.05 (repeatable)",
    )
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    out = Path(args.out)
    base = LearnConfig.from_yaml(args.config, parse_overrides(args.set))
    if len(base.temperatures) != 1 or len(base.structures) != 1:
        raise SystemExit("this benchmark compares at one structure and one temperature")
    t, structure = base.temperatures[0], base.structures[0]
    data = base.data if Path(base.data).is_absolute() else str(ROOT / base.data)
    progress = not args.no_progress
    test = reference_trajectory(out / f"test_{t:g}K.h5", structure, t, args.test_frames, seed=101, progress=progress)
    pool = reference_trajectory(out / f"pool_{t:g}K.h5", structure, t, args.pool_frames, seed=202, progress=progress)
    loop = ActiveLearner(replace(base, data=data, out=str(out / "loop"), test_data=test)).run(progress)
    first = loop["rounds"][0]["models"]
    random = RandomLabels(
        replace(base, data=data, out=str(out / "random"), test_data=test, models=first), pool=pool
    ).run(progress)

    a, b = curve(loop), curve(random)
    print(
        f"Held-out force MAE in meV/Å (energy MAE in meV) on {args.test_frames} GFN2-xTB frames at {t:g} K, "
        "mean over the committee"
    )
    print("| labels | active learning | random frames of reference MD |")
    print("|---|---|---|")
    rows = sorted({p[0] for p in a} | {p[0] for p in b})
    for n in rows:
        la = next((f"{f:.1f} ({e:.1f})" for m, f, e in a if m == n), "-")
        lb = next((f"{f:.1f} ({e:.1f})" for m, f, e in b if m == n), "-")
        print(f"| {n} | {la} | {lb} |")
    print(
        f"Labels against the held-out frames at {t:g} K: reference energy of the added frames above the "
        "held-out mean (eV), and the final committee's mean signed energy error on the held-out frames"
    )
    print("| labels from | mean (eV) | largest (eV) | final signed energy error (meV) |")
    print("|---|---|---|---|")
    for name, folder, state in (("active learning", "loop", loop), ("random frames of reference MD", "random", random)):
        mean, top = label_offsets(state, str(out / folder / STORE_NAME), test)
        print(f"| {name} | {mean:+.2f} | {top:+.2f} | {state['final_test']['energy_bias']:+.1f} |")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([n for n, _, _ in a], [f for _, f, _ in a], "o-", label="active learning (committee MD)")
    ax.plot([n for n, _, _ in b], [f for _, f, _ in b], "s--", label="random frames of GFN2-xTB MD")
    ax.set_xlabel(f"labels added to {base.initial_frames or 'all'} starting frames")
    ax.set_ylabel(f"force MAE at {t:g} K (meV/Å)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "learning_curve.png", dpi=110)
    print(f"plot: {out / 'learning_curve.png'}")


if __name__ == "__main__":
    main()
