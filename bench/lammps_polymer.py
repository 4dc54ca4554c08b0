"""Throughput of the 1,107-atom polymer box: LAMMPS NPT with pair_style equipot on 1 and 2 MPI
ranks, node features exchanged per block or a full ghost shell, against ``equipot md``
(Langevin NVT through the ASE calculator) on the same box.

Writes the box as a LAMMPS data file, runs ``docs/lammps/polymer_npt.in`` for ``--steps`` steps
under ``mpirun -np R equipot lammps`` (LAMMPS's own loop time) and the same number of steps of
``run_md`` (its wall time, after the first call), and prints steps/s for each.

    python bench/lammps_polymer.py --steps 10 --ranks 1 2 --shells exchange full
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def lammps_steps_per_s(data: Path, model: str, steps: int, ranks: int, shell: str, dtype: str = "float64") -> float:
    mpirun = Path(sys.executable).with_name("mpirun")
    equipot = Path(sys.executable).with_name("equipot")
    cmd = [
        str(equipot),
        "lammps",
        str(ROOT / "docs" / "lammps" / "polymer_npt.in"),
        "--dtype",
        dtype,
        "-var",
        "data",
        str(data),
        "-var",
        "model",
        model,
        "-var",
        "shell",
        shell,
        "-var",
        "steps",
        str(steps),
    ]
    if ranks > 1:
        cmd = [str(mpirun), "-np", str(ranks), *cmd]
    # two ranks on two cores: one torch thread each
    env = {**os.environ, **({"OMP_NUM_THREADS": "1"} if ranks > 1 else {})}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=data.parent)  # log.lammps goes there
    if out.returncode:
        raise SystemExit(f"LAMMPS failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    loop = re.search(r"Loop time of ([0-9.eE+-]+) on (\d+) procs for (\d+) steps", out.stdout)
    return int(loop.group(3)) / float(loop.group(1))


def equipot_steps_per_s(box, model: str, steps: int, dtype: str = "float64") -> float:
    from equipot.calculator import EquiformerCalculator
    from equipot.dynamics.md import run_md

    atoms = box.copy()
    atoms.calc = EquiformerCalculator(model, dtype=dtype)
    atoms.get_forces()  # the first call builds the neighbour list: not part of the loop
    result = run_md(atoms, temperature_K=300, steps=steps, monitors=[], progress=False)
    return steps / result.wall_s


def main() -> None:
    from ase.io import read, write

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--box", default=str(ROOT / "md" / "reports" / "polymers" / "box.xyz"))
    parser.add_argument("--model", default="polymers-gfn2")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--shells", nargs="+", default=["exchange", "full"], choices=["exchange", "full"])
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    args = parser.parse_args()
    box = read(args.box)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "box.data"
        write(data, box, format="lammps-data", specorder=["H", "C", "O", "Cl"], masses=True)
        for shell in args.shells:
            for ranks in args.ranks:
                rows.append(
                    (
                        f"LAMMPS NPT, pair_style equipot ({shell}), {ranks} rank{'s' if ranks > 1 else ''}",
                        lammps_steps_per_s(data, args.model, args.steps, ranks, shell, args.dtype),
                    )
                )
    rows.append(
        (
            "equipot md (ASE Langevin, EquiformerCalculator), 1 process",
            equipot_steps_per_s(box, args.model, args.steps, args.dtype),
        )
    )
    print(f"{len(box)}-atom polymer box, {args.model}, {args.dtype}, {args.steps} steps\n")
    print("| run | steps/s | s/step | relative to equipot md |")
    print("|---|---|---|---|")
    for name, rate in rows:
        print(f"| {name} | {rate:.3f} | {1 / rate:.2f} | {rate / rows[-1][1]:.2f} |")


if __name__ == "__main__":
    main()
