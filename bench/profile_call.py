"""Where one aspirin energy+forces call of a model spends its time (torch.profiler, CPU).

    python bench/profile_call.py [--model aspirin-gfn2] [--dtype float32] [--threads 2] [--replicas 32]
    python bench/profile_call.py --phases [--systems aspirin ethanol melt] [--threads 1]

``--replicas N`` profiles instead the one batched call of ``ReplicaDynamics`` for N aspirins.
Prints the aten operations per call and the operations with the largest self time.

``--phases`` splits one MD step (an energy+forces call through ``EquiformerCalculator``) of
each system into the model's phases (``equipot.profiling``): milliseconds, share, forward
GFLOP and achieved GFLOP/s against the CPU's peak (``bench/flops.py``). "melt" is a periodic
box of 992 atoms (31 polyethylene 5-mers packed at 0.5 g/cm^3) with polymers-gfn2;
the molecules use ``--model``.
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
    parser.add_argument("--phases", action="store_true", help="time and FLOPs per phase of the model instead")
    parser.add_argument("--systems", nargs="+", default=["aspirin", "ethanol", "melt"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.phases:
        for system in args.systems:
            phase_table(system, args)
        return
    atoms = read_structure("aspirin")
    if args.replicas:
        from equipot.dynamics.replicas import ReplicaDynamics

        batch = ReplicaDynamics(args.model, [atoms] * args.replicas, temperature_K=500, dtype=args.dtype)

        def call() -> None:
            batch.positions += 1e-3
            batch._compute()
    else:
        atoms.calc = EquiformerCalculator(args.model, dtype=args.dtype, compile=False)

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


def phase_table(system: str, args) -> None:
    """The phases of one energy+forces call of ``system``, as a markdown table."""
    from flops import cpu_peak_gflops

    from equipot.profiling import phase_profile

    if system == "melt":
        from equipot.data.melts import pack_chains
        from equipot.data.polymers import ALIASES, build_oligomer

        atoms = pack_chains([build_oligomer(ALIASES["pe"], 5, seed=k) for k in range(31)], 0.5, seed=0)
        model = "polymers-gfn2"
    else:
        atoms, model = read_structure(system), args.model
    calc = EquiformerCalculator(model, dtype=args.dtype, num_threads=args.threads, compile=False)
    times, flops, total = phase_profile(calc, atoms, calls=args.calls)
    peak = cpu_peak_gflops(calc.dtype)
    print(
        f"\n{system} ({len(atoms)} atoms), {model}, {args.dtype}, {args.threads} threads: {total:.1f} ms per call "
        f"({sum(flops.values()) / 1e9:.2f} GFLOP counted), peak {peak:.0f} GFLOP/s"
    )
    print("| phase | ms | share | GFLOP | GFLOP/s | % of peak |\n|---|---|---|---|---|---|")
    for phase, ms in sorted(times.items(), key=lambda kv: -kv[1]):
        gflop = flops.get(phase, 0.0) / 1e9
        rate = gflop / (ms / 1000) if ms > 0 and gflop else 0.0
        cells = f"{gflop:.3f} | {rate:.1f} | {100 * rate / peak:.1f}" if gflop else "- | - | -"
        print(f"| {phase} | {ms:.2f} | {100 * ms / total:.1f}% | {cells} |")


if __name__ == "__main__":
    main()
