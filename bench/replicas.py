"""Replica-steps per second: R aspirin replicas batched vs. the same replicas run one by one
through ASE (VelocityVerlet + EquiformerCalculator).

    python bench/replicas.py [--model aspirin-gfn2-small] [--replicas 32] [--steps 20] [--rounds 3] [--workers N]
                             [--dtype float32] [--compile] [--json F]

The two sides alternate, ``--rounds`` times, so that a drift in the machine's speed hits both;
the speed-up is the median of the per-round ratios. With ``--compile`` both sides run through
``torch.compile``, compiled before the timing.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time

import numpy as np
import torch
from ase import units
from ase.md.verlet import VelocityVerlet

from equipot import Equiformer, EquiformerCalculator, EquiformerConfig, load_model
from equipot.data.readers import read_structure
from equipot.dynamics.md import initialise_velocities
from equipot.dynamics.replicas import ReplicaDynamics


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--sequential-steps", type=int, default=5, help="ASE steps per replica")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of both sides")
    parser.add_argument(
        "--model",
        default="aspirin-gfn2-small",
        help="checkpoint or shipped name, or 'random' for random weights of --preset (whose "
        "forces push the molecule apart, so it loses edges as the run goes)",
    )
    parser.add_argument("--preset", default="small")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="ReplicaDynamics(workers=...): parallel groups of replicas per call (default: its own)",
    )
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--sequential-device",
        default=None,
        help="device of the sequential ASE runs (default: --device), e.g. cpu vs. a cuda batch",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--compile", action="store_true", help="torch.compile both sides (compiled before timing)")
    parser.add_argument("--json", default=None)
    return parser


def main() -> None:
    args = _parser().parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    seq_device = args.sequential_device or args.device
    atoms = read_structure("aspirin")
    if args.model != "random":
        model = load_model(args.model, dtype=args.dtype, device=args.device)
    else:
        torch.manual_seed(0)
        model = Equiformer(EquiformerConfig.preset(args.preset, species=["H", "C", "N", "O"]))

    # sequential: one ASE run per replica, a few steps each (the rate does not depend on count)
    calc = EquiformerCalculator(copy.deepcopy(model), dtype=args.dtype, device=seq_device, compile=args.compile)
    a = atoms.copy()
    a.calc = calc
    initialise_velocities(a, 500, np.random.default_rng(0), exact=False)
    dyn = VelocityVerlet(a, timestep=0.5 * units.fs)
    dyn.run(2)
    replicas = ReplicaDynamics(
        model,
        [atoms] * args.replicas,
        temperature_K=500,
        ensemble="nvt",
        dtype=args.dtype,
        device=args.device,
        compile=args.compile,
        workers=args.workers,
    )
    replicas.run(steps=2, progress=False)

    rounds = []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        dyn.run(args.sequential_steps * 4)
        sequential = args.sequential_steps * 4 / (time.perf_counter() - t0)
        batched = replicas.run(steps=args.steps, progress=False).replica_steps_per_s
        rounds.append((sequential, batched))
    sequential = statistics.median(s for s, _ in rounds)
    batched = statistics.median(b for _, b in rounds)
    speedup = statistics.median(b / s for s, b in rounds)
    row = dict(
        model=args.model,
        replicas=args.replicas,
        workers=replicas.workers,
        dtype=args.dtype,
        compiled=args.compile,
        device=args.device,
        sequential_device=seq_device,
        sequential_replica_steps_per_s=sequential,
        batched_replica_steps_per_s=batched,
        speedup=speedup,
        rounds=[dict(sequential=s, batched=b) for s, b in rounds],
        threads=torch.get_num_threads(),
    )
    print(
        f"aspirin, {args.model}, {args.replicas} replicas in {replicas.workers} group(s), {args.dtype}{', compiled' if args.compile else ''}, batched on {args.device}, sequential on {seq_device}, "
        f"torch threads {row['threads']}"
    )
    print(f"{'mode':<28} {'replica-steps/s':>16}")
    print(f"{'sequential ASE runs':<28} {sequential:>16.2f}")
    print(f"{'batched ReplicaDynamics':<28} {batched:>16.2f}")
    print(f"{'speed-up':<28} {speedup:>16.2f}x   (per round: {', '.join(f'{b / s:.2f}x' for s, b in rounds)})")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(row, fh, indent=2)


if __name__ == "__main__":
    main()
