"""Seconds per training epoch with one process against ``equipot train --procs N``.

The same config trains for a few epochs, alternately as one process with all the config's
threads and as N data-parallel processes sharing them (``--procs``), for ``--rounds`` rounds so a
noisy machine affects both alike. The table gives the median seconds per epoch (the first
epoch of each run left out: it warms up) and their ratio, and the final training loss of each
side: the two train the same way (the same global batches, gradients summed across processes), so
those losses differ only by float rounding, which grows slowly over the steps.

    python bench/train_procs.py equipot/models/aspirin-gfn2.yaml --procs 2 --train-size 400
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(config: str, procs: int, out: Path, args) -> tuple[list[float], float]:
    """Seconds of each epoch after the first, and the last epoch's training loss."""
    cmd = [
        sys.executable,
        "-m",
        "equipot",
        "train",
        config,
        "--procs",
        str(procs),
        "--set",
        f"train_size={args.train_size:g}",
        f"epochs={args.epochs}",
        "time_limit_minutes=null",
        f"out={out}",
        "progress=false",
        *args.set,
    ]
    # a smaller train_size than the config's draws its own split: that warning is expected here
    env = {**os.environ, "PYTHONWARNINGS": "ignore::UserWarning"}
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, env=env)
    with open(out / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    return [float(r["seconds"]) for r in rows[1:]], float(rows[-1]["train_loss"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="an equipot train YAML (its num_threads are shared out over the processes)")
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument(
        "--train-size",
        type=float,
        default=400,
        help="training frames, or a fraction of each file (a shorter epoch than the config's)",
    )
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="more config overrides")
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first epoch is not timed)")

    seconds: dict[int, list[float]] = {1: [], args.procs: []}
    losses: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for procs in seconds:
                s, losses[procs] = run(args.config, procs, Path(tmp) / f"p{procs}_r{r}", args)
                seconds[procs] += s
                print(
                    f"round {r + 1}, {procs} process(es): " + " ".join(f"{x:.1f}" for x in s) + " s/epoch", flush=True
                )
    one = statistics.median(seconds[1])
    print(f"\n{args.config}, train_size {args.train_size:g}, {args.epochs} epochs x {args.rounds} rounds")
    print(f"{'processes':>9} {'s/epoch (median)':>17} {'speed-up':>9} {'final train loss':>17}")
    for procs, s in seconds.items():
        print(f"{procs:>9} {statistics.median(s):>17.1f} {one / statistics.median(s):>9.2f} {losses[procs]:>17.6g}")


if __name__ == "__main__":
    main()
