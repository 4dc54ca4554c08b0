"""Audit MD frames against GFN2-xTB: where did the dynamics go, and is the model right there?

The 0.5 Å bond criterion of Fu et al. only watches the bonds of the first frame. A replica can
stay "stable" under it while drifting into a region the reference never visits, where the model
may be badly wrong (a hole in the learned surface). This script takes the frames a study saved
(``md17_stability.py --save-frames``), recomputes every k-th frame with the model and with
GFN2-xTB, and prints per time window: the GFN2-xTB energy against the first window (has the
replica climbed somewhere high?), the model's energy offset from GFN2-xTB and its force MAE (is
the model right there?), and the closest approach of two heavy atoms more than two bonds apart in
the first frame, with, given ``--reference``, that pair's closest approach in reference dynamics.

    python md/audit_frames.py md/reports/md17_cpu_20ps_seed2/frames_salicylic.xyz.gz \
        --reference datasets/md17_gfn2/salicylic.h5
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import read

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from equipot.dynamics.monitors import bond_lengths, contact_pairs  # noqa: E402


def audit(frames: list[Atoms], model_calc, reference_calc, pairs: np.ndarray) -> list[dict]:
    """One row per frame: time (ps), model - reference energy (eV), force MAE (meV/Å), closest
    heavy pair more than two bonds apart (Å) and its atoms."""
    rows = []
    for atoms in frames:
        energies, forces = [], []
        for calc in (model_calc, reference_calc):
            copy = atoms.copy()
            copy.calc = calc
            energies.append(copy.get_potential_energy())
            forces.append(copy.get_forces())
        dist = bond_lengths(atoms.positions, pairs)
        k = int(dist.argmin()) if len(dist) else -1
        rows.append(
            {
                "time_ps": float(atoms.info.get("time_fs", np.nan)) / 1000,
                "replica": int(atoms.info.get("replica", 0)),
                "energy_offset_eV": float(energies[0] - energies[1]),
                "reference_energy_eV": float(energies[1]),
                "force_mae_meV_A": float(np.abs(forces[0] - forces[1]).mean() * 1000),
                "closest_contact_A": float(dist[k]) if k >= 0 else float("nan"),
                "closest_pair": [int(i) for i in pairs[k]] if k >= 0 else [],
            }
        )
    return rows


def reference_closest(store_path: str | Path, pairs: np.ndarray) -> dict[tuple[int, int], float]:
    """Closest approach (Å) of each pair over every frame of a reference frame store."""
    from equipot.data.store import FrameStore

    with FrameStore(store_path) as store:
        positions = store.trajectory_positions()
    closest = bond_lengths(positions, pairs).min(axis=0)
    return {(int(i), int(j)): float(d) for (i, j), d in zip(pairs, closest)}


def _contact(row: dict, symbols: list[str]) -> str:
    """An audited frame's closest contact as a table cell: distance and the pair, e.g. "2.38 (C1-O8)"."""
    if not row["closest_pair"]:
        return "none (no such pair)"
    i, j = row["closest_pair"]
    return f"{row['closest_contact_A']:.2f} ({symbols[i]}{i}-{symbols[j]}{j})"


