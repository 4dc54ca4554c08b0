"""Build a periodic polymer melt for LAMMPS: oligomers packed loose, compressed to a density by
MD on an equipot model, briefly equilibrated, and checked (``equipot.dynamics.compress.build_melt``
and ``equipot.data.melts.MeltCheck``: bonds as built, no two chains overlapping). The building
MD runs with the wall of ``equipot.dynamics.walls``; the LAMMPS run that follows does not.

Writes OUT/box.data (LAMMPS ``atom_style atomic``, one atom type per element in the order
printed), OUT/box.xyz (extended XYZ with each atom's chain, the reference of the check) and
prints the ``equipot lammps`` command that runs ``docs/lammps/melt_npt.in`` on it:

    OMP_NUM_THREADS=2 python md/melt_box.py pe --chains 17 --chain-atoms 62 --density 0.70 \\
        --out md/reports/melt_npt_pe
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("family", help="short family name (pe, pmma, ...) or a repeat-unit SMILES with two [*]")
    parser.add_argument("--chains", type=int, default=17)
    parser.add_argument("--chain-atoms", type=int, default=62, help="atoms per chain, about")
    parser.add_argument("--density", type=float, required=True, help="g/cm^3 the box is compressed to")
    parser.add_argument("--loose-density", type=float, default=0.4, help="g/cm^3 the chains are packed at")
    parser.add_argument("--temperature", type=float, default=450.0, help="K, of the equilibration")
    parser.add_argument("--equilibrate", type=int, default=200, help="Langevin steps (0.5 fs) after compression")
    parser.add_argument("--model", default="polymers33-melts-gfn2", help="model that drives compression and MD")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="folder for box.data and box.xyz")
    args = parser.parse_args(argv)

    from ase.data import atomic_numbers
    from ase.io import write

    from equipot import EquiformerCalculator
    from equipot.data.melts import box_density
    from equipot.dynamics.compress import build_melt
    from equipot.dynamics.md import run_md
    from equipot.dynamics.walls import walled
    from equipot.errors import EquipotError

    calculator = EquiformerCalculator(args.model, dtype="float32")
    try:
        box, check = build_melt(
            args.family,
            args.density,
            calculator,
            chains=args.chains,
            chain_atoms=args.chain_atoms,
            loose_density=args.loose_density,
            seed=args.seed,
        )
        box.calc = walled(calculator, check)  # as in the compression; the LAMMPS run has no wall
        run_md(box, temperature_K=args.temperature, steps=args.equilibrate, seed=args.seed, monitors=[], progress=True)
        if (problem := check(box)) is not None:
            raise EquipotError(f"after {args.equilibrate} steps at {args.temperature} K: {problem}")
    except EquipotError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    elements = sorted(set(box.get_chemical_symbols()), key=atomic_numbers.get)
    box.wrap()
    write(out / "box.data", box, format="lammps-data", specorder=elements, masses=True)
    box.arrays["chain"] = check.chain
    box.calc = None
    write(out / "box.xyz", box, format="extxyz")
    print(f"{len(box)} atoms, {args.chains} chains, {box_density(box):.3f} g/cm^3, cell {box.cell[0, 0]:.2f} Å: {out}")
    print(
        f"run: cd {out} && equipot lammps {ROOT / 'docs' / 'lammps' / 'melt_npt.in'} --dtype float32 "
        f'-var model {args.model} -var elements "{" ".join(elements)}" -var piece 1 -var steps 2000'
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
