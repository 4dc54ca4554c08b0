"""What a message-passing model costs per MPI rank under LAMMPS domain decomposition.

A rank computes its own atoms and the ghost atoms LAMMPS copies to it from a slab of depth d
around its sub-domain. With the ghost shell deep enough for every block (what ``pair_style
equipot`` does: d = (blocks + 1) x cutoff + skin), every block runs on owned + ghost atoms and no
communication happens inside the model. Exchanging node features between ranks after each
block (forward communication, reverse for the gradients) needs d = cutoff + skin only, at the
price of 2 x blocks messages per step.

For a cubic box at a given density split into P equal cubic sub-domains of side s, the ghosts
per rank are rho ((s + 2d)^3 - s^3) (periodic images included, as LAMMPS makes them); the model's
work per rank is proportional to the atoms it runs on. Part one counts the ghosts of the shipped
1,107-atom polymer box exactly (its periodic images in slabs of depth d) on 1 and 2 ranks; part
two tabulates 8 to 1,024 ranks for that box's density and for a polyethylene melt
(0.85 g/cm^3) at 10^6 atoms.

    python bench/lammps_ghosts.py [--model polymers-gfn2] [--box md/reports/polymers/box.xyz]
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

AVOGADRO = 6.02214076e23
PE_MELT = 0.85 / 14.027 * AVOGADRO * 3 / 1e24  # atoms/Å^3 of CH2 units at 0.85 g/cm^3


def ghosts_of_box(positions: np.ndarray, length: float, ranks_x: int, depth: float) -> tuple[int, int]:
    """(owned, ghosts) of rank 0 when a cubic box of side ``length`` is cut into ``ranks_x``
    slabs along x: atoms of every periodic image within ``depth`` of the rank's sub-domain."""
    lo, hi = np.zeros(3), np.array([length / ranks_x, length, length])
    owned = int(np.all((positions >= lo) & (positions < hi), axis=1).sum())
    reach = int(np.ceil(depth / length))
    count = 0
    for shift in itertools.product(range(-reach, reach + 1), repeat=3):
        p = positions + length * np.array(shift)
        inside = np.all((p >= lo - depth) & (p < hi + depth), axis=1)
        count += int(inside.sum())
    return owned, count - owned


def per_rank(atoms: float, density: float, ranks: int, depth: float) -> tuple[float, float]:
    """(owned, ghosts) per rank for cubic sub-domains."""
    side = (atoms / density / ranks) ** (1 / 3)
    return atoms / ranks, density * ((side + 2 * depth) ** 3 - side**3)


def main() -> None:
    from ase.io import read

    from equipot.checkpoint import load_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="polymers-gfn2")
    parser.add_argument("--box", default=str(ROOT / "md" / "reports" / "polymers" / "box.xyz"))
    parser.add_argument("--skin", type=float, default=2.0, help="LAMMPS neighbor skin, Å (its metal default)")
    parser.add_argument("--atoms", type=float, default=1e6)
    args = parser.parse_args()
    model = load_model(args.model)
    blocks, cutoff = model.config.num_blocks, model.cutoff
    full, one = model.hops * cutoff + args.skin, cutoff + args.skin
    box = read(args.box)
    length = float(box.cell.lengths()[0])
    density = len(box) / box.get_volume()
    print(
        f"{args.model}: {blocks} blocks, cutoff {cutoff} Å; ghost depth {full:.1f} Å (full shell) "
        f"or {one:.1f} Å (per-block exchange), skin {args.skin} Å\n"
    )
    print(f"The {len(box)}-atom box ({length:.1f} Å, {density:.4f} atoms/Å^3), rank 0:\n")
    print("| ranks | owned | ghosts, full shell | ghosts / owned | ghosts, per-block | ghosts / owned |")
    print("|---|---|---|---|---|---|")
    pos = box.get_positions(wrap=True)
    for ranks in (1, 2):
        o, g_full = ghosts_of_box(pos, length, ranks, full)
        _, g_one = ghosts_of_box(pos, length, ranks, one)
        print(f"| {ranks} | {o} | {g_full} | {g_full / o:.1f} | {g_one} | {g_one / o:.1f} |")
    for name, rho in (("the box's density", density), ("a polyethylene melt, 0.85 g/cm^3", PE_MELT)):
        print(
            f"\n{args.atoms:.0f} atoms at {name} ({rho:.4f} atoms/Å^3), per rank; work = atoms the "
            "model runs on x blocks, relative to the owned atoms alone:\n"
        )
        print("| ranks | owned | full shell: ghosts | work | per-block: ghosts | work | extra exchanges per step |")
        print("|---|---|---|---|---|---|---|")
        for ranks in (8, 64, 512, 1024):
            o, g_full = per_rank(args.atoms, rho, ranks, full)
            _, g_one = per_rank(args.atoms, rho, ranks, one)
            print(
                f"| {ranks} | {o:,.0f} | {g_full:,.0f} | {(o + g_full) / o:.1f}x | {g_one:,.0f} | "
                f"{(o + g_one) / o:.1f}x | 0 vs {2 * blocks} |"
            )


if __name__ == "__main__":
    main()