def window_table(
    rows: list[dict],
    symbols: list[str],
    window_ps: float,
    reference_closest: dict[tuple[int, int], float] | None = None,
) -> str:
    """Markdown table of the rows grouped by replica and time window. The GFN2-xTB energy is
    given relative to the replica's first window, so a climb into a high-energy region shows;
    ``reference_closest`` maps a pair to its closest approach in a reference trajectory."""
    lines = [
        "| replica | time (ps) | frames | E_GFN2 vs first window (eV) | E_model - E_GFN2 (eV), mean ± sd | "
        "force MAE (meV/Å) | closest heavy atoms > 2 bonds apart (Å) |",
        "|---|---|---|---|---|---|---|",
    ]
    for rep in sorted({r["replica"] for r in rows}):
        mine = [r for r in rows if r["replica"] == rep]
        base = None
        times = np.array([r["time_ps"] for r in mine])
        start = np.floor(np.nan_to_num(times) / window_ps)
        for w in np.unique(start):
            sel = [r for r, s in zip(mine, start) if s == w]
            off = np.array([r["energy_offset_eV"] for r in sel])
            ref = np.mean([r["reference_energy_eV"] for r in sel])
            base = ref if base is None else base
            low = min(sel, key=lambda r: r["closest_contact_A"])
            contact = _contact(low, symbols)
            if low["closest_pair"] and reference_closest:
                contact += f"; reference trajectory >= {reference_closest[tuple(low['closest_pair'])]:.2f}"
            lines.append(
                f"| {rep} | {w * window_ps:.1f}-{(w + 1) * window_ps:.1f} | {len(sel)} | "
                f"{ref - base:+.3f} | {off.mean():+.3f} ± {off.std():.3f} | "
                f"{np.mean([r['force_mae_meV_A'] for r in sel]):.0f} | "
                f"{contact} |"
            )
    return "\n".join(lines)


def worst_frames(rows: list[dict], symbols: list[str], count: int) -> str:
    """Markdown table of the ``count`` audited frames with the largest force MAE: the brief
    excursions that a window's mean hides (its energy spread hints at them)."""
    lines = [
        "| replica | time (ps) | E_model - E_GFN2 (eV) | force MAE (meV/Å) | closest heavy atoms > 2 bonds apart (Å) |",
        "|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: -r["force_mae_meV_A"])[:count]:
        lines.append(
            f"| {r['replica']} | {r['time_ps']:.2f} | {r['energy_offset_eV']:+.3f} | "
            f"{r['force_mae_meV_A']:.0f} | {_contact(r, symbols)} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("frames", help="extended XYZ (also .gz) with replica/time_fs in each frame's info")
    parser.add_argument("--model", default="md17-gfn2", help="shipped model name or checkpoint")
    parser.add_argument("--every", type=int, default=20, help="audit every k-th frame")
    parser.add_argument("--window-ps", type=float, default=2.5)
    parser.add_argument(
        "--reference",
        default=None,
        help="frame store (.h5) of reference dynamics: report each contact's closest approach in it",
    )
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default=None, help="write the per-frame rows here")
    parser.add_argument("--worst", type=int, default=5, help="also list this many frames with the largest force error")
    args = parser.parse_args(argv)
    if args.every < 1:
        parser.error("--every must be at least 1")
    import torch

    from equipot import EquiformerCalculator
    from equipot.data.reference import gfn2_calculator

    if args.threads:
        torch.set_num_threads(args.threads)
    frames = read(args.frames, ":")
    if not frames:
        parser.error(f"{args.frames} holds no frames")
    # bonds from each replica's first frame, as the stability monitor takes them
    first = {}
    for atoms in frames:
        first.setdefault(int(atoms.info.get("replica", 0)), atoms)
    sampled = frames[:: args.every]
    model_calc, reference_calc = EquiformerCalculator(args.model, dtype="float64"), gfn2_calculator()
    rows = []
    for rep, start in first.items():
        mine = [a for a in sampled if int(a.info.get("replica", 0)) == rep]
        rows += audit(mine, model_calc, reference_calc, contact_pairs(start))
    print(f"{args.frames}: {len(rows)} of {len(frames)} frames, model {args.model} against GFN2-xTB (float64)\n")
    closest = reference_closest(args.reference, contact_pairs(frames[0])) if args.reference else None
    print(window_table(rows, frames[0].get_chemical_symbols(), args.window_ps, closest))
    if args.worst > 0:
        median = np.median([r["force_mae_meV_A"] for r in rows])
        print(
            f"\nThe {min(args.worst, len(rows))} audited frames with the largest force MAE "
            f"(median over all audited frames: {median:.0f} meV/Å):\n"
        )
        print(worst_frames(rows, frames[0].get_chemical_symbols(), args.worst))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
