"""Training throughput (frames/s): equipot vs. MACE on the same aspirin frames and CPU.

Both sides train from random weights on the first ``--frames`` GFN2-xTB aspirin frames with
energy + force MSE, AdamW and batches of ``--batch-size``; the neighbour lists are built
before timing on both sides. Pairs of similar size are compared (``--presets`` with
``--mace-hidden``, by position); rounds alternate the two sides so a noisy machine affects
both alike, and the table gives medians.

    python bench/train_throughput.py --mace-python /path/mace-venv/bin/python [--batch-size 8]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from train_step import train_step, training_setup  # bench/, this script's directory

from equipot.data.store import FrameStore

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "datasets" / "md17_gfn2" / "aspirin.h5"


def equipot_rate(preset: str, frames: int, batch_size: int, steps: int, dtype: str) -> tuple[float, int]:
    model, graphs = training_setup(preset, frames, getattr(torch, dtype))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    for _ in range(2):
        train_step(model, graphs, optimizer, rng, batch_size, getattr(torch, dtype), energy_weight=1)
    t0 = time.perf_counter()
    for _ in range(steps):
        train_step(model, graphs, optimizer, rng, batch_size, getattr(torch, dtype), energy_weight=1)
    return steps * batch_size / (time.perf_counter() - t0), model.num_parameters()


def write_extxyz(frames: int, path: str) -> None:
    from ase.io import write

    atoms_list = []
    with FrameStore(DATA) as store:
        for k in range(frames):
            frame = store[k]
            atoms = frame.to_atoms()
            atoms.calc = None
            atoms.info["REF_energy"] = frame.energy
            atoms.arrays["REF_forces"] = np.asarray(frame.forces)
            atoms_list.append(atoms)
    write(path, atoms_list, format="extxyz")


def mace_rate(python: str, xyz: str, hidden: str, dtype: str, batch_size: int, steps: int) -> tuple[float, int]:
    side = Path(__file__).with_name("_mace_train_side.py")
    env = {**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}  # e3nn 0.4.4 loads its constants the old way
    out = subprocess.run(
        [python, str(side), xyz, hidden, dtype, str(batch_size), str(steps)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=str(side.parent),
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["frames_per_s"], result["parameters"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mace-python", default=None, help="python of an environment with mace-torch; omit for equipot only"
    )
    parser.add_argument("--presets", nargs="+", default=["small", "medium"])
    parser.add_argument("--mace-hidden", nargs="+", default=["64x0e+64x1o", "128x0e+128x1o"])
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.mace_python and len(args.presets) != len(args.mace_hidden):
        parser.error("give one --mace-hidden per --presets entry (they are compared in pairs)")
    torch.set_num_threads(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        xyz = str(Path(tmp) / "aspirin.extxyz")
        write_extxyz(args.frames, xyz)
        for k, preset in enumerate(args.presets):
            ours, theirs, n_ours, n_theirs = [], [], 0, 0
            for _ in range(args.rounds):
                rate, n_ours = equipot_rate(preset, args.frames, args.batch_size, args.steps, args.dtype)
                ours.append(rate)
                if args.mace_python:
                    rate, n_theirs = mace_rate(
                        args.mace_python, xyz, args.mace_hidden[k], args.dtype, args.batch_size, args.steps
                    )
                    theirs.append(rate)
            row = {"preset": preset, "parameters": n_ours, "frames_per_s": statistics.median(ours)}
            if theirs:
                row.update(
                    mace_hidden=args.mace_hidden[k],
                    mace_parameters=n_theirs,
                    mace_frames_per_s=statistics.median(theirs),
                    ratio=statistics.median([a / b for a, b in zip(ours, theirs)]),
                )
            rows.append(row)

    print(
        f"aspirin training, batch {args.batch_size}, {args.dtype}, {args.threads} threads, "
        f"{args.steps} steps x {args.rounds} rounds (medians)"
    )
    print(f"{'model':<32} {'parameters':>11} {'frames/s':>9} {'equipot / MACE':>15}")
    for row in rows:
        print(f"{'equipot ' + row['preset']:<32} {row['parameters']:>11,} {row['frames_per_s']:>9.2f}")
        if "mace_hidden" in row:
            print(
                f"{'MACE ' + row['mace_hidden']:<32} {row['mace_parameters']:>11,} {row['mace_frames_per_s']:>9.2f} "
                f"{row['ratio']:>15.2f}"
            )
    if args.json:
        Path(args.json).write_text(json.dumps({"settings": vars(args), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
