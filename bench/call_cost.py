"""CPU time of one energy, forces and stress call of several models on the same structure.

The structure is any file ASE reads, the first frame of a frame store, or a shipped geometry.
Calls go through ``EquiformerCalculator`` with the positions moved slightly before each (as in
MD, so nothing is cached), the models alternating round by round; prints the median per call
and each model's median per-round ratio to the first, so a noisy machine affects all alike.

    python bench/call_cost.py polymers33-melts-gfn2 polymers33-melts-d3-gfn2 \\
        --structure datasets/melts_density_gfn2/pe_160_450K_0.688gcc.h5 --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="shipped model names or checkpoints")
    parser.add_argument("--structure", required=True, help="a structure file, a frame store or a shipped geometry")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=5, help="calls per model and round")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    import torch

    from equipot import EquiformerCalculator
    from equipot.data.readers import read_structure

    if args.threads:
        torch.set_num_threads(args.threads)
    atoms = read_structure(args.structure)
    stress = bool(atoms.pbc.all())
    calcs = {m: EquiformerCalculator(m, dtype=args.dtype) for m in args.models}
    rng = np.random.default_rng(0)
    times: dict[str, list[float]] = {m: [] for m in args.models}
    for round_ in range(args.rounds + 1):  # round 0 warms up
        for model, calc in calcs.items():
            probe = atoms.copy()
            probe.calc = calc
            start = time.perf_counter()
            for _ in range(args.calls):
                probe.positions += rng.normal(scale=1e-4, size=probe.positions.shape)
                probe.get_forces()
                if stress:
                    probe.get_stress()
            if round_:
                times[model].append((time.perf_counter() - start) / args.calls)
    first = times[args.models[0]]
    print(
        f"{args.structure}: {len(atoms)} atoms, {args.dtype}, {torch.get_num_threads()} thread(s), "
        f"{args.rounds} rounds of {args.calls} calls (energy, forces{', stress' if stress else ''})\n"
    )
    print(f"| model | ms per call (median) | against {args.models[0]} |")
    print("|---|---|---|")
    for model, mine in times.items():
        ratio = statistics.median(a / b for a, b in zip(mine, first))
        print(f"| {model} | {1e3 * statistics.median(mine):.1f} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
