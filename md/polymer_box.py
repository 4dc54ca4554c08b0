"""Build a periodic box of several polymer chains for the polymer stability study.

Chains are the first frames of the shipped GFN2-xTB trajectories (the ~90-atom chain of each
family), randomly rotated and centred on the sites of a simple-cubic grid whose spacing keeps
every pair of chains at least ``--gap`` Å apart across the periodic boundaries. The box is
dilute (it tests many chains, periodic images and >1,000 atoms in one model call, not the
melt density):

    python md/polymer_box.py --families pe peo pvc pmma --copies 3 --out md/reports/polymers/box.xyz
    equipot md md/reports/polymers/box.xyz --model polymers-gfn2 --temperature 300 --duration 1ps
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import write
from scipy.spatial.transform import Rotation

from equipot.data.store import FrameStore

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "datasets" / "polymers_gfn2"


def longest_chain(family: str) -> Atoms:
    """First frame of the longest shipped trajectory of ``family``."""
    path = max(DATA.glob(f"{family}_*.h5"), key=lambda p: int(p.stem.split("_")[1]))
    with FrameStore(path) as store:
        return store[0].to_atoms()


def pack_chains(chains: list[Atoms], gap: float = 4.0, seed: int = 0) -> Atoms:
    """Chains randomly rotated onto a cubic grid; cell = grid, periodic in all directions."""
    rng = np.random.default_rng(seed)
    rotated = []
    for chain in chains:
        pos = chain.positions - chain.positions.mean(0)
        rotated.append(Atoms(chain.numbers, Rotation.random(random_state=rng.integers(2**31)).apply(pos)))
    extent = max(np.ptp(c.positions, axis=0).max() for c in rotated)
    spacing = extent + gap  # any two chains (and images) at least `gap` apart
    n_side = int(np.ceil(len(chains) ** (1 / 3)))
    sites = list(itertools.product(range(n_side), repeat=3))[: len(chains)]
    box = Atoms(cell=np.eye(3) * spacing * n_side, pbc=True)
    for chain, site in zip(rotated, sites):
        box += Atoms(chain.numbers, chain.positions + (np.array(site) + 0.5) * spacing)
    box.set_cell(np.eye(3) * spacing * n_side)
    box.pbc = True
    return box


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=["pe", "peo", "pvc", "pmma"])
    parser.add_argument("--copies", type=int, default=3, help="chains of each family")
    parser.add_argument("--gap", type=float, default=4.0, help="Å between chains")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "md" / "reports" / "polymers" / "box.xyz"))
    args = parser.parse_args(argv)
    chains = [longest_chain(f) for f in args.families for _ in range(args.copies)]
    box = pack_chains(chains, args.gap, args.seed)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write(args.out, box)
    print(f"{len(box)} atoms, {len(chains)} chains, cell {box.cell.lengths()[0]:.1f} Å -> {args.out}")


if __name__ == "__main__":
    main()
