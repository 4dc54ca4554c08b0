"""Force-call time of a shipped model on aspirin, eager against the compiled kernel
(``equipot.compiled``), alternating; and what compiling costs a user.

Per dtype: the time to make the artifact (``equipot compile``; skipped when it exists, unless
``--rebuild``), the first call of a fresh calculator that finds it (loading included), then
rounds of ``--calls`` force calls (positions jittered, neighbour list reused as in MD) through an
eager calculator and the compiled one; the table gives medians and the median per-round ratio.

    python bench/compile_speedup.py [--model aspirin-gfn2] [--dtype float32 float64] [--rebuild]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from ase.io import read

from equipot import EquiformerCalculator

XYZ = str(resources.files("equipot") / "geometries" / "aspirin.xyz")


def ms_per_call(atoms, calc: EquiformerCalculator, calls: int, rng: np.random.Generator) -> float:
    atoms.calc = calc
    t0 = time.perf_counter()
    for _ in range(calls):
        atoms.positions += 0.001 * rng.standard_normal(atoms.positions.shape)
        atoms.get_forces()
    return 1000 * (time.perf_counter() - t0) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="aspirin-gfn2")
    parser.add_argument("--dtype", nargs="+", default=["float32", "float64"])
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rebuild", action="store_true", help="make the artifact again, and time it")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    from equipot.checkpoint import load_model
    from equipot.compiled import artifact_path, build

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    rows = []
    for dtype in args.dtype:
        atoms = read(XYZ)
        model = load_model(args.model, dtype=dtype)
        build_s = float("nan")
        if args.rebuild or not artifact_path(model).is_file():
            t0 = time.perf_counter()
            build(model, progress=False)
            build_s = time.perf_counter() - t0
        eager = EquiformerCalculator(args.model, dtype=dtype, compile=False)
        compiled = EquiformerCalculator(args.model, dtype=dtype, compile=True)
        atoms.calc = compiled
        t0 = time.perf_counter()
        forces = atoms.get_forces().copy()
        first_s = time.perf_counter() - t0
        atoms.calc = eager
        max_diff = float(np.abs(atoms.get_forces() - forces).max())
        ms_per_call(atoms, eager, 3, rng)
        ms_per_call(atoms, compiled, 3, rng)
        e_ms, c_ms = [], []
        for _ in range(args.rounds):
            e_ms.append(ms_per_call(atoms, eager, args.calls, rng))
            c_ms.append(ms_per_call(atoms, compiled, args.calls, rng))
        rows.append(
            dict(
                dtype=dtype,
                eager_ms=statistics.median(e_ms),
                compiled_ms=statistics.median(c_ms),
                speedup=statistics.median(e / c for e, c in zip(e_ms, c_ms)),
                build_s=build_s,
                first_call_s=first_s,
                max_force_diff=max_diff,
            )
        )
    print(
        f"{args.model}, aspirin (21 atoms), force calls, {args.calls} x {args.rounds} rounds, "
        f"torch threads {torch.get_num_threads()}"
    )
    print(
        f"{'dtype':<8} {'eager ms':>9} {'compiled ms':>12} {'speed-up':>9} {'compile s':>10} "
        f"{'first call s':>13} {'max |dF| eV/Å':>14}"
    )
    for r in rows:
        print(
            f"{r['dtype']:<8} {r['eager_ms']:>9.1f} {r['compiled_ms']:>12.1f} {r['speedup']:>9.2f} "
            f"{r['build_s']:>10.1f} {r['first_call_s']:>13.2f} {r['max_force_diff']:>14.2e}"
        )
    print("compile s: making the artifact (nan: it existed); first call: a fresh calculator, loading included")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
