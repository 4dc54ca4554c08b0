"""Regenerate datasets/md17_gfn2/<molecule>.h5: GFN2-xTB Langevin MD of the MD17 molecules.

500 K, 0.5 fs, friction 0.01/fs, 2,000 equilibration steps, a frame every 20 steps (10 fs),
2,000 frames. Resumable: rerun the same command to finish an interrupted file.

    python datasets/make_md17_gfn2.py aspirin ethanol ... [--frames 2000] [--temperature 500]
"""

import argparse
import sys
from importlib import resources
from pathlib import Path

from ase.io import read

from equipot.data.reference import gfn2_calculator
from equipot.dynamics.sampling import sample_md

MOLECULES = ["aspirin", "benzene", "ethanol", "malonaldehyde", "naphthalene", "salicylic", "toluene", "uracil"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("molecules", nargs="*", default=MOLECULES)
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--temperature", type=float, default=500.0)
    parser.add_argument("--stride", type=int, default=20)
    parser.add_argument("--equilibration", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--suffix", default="", help="file name suffix, e.g. _600K")
    parser.add_argument("--out", default=str(Path(__file__).parent / "md17_gfn2"))
    args = parser.parse_args()
    for name in args.molecules:
        atoms = read(str(resources.files("equipot") / "geometries" / f"{name}.xyz"))
        sample_md(
            atoms,
            gfn2_calculator(),
            Path(args.out) / f"{name}{args.suffix}.h5",
            temperature_K=args.temperature,
            n_frames=args.frames,
            stride=args.stride,
            equilibration_steps=args.equilibration,
            seed=args.seed,
            level_of_theory="GFN2-xTB",
            code="tblite",
            created_with=" ".join(["python"] + sys.argv),
        )


if __name__ == "__main__":
    main()
