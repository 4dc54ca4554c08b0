"""Regenerate datasets/polymers_gfn2/<family>_<atoms>.h5: GFN2-xTB Langevin MD of capped oligomers.

Each family is run at several chain lengths and temperatures (``--runs``, default about 30
atoms at 300 K and 55 atoms at 450 K, 200 frames 10 fs apart each, and 90 atoms at 600 K,
100 frames 5 fs apart: 500 frames per family). Each chain is built from its repeat
unit with RDKit (``equipot.data.polymers``: H-capped, ETKDG embedding, MMFF94 relaxation) with
the number of repeat units that brings it closest to the target; then Langevin MD (friction
0.01/fs, 0.5 fs, 1,000 equilibration steps, 500 for the long chains, whose 600 K start
equilibrates faster per frame) with GFN2-xTB (tblite, default settings). One file per
(family, chain): resumable like the MD17 recipe.

    OMP_NUM_THREADS=1 python datasets/make_polymers_gfn2.py [pe pvc ...] [--runs 30:300:200:20:1000 ...]

The shipped files were made one process per (family, run), e.g.
``make_polymers_gfn2.py pe --runs 55:450:200:20:1000 --seed 1`` for the second run (seed 0 + run
index, as the all-in-one command uses).
"""

import argparse
import sys
from pathlib import Path

from equipot.data.polymers import ALIASES, POLYMER_FAMILIES, build_oligomer, n_repeat_for_atoms, short_name
from equipot.data.reference import gfn2_calculator
from equipot.dynamics.sampling import sample_md

DEFAULT = ["pe", "pp", "peo", "pvc", "ps", "pmma", "nylon6", "pet", "pan", "pva"]
# families kept out of training (generalisation set of the polymer models)
HELD_OUT = ["pmma", "pva"]


def starting_chain(family: str, n_repeat: int, seed: int, geometries: str | None):
    """The RDKit-built chain, cached as extxyz in ``geometries`` when given."""
    from ase.io import read, write

    path = Path(geometries) / f"{short_name(family)}_n{n_repeat}_s{seed}.xyz" if geometries else None
    if path is not None and path.is_file():
        return read(path)
    atoms = build_oligomer(family, n_repeat, seed=seed)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(path, atoms)
    return atoms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("families", nargs="*", default=DEFAULT)
    parser.add_argument("--runs", nargs="+", default=["30:300:200:20:1000", "55:450:200:20:1000", "90:600:100:10:500"],
                        help="TARGET_ATOMS:TEMPERATURE_K:FRAMES:STRIDE:EQUILIBRATION_STEPS per run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).parent / "polymers_gfn2"))
    parser.add_argument("--geometries", default=None,
                        help="folder of starting chains: read from it when there, else built and saved to it "
                             "(build on a machine with RDKit, run the MD where there is none)")
    args = parser.parse_args()
    for name in args.families:
        family = ALIASES.get(name.lower(), name)
        if family not in POLYMER_FAMILIES:
            raise SystemExit(f"unknown family {name!r}; choose from {DEFAULT}")
        for k, run in enumerate(args.runs):
            target, temperature, frames, stride, equilibration = (float(x) for x in run.split(":"))
            n_repeat = n_repeat_for_atoms(family, int(target))
            atoms = starting_chain(family, n_repeat, args.seed + k, args.geometries)
            path = Path(args.out) / f"{short_name(family)}_{len(atoms)}.h5"
            store = sample_md(atoms, gfn2_calculator(), path, temperature_K=temperature, n_frames=int(frames),
                              stride=int(stride), equilibration_steps=int(equilibration),
                              seed=args.seed + k, level_of_theory="GFN2-xTB", code="tblite",
                              created_with=" ".join(["python"] + sys.argv))
            store.close()


if __name__ == "__main__":
    main()
