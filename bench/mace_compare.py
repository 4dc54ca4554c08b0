"""MD steps/s of small molecules: equipot against MACE on the same CPU, side by side, alternating.

MACE pins e3nn 0.4.4, so it lives in its own environment: pass that environment's python.
Each round runs equipot (eager, and with ``--modes eager compiled`` also its compiled kernel,
``equipot compile``, made before the timing if missing) and then each MACE variant (eager, its
CPU path as it ships) for the same number of ASE velocity Verlet steps; the table gives medians
over rounds and the median per-round ratio of equipot's first mode to each row, so a noisy
machine affects both sides alike.

    python -m venv --system-site-packages /path/mace-venv && /path/mace-venv/bin/pip install mace-torch==0.3.16
    python bench/mace_compare.py --mace-python /path/mace-venv/bin/python [--model NAME|PATH] \
        [--molecules aspirin ethanol] [--modes eager compiled] [--threads 1]
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

GEOMETRIES = resources.files("equipot") / "geometries"


def equipot_rate(calc: EquiformerCalculator, steps: int, molecule: str = "aspirin") -> float:
    atoms = read(str(GEOMETRIES / f"{molecule}.xyz"))
    atoms.calc = calc
    initialise_velocities(atoms, 300, np.random.default_rng(0), exact=False)
    dyn = VelocityVerlet(atoms, timestep=0.5 * units.fs)
    dyn.run(3)
    t0 = time.perf_counter()
    dyn.run(steps)
    return steps / (time.perf_counter() - t0)


def mace_rate(python: str, hidden: str, dtype: str, steps: int, molecule: str = "aspirin") -> float:
    side = Path(__file__).with_name("_mace_side.py")
    # e3nn 0.4.4 (MACE's pin) torch.loads its own constants the pre-2.6 way
    env = {**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}
    out = subprocess.run(
        [python, str(side), str(GEOMETRIES / f"{molecule}.xyz"), hidden, dtype, str(steps)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
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
    parser.add_argument("--molecules", nargs="+", default=["aspirin"], help="geometries in equipot/geometries")
    parser.add_argument(
        "--modes",
        nargs="+",
        default=["eager"],
        choices=["eager", "compiled"],
        help="equipot's kernels to time; each gets a ratio column",
    )
    parser.add_argument("--compile", action="store_true", help="same as --modes compiled")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--threads", type=int, default=None, help="torch threads of both sides")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.compile:
        args.modes = ["compiled"]
    if args.threads:
        torch.set_num_threads(args.threads)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    if args.model:
        model = args.model
        label = args.model
    else:
        torch.manual_seed(0)
        model = Equiformer(EquiformerConfig.preset("small", species=["H", "C", "N", "O"]))
        label = "equipot small (random weights)"
    rows = []
    for molecule in args.molecules:
        for dtype in args.dtypes:
            rows += compare(args, model, label, molecule, dtype)
    print(f"ASE velocity Verlet, {args.steps} steps x {args.rounds} rounds, torch threads {torch.get_num_threads()}")
    print(
        f"{'molecule':<10} {'dtype':<8} {'model':<40} {'steps/s':>8} "
        + " ".join(f"{m + ' / this':>16}" for m in args.modes)
    )
    for r in rows:
        ratios = " ".join(f"{r['ratios'][m]:>16.2f}" for m in args.modes)
        print(f"{r['molecule']:<10} {r['dtype']:<8} {r['model']:<40} {r['steps_per_s']:>8.2f} {ratios}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


def compare(args, model, label: str, molecule: str, dtype: str) -> list[dict]:
    """One molecule and dtype: every equipot mode and MACE variant, alternating in rounds."""
    calcs = {
        f"{label} {mode}": EquiformerCalculator(model, dtype=dtype, compile=mode == "compiled") for mode in args.modes
    }
    rates: dict[str, list[float]] = {name: [] for name in calcs} | {f"MACE {h}": [] for h in args.mace_hidden}
    for calc in calcs.values():
        equipot_rate(calc, 1, molecule)  # a missing compiled kernel is made here, outside the timing
    for _ in range(args.rounds):
        for name, calc in calcs.items():
            rates[name].append(equipot_rate(calc, args.steps, molecule))
        for h in args.mace_hidden:
            rates[f"MACE {h}"].append(mace_rate(args.mace_python, h, dtype, args.steps, molecule))
    return [
        dict(
            molecule=molecule,
            dtype=dtype,
            model=name,
            steps_per_s=statistics.median(values),
            # each equipot mode's steps/s over this row's, median over rounds
            ratios={
                mode: statistics.median(o / v for o, v in zip(rates[f"{label} {mode}"], values)) for mode in args.modes
            },
        )
        for name, values in rates.items()
    ]


if __name__ == "__main__":
    main()
