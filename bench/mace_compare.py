"""Aspirin MD steps/s: equipot vs. MACE on the same CPU, side by side, alternating.

MACE pins e3nn 0.4.4, so it lives in its own environment: pass that environment's python.
Each round runs equipot and then each MACE variant for the same number of ASE velocity
Verlet steps; the table gives medians over rounds and the ratio per round, so a noisy
machine affects both sides alike.

    python -m venv --system-site-packages /path/mace-venv && /path/mace-venv/bin/pip install mace-torch==0.3.16
    python bench/mace_compare.py --mace-python /path/mace-venv/bin/python [--model NAME|PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from ase import units
from ase.io import read
from ase.md.verlet import VelocityVerlet

from equipot import Equiformer, EquiformerCalculator, EquiformerConfig
from equipot.dynamics.md import initialise_velocities

XYZ = str(resources.files("equipot") / "geometries" / "aspirin.xyz")


def equipot_rate(calc: EquiformerCalculator, steps: int) -> float:
    atoms = read(XYZ)
    atoms.calc = calc
    initialise_velocities(atoms, 300, np.random.default_rng(0), exact=False)
    dyn = VelocityVerlet(atoms, timestep=0.5 * units.fs)
    dyn.run(3)
    t0 = time.perf_counter()
    dyn.run(steps)
    return steps / (time.perf_counter() - t0)


def mace_rate(python: str, hidden: str, dtype: str, steps: int) -> float:
    side = Path(__file__).with_name("_mace_side.py")
    # e3nn 0.4.4 (MACE's pin) torch.loads its own constants the pre-2.6 way
    env = {**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}
    out = subprocess.run(
        [python, str(side), XYZ, hidden, dtype, str(steps)], capture_output=True, text=True, check=True, env=env
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["steps_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mace-python", required=True)
    parser.add_argument("--model", default=None, help="equipot checkpoint or shipped name (default: random 'small')")
    parser.add_argument(
        "--mace-irreps",
        "--mace-hidden",
        dest="mace_hidden",
        nargs="+",
        default=["64x0e+64x1o"],
        help="hidden irreps of each MACE model to time (random weights)",
    )
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--compile", action="store_true", help="equipot with torch.compile (compiled once per dtype, before timing)"
    )
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.model:
        model = args.model
        label = args.model
    else:
        torch.manual_seed(0)
        model = Equiformer(EquiformerConfig.preset("small", species=["H", "C", "N", "O"]))
        label = "equipot small (random weights)"
    if args.compile:
        label += " compiled"
    rows = []
    for dtype in ("float32", "float64"):
        rates: dict[str, list[float]] = {label: []} | {f"MACE {h}": [] for h in args.mace_hidden}
        calc = EquiformerCalculator(model, dtype=dtype, compile=args.compile)
        equipot_rate(calc, 1)  # a compiled model compiles here, outside the timing
        for _ in range(args.rounds):
            rates[label].append(equipot_rate(calc, args.steps))
            for h in args.mace_hidden:
                rates[f"MACE {h}"].append(mace_rate(args.mace_python, h, dtype, args.steps))
        ours = rates[label]
        for name, values in rates.items():
            ratio = statistics.median(o / v for o, v in zip(ours, values))
            rows.append(dict(dtype=dtype, model=name, steps_per_s=statistics.median(values), equipot_ratio=ratio))
    print(
        f"aspirin (21 atoms), ASE velocity Verlet, {args.steps} steps x {args.rounds} rounds, torch threads {torch.get_num_threads()}"
    )
    print(f"{'dtype':<8} {'model':<34} {'steps/s':>8} {'equipot / this':>15}")
    for r in rows:
        print(f"{r['dtype']:<8} {r['model']:<34} {r['steps_per_s']:>8.2f} {r['equipot_ratio']:>15.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
