"""Regenerate datasets/polymers_gfn2/<family>.h5: GFN2-xTB Langevin MD of capped oligomers.

Each chain is built from its repeat unit with RDKit (``equipot.data.polymers``: H-capped,
ETKDG embedding, MMFF94 relaxation, seed 0) with the number of repeat units that brings it
closest to ``--target-atoms`` atoms; then 500 K Langevin MD (friction 0.01/fs, 0.5 fs,
2,000 equilibration steps, a frame every 20 steps). Resumable like the MD17 recipe.

    python datasets/make_polymers_gfn2.py [pe pvc ...] [--frames 500] [--target-atoms 50]
"""

import argparse
import sys
from pathlib import Path

from equipot.data.polymers import ALIASES, POLYMER_FAMILIES, build_oligomer, n_repeat_for_atoms, short_name
from equipot.data.reference import gfn2_calculator, sample_md

DEFAULT = ["pe", "pp", "peo", "pvc", "ps", "pmma", "nylon6", "pet", "pan", "pva"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("families", nargs="*", default=DEFAULT)
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--target-atoms", type=int, default=50)
    parser.add_argument("--temperature", type=float, default=500.0)
    parser.add_argument("--stride", type=int, default=20)
    parser.add_argument("--equilibration", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).parent / "polymers_gfn2"))
    args = parser.parse_args()
    for name in args.families:
        family = ALIASES.get(name.lower(), name)
        if family not in POLYMER_FAMILIES:
            raise SystemExit(f"unknown family {name!r}; choose from {DEFAULT}")
        n_repeat = n_repeat_for_atoms(family, args.target_atoms)
        atoms = build_oligomer(family, n_repeat, seed=args.seed)
        store = sample_md(atoms, gfn2_calculator(), Path(args.out) / f"{short_name(family)}.h5",
                          temperature_K=args.temperature, n_frames=args.frames, stride=args.stride,
                          equilibration_steps=args.equilibration, seed=args.seed,
                          level_of_theory="GFN2-xTB", code="tblite", created_with=" ".join(["python"] + sys.argv))
        store.close()


if __name__ == "__main__":
    main()
