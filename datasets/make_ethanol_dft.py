"""Regenerate datasets/ethanol_dft/ethanol_pbe_def2svp.h5: PBE/def2-SVP labels (PySCF) on
ethanol frames sampled by GFN2-xTB Langevin MD at 500 K.

The geometries are every other frame of datasets/md17_gfn2/ethanol.h5 (GFN2-xTB, 500 K,
0.5 fs, a frame every 10 fs), so 1,000 frames 20 fs apart; each is recomputed with Kohn-Sham
PBE/def2-SVP (tight SCF, no density fitting: see ``equipot.data.reference.pyscf_calculator``).
Resumable: rerunning continues after the last labelled frame. About 10-30 s per frame on
one CPU core.

    python datasets/make_ethanol_dft.py [--frames 1000] [--every 2] [--out PATH]
"""

import argparse
from pathlib import Path

from equipot.data.reference import label_frames, pyscf_calculator

ROOT = Path(__file__).parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=str(ROOT / "md17_gfn2" / "ethanol.h5"))
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--every", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "ethanol_dft" / "ethanol_pbe_def2svp.h5"))
    args = parser.parse_args()
    indices = list(range(0, args.frames * args.every, args.every))
    label_frames(args.source, pyscf_calculator("PBE", "def2-SVP"), args.out, level_of_theory="PBE/def2-SVP",
                 code="pyscf", indices=indices)


if __name__ == "__main__":
    main()
