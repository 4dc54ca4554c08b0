"""FLOPs of one energy+forces call, achieved GFLOP/s, and the operation that dominates.

Counts the matrix-product FLOPs (mm, bmm, addmm, einsum-as-bmm) of forward + backward with
``torch.utils.flop_counter``; elementwise work is not counted, so the achieved rate is a
lower bound on what the CPU does. The peak is cores x clock x FLOPs/cycle (AVX2 with two FMA
units: 16 float64 or 32 float32 FLOPs per cycle per core); pass --peak-gflops to override.

    python bench/flops.py [--preset md17] [--dtype float32] [--json F]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from equipot import AtomicGraph, EquiformerConfig, Potential
from equipot.data.readers import read_structure


def cpu_peak_gflops(dtype: torch.dtype) -> float:
    """cores x MHz x FLOPs/cycle from /proc/cpuinfo (AVX-512: twice AVX2)."""
    text = open("/proc/cpuinfo").read()
    mhz = float(re.search(r"cpu MHz\s*:\s*([\d.]+)", text).group(1))
    per_cycle = 16 if dtype == torch.float64 else 32  # AVX2, 2 FMA units
    if "avx512f" in text:
        per_cycle *= 2
    cores = len(os.sched_getaffinity(0))
    return cores * mhz * 1e-3 * per_cycle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="md17")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--peak-gflops", type=float, default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)
    torch.manual_seed(0)
    model = Potential(EquiformerConfig.preset(args.preset, species=["H", "C", "N", "O"])).to(dtype).eval()
    atoms = read_structure("aspirin")
    graph = AtomicGraph.from_atoms(atoms, model.cutoff, dtype=dtype)

    counter = FlopCounterMode(display=False)
    with counter:
        model(graph)
    total = counter.get_total_flops()
    by_op = {str(k): v for k, v in counter.get_flop_counts()["Global"].items()}

    model(graph)
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        model(graph)
        times.append(time.perf_counter() - t0)
    seconds = statistics.median(times)
    peak = args.peak_gflops or cpu_peak_gflops(dtype)
    achieved = total / seconds / 1e9

    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        model(graph)
    top = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)[:5]
    row = dict(
        preset=args.preset,
        dtype=args.dtype,
        gflop=total / 1e9,
        median_ms=1000 * seconds,
        achieved_gflops=achieved,
        peak_gflops=peak,
        fraction_of_peak=achieved / peak,
        flops_by_op={k: v / 1e9 for k, v in by_op.items()},
        top_ops_by_time=[(e.key, e.self_cpu_time_total / 1000) for e in top],
    )
    print(f"aspirin, energy+forces, preset {args.preset}, {args.dtype}, torch threads {torch.get_num_threads()}")
    print(
        f"matrix-product work: {row['gflop']:.3f} GFLOP in {row['median_ms']:.1f} ms -> "
        f"{achieved:.2f} GFLOP/s = {100 * row['fraction_of_peak']:.1f}% of {peak:.0f} GFLOP/s peak"
    )
    print("GFLOP by operation:", ", ".join(f"{k} {v:.3f}" for k, v in row["flops_by_op"].items()))
    print("self CPU time by operation (ms):", ", ".join(f"{k} {v:.1f}" for k, v in row["top_ops_by_time"]))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(row, fh, indent=2)


if __name__ == "__main__":
    main()
