"""Where one aspirin energy+forces call of a model spends its time (torch.profiler, CPU).

    python bench/profile_call.py [--model aspirin-gfn2] [--dtype float32] [--threads 2] [--replicas 32]

``--replicas N`` profiles instead the one batched call of ``ReplicaDynamics`` for N aspirins.

Prints the aten operations per call and the operations with the largest self time.
"""

from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile

from equipot import EquiformerCalculator
from equipot.data.readers import read_structure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="aspirin-gfn2")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--rows", type=int, default=12)
    parser.add_argument("--replicas", type=int, default=0, help="profile one batched call of N aspirins instead")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    atoms = read_structure("aspirin")
    if args.replicas:
        from equipot.dynamics.replicas import ReplicaDynamics

        batch = ReplicaDynamics(args.model, [atoms] * args.replicas, temperature_K=500, dtype=args.dtype)

        def call() -> None:
            batch.positions += 1e-3
            batch._compute()
    else:
        atoms.calc = EquiformerCalculator(args.model, dtype=args.dtype)

        def call() -> None:
            atoms.positions += 1e-3  # a new geometry each call: nothing cached
            atoms.get_forces()

    for _ in range(2):
        call()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.calls):
            call()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    what = f"{args.replicas} aspirins batched" if args.replicas else "one aspirin"
    print(
        f"{args.model}, {what}, {args.dtype}, {args.threads} threads: {sum(e.count for e in events) / args.calls:,.0f} "
        f"operations and {total / args.calls / 1000:.1f} ms (profiled) per call"
    )
    print(f"{'operation':<40} {'share':>7} {'calls/call':>11}")
    for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[: args.rows]:
        print(f"{e.key[:40]:<40} {100 * e.self_cpu_time_total / total:>6.1f}% {e.count / args.calls:>11.0f}")


if __name__ == "__main__":
    main()
