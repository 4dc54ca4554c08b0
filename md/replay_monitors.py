"""Replay the MD17 study's geometric monitors on saved frames: how close did each replica come
to failing, and would a monitor added later have stopped a run made before it?

For each ``frames_MOLECULE.xyz[.gz]`` (``md17_stability.py --save-frames``) and each replica in
it, prints the largest bond deviation (Fu et al.'s criterion: bonds of the shipped starting
structure against their mean length over the GFN2-xTB reference trajectory; fails above 0.5 Å)
and the contact headroom (``ContactStability``: the closest any heavy-atom pair more than two
bonds apart came to its limit, the reference's closest approach minus 0.25 Å; fails below 0),
with the time each would first have fired. Positions only: no model is called.

    python md/replay_monitors.py md/reports/md17_cpu_20ps_seed2*/frames_*.xyz.gz
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
from ase.io import read

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from equipot.data.readers import read_structure  # noqa: E402
from equipot.data.store import FrameStore  # noqa: E402
from equipot.dynamics.monitors import BondStability, ContactStability, bond_deviation, bond_lengths, study_monitors  # noqa: E402


def replay(positions: np.ndarray, times_ps: np.ndarray, start, reference: np.ndarray) -> dict:
    """Both criteria over one replica's frames (T, n, 3) at ``times_ps`` (T,), with the very
    monitors the study builds (``study_monitors``), applied to all frames at once."""
    monitors = study_monitors(start, reference, contacts=True)
    bond = next(m for m in monitors if isinstance(m, BondStability))
    contact = next(m for m in monitors if isinstance(m, ContactStability))
    contact.start(start)
    deviation = bond_deviation(positions, bond.bonds, bond.reference)
    if len(contact.pairs):
        headroom = (bond_lengths(positions, contact.pairs) - contact.limit).min(axis=1)
    else:
        headroom = np.full(len(positions), np.inf)

    def first(mask: np.ndarray) -> float | None:
        return float(times_ps[np.argmax(mask)]) if mask.any() else None

    return {
        "frames": len(positions),
        "last_ps": float(times_ps[-1]),
        "max_bond_deviation_A": float(deviation.max()),
        "bond_fires_ps": first(deviation > bond.max_deviation),
        "contact_pairs": len(contact.pairs),
        "contact_headroom_A": float(headroom.min()),
        "contact_fires_ps": first(headroom < 0),
    }


def replay_file(path: Path, reference_dir: Path) -> list[dict]:
    molecule = re.fullmatch(r"frames_(\w+)\.xyz(\.gz)?", path.name)
    if not molecule:
        raise SystemExit(f"{path}: expected a file named frames_MOLECULE.xyz[.gz]")
    molecule = molecule.group(1)
    start = read_structure(molecule)
    with FrameStore(reference_dir / f"{molecule}.h5") as store:
        reference = store.trajectory_positions()
    frames = read(path, ":")
    rows = []
    for rep in sorted({int(a.info.get("replica", 0)) for a in frames}):
        mine = [a for a in frames if int(a.info.get("replica", 0)) == rep]
        positions = np.stack([a.positions for a in mine])
        times = np.array([float(a.info.get("time_fs", np.nan)) / 1000 for a in mine])
        rows.append(
            {"file": str(path), "molecule": molecule, "replica": rep, **replay(positions, times, start, reference)}
        )
    return rows


def table(rows: list[dict]) -> str:
    def when(t: float | None) -> str:
        return "-" if t is None else f"{t:.2f}"

    lines = [
        "| run | molecule | replica | frames (to ps) | max bond deviation (Å; fires > 0.5) | bond fires at (ps) "
        "| contact headroom (Å; fires < 0) | contact fires at (ps) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        headroom = "no pairs" if r["contact_pairs"] == 0 else f"{r['contact_headroom_A']:+.3f}"
        lines.append(
            f"| `{Path(r['file']).parent.name}` | {r['molecule']} | {r['replica']} | {r['frames']} "
            f"({r['last_ps']:.2f}) | {r['max_bond_deviation_A']:.3f} | {when(r['bond_fires_ps'])} | "
            f"{headroom} | {when(r['contact_fires_ps'])} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("frames", nargs="+", type=Path, help="frames_MOLECULE.xyz[.gz] files of study runs")
    parser.add_argument(
        "--reference-dir",
        type=Path,
        default=ROOT / "datasets" / "md17_gfn2",
        help="directory of the GFN2-xTB reference stores MOLECULE.h5",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    rows = [row for path in args.frames for row in replay_file(path, args.reference_dir)]
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
