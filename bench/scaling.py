"""Energy+forces time and peak memory against system size: periodic polyethylene crystals.

Orthorhombic polyethylene (2 chains per cell, C4H8, a=7.42 b=4.95 c=2.55 Å) repeated to
about 100, 1,000 and 10,000 atoms. Neighbour-list time (matscipy) is reported separately
from the model time; peak memory is the resident-set high-water mark of a fresh process
per size (so sizes do not inherit each other's peak).

    python bench/scaling.py [--sizes 100 1000 10000] [--preset small] [--dtype float32]
                            [--checkpoint] [--edge-chunk 20000] [--json F]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np


def polyethylene(target_atoms: int):
    """Crystalline polyethylene repeated to the size closest to ``target_atoms``, preferring
    near-cubic boxes."""
    from equipot.data.polymers import polyethylene_crystal

    a, b, c = polyethylene_crystal().cell.lengths()
    best = min(
        ((nx, ny, nz) for nx in range(1, 30) for ny in range(1, 40) for nz in range(1, 80)),
        key=lambda r: (
            abs(12 * r[0] * r[1] * r[2] - target_atoms) / target_atoms > 0.05,
            np.ptp([r[0] * a, r[1] * b, r[2] * c]),
            abs(12 * r[0] * r[1] * r[2] - target_atoms),
        ),
    )
    return polyethylene_crystal(best)


def measure(size: int, preset: str, dtype: str, repeats: int, checkpoint: bool, edge_chunk: int | None) -> dict:
    import torch

    from equipot import AtomicGraph, EquiformerConfig, Potential

    torch.manual_seed(0)
    model = (
        Potential(
            EquiformerConfig.preset(preset, species=["H", "C"]),
            checkpoint_blocks=checkpoint,
            edge_chunk_size=edge_chunk,
        )
        .to(getattr(torch, dtype))
        .eval()
    )
    atoms = polyethylene(size)
    atoms.rattle(0.02, seed=1)
    nl, calls = [], []
    for k in range(repeats + 1):
        t0 = time.perf_counter()
        graph = AtomicGraph.from_atoms(atoms, model.cutoff, dtype=getattr(torch, dtype))
        t1 = time.perf_counter()
        model(graph, compute_forces=True, compute_stress=True)
        t2 = time.perf_counter()
        if k:  # first call warms up
            nl.append(t1 - t0)
            calls.append(t2 - t1)
    return dict(
        atoms=len(atoms),
        edges=int(graph.edge_index.shape[1]),
        preset=preset,
        dtype=dtype,
        checkpoint=checkpoint,
        edge_chunk=edge_chunk,
        neighbor_list_ms=1000 * float(np.median(nl)),
        model_ms=1000 * float(np.median(calls)),
        model_us_per_atom=1e6 * float(np.median(calls)) / len(atoms),
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        threads=torch.get_num_threads(),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--checkpoint", action="store_true", help="activation checkpointing of the blocks")
    parser.add_argument(
        "--edge-chunk",
        type=int,
        default=None,
        help="attend over about this many edges at a time (Potential(edge_chunk_size=...))",
    )
    parser.add_argument("--json", default=None)
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:  # child process: one size
        print(json.dumps(measure(args.one, args.preset, args.dtype, args.repeats, args.checkpoint, args.edge_chunk)))
        return
    rows = []
    for size in args.sizes:
        cmd = (
            [
                sys.executable,
                __file__,
                "--one",
                str(size),
                "--preset",
                args.preset,
                "--dtype",
                args.dtype,
                "--repeats",
                str(args.repeats if size < 5000 else 1),
            ]
            + (["--checkpoint"] if args.checkpoint else [])
            + (["--edge-chunk", str(args.edge_chunk)] if args.edge_chunk else [])
        )
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            rows.append(dict(atoms=size, error=(out.stderr.strip().splitlines() or ["killed"])[-1]))
            continue
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(
        f"periodic polyethylene, energy+forces+stress, preset {args.preset}, {args.dtype}, "
        f"checkpointing {'on' if args.checkpoint else 'off'}, edge chunks {args.edge_chunk or 'off'}, torch threads {rows[0].get('threads', '?')}"
    )
    print(f"{'atoms':>7} {'edges':>9} {'nlist ms':>9} {'model ms':>10} {'us/atom':>8} {'peak MB':>8}")
    for r in rows:
        if "error" in r:
            print(f"{r['atoms']:>7}  failed: {r['error']}")
            continue
        print(
            f"{r['atoms']:>7} {r['edges']:>9} {r['neighbor_list_ms']:>9.1f} {r['model_ms']:>10.1f} "
            f"{r['model_us_per_atom']:>8.1f} {r['peak_rss_mb']:>8.0f}"
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
