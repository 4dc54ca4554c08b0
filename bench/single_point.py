"""Parameter count and CPU time of one energy+forces call on aspirin (21 atoms).

Times go through ``EquiformerCalculator`` with the positions moved slightly before every
call (as in MD, so nothing is cached). Prints a table; ``--json FILE`` also writes it.

    python bench/single_point.py [--repeats 20] [--threads N] [--full-last-layer] [--json out.json]

``--full-last-layer`` measures one lever: the last attention layer computing only its value
paths to 0e (the default) against all of them, alternating.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch

from equipot import Equiformer, EquiformerCalculator, EquiformerConfig
from equipot.data.readers import read_structure
from equipot.model import PRESETS


def time_calls(calc: EquiformerCalculator, atoms, repeats: int) -> list[float]:
    rng = np.random.default_rng(0)
    atoms = atoms.copy()
    atoms.calc = calc
    times = []
    for k in range(repeats + 2):
        atoms.positions += rng.normal(scale=1e-3, size=atoms.positions.shape)
        t0 = time.perf_counter()
        atoms.get_forces()
        if k >= 2:  # the first calls build caches and warm up the allocator
            times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default=None)
    parser.add_argument(
        "--full-last-layer",
        action="store_true",
        help="also time the model with its last attention layer unpruned (all value paths, "
        "not only those to 0e), alternating with the pruned one in 5 rounds",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    atoms = read_structure("aspirin")
    rows = []
    for preset in PRESETS:
        torch.manual_seed(0)
        model = Equiformer(EquiformerConfig.preset(preset, species=["H", "C", "N", "O"]))
        for dtype in ("float32", "float64"):
            calc = EquiformerCalculator(model, dtype=dtype, compile=False)
            if not args.full_last_layer:
                times = time_calls(calc, atoms, args.repeats)
            else:
                last = calc.model.network.blocks[-1].attention
                times, full = [], []
                for _ in range(5):
                    for pruned, into in ((True, times), (False, full)):
                        last.scalars_only = pruned
                        into += time_calls(calc, atoms, max(args.repeats // 5, 1))
                last.scalars_only = True
            row = dict(
                preset=preset,
                dtype=dtype,
                parameters=model.num_parameters(),
                median_ms=1000 * statistics.median(times),
                min_ms=1000 * min(times),
                calls_per_s=1 / statistics.median(times),
            )
            if args.full_last_layer:
                row.update(
                    full_last_layer_median_ms=1000 * statistics.median(full),
                    last_layer_gain=statistics.median(full) / statistics.median(times),
                )
            rows.append(row)
    print(f"aspirin (21 atoms), energy+forces, torch threads = {torch.get_num_threads()}")
    extra = f" {'unpruned ms':>12} {'gain':>6}" if args.full_last_layer else ""
    print(f"{'preset':<8} {'dtype':<8} {'parameters':>11} {'median ms':>10} {'min ms':>8} {'calls/s':>8}{extra}")
    for r in rows:
        extra = (
            f" {r['full_last_layer_median_ms']:>12.1f} {r['last_layer_gain']:>5.2f}x" if args.full_last_layer else ""
        )
        print(
            f"{r['preset']:<8} {r['dtype']:<8} {r['parameters']:>11,} {r['median_ms']:>10.1f} "
            f"{r['min_ms']:>8.1f} {r['calls_per_s']:>8.2f}{extra}"
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
