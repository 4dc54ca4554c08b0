"""Melt density, measured: pressure against density for a model and for GFN2-xTB on the same
snapshots, and the zero-pressure density of each (``equipot.dynamics.pressure``).

The snapshots come from ``datasets/make_melts_gfn2.py``, one store per density, each density
equilibrated by MD at its own box size and labelled with periodic GFN2-xTB:

    OMP_NUM_THREADS=1 python datasets/make_melts_gfn2.py pe pmma --out datasets/melts_density_gfn2 \\
        --runs 0.7:450:5 0.8:450:5 0.9:450:5 1.0:450:5 1.1:450:5 1.2:450:5
    python md/melt_density.py datasets/melts_density_gfn2/*.h5 --model polymers33-melts-gfn2 --plot docs/melt_density.png

Stores are grouped by family (the file name up to its first underscore) and temperature.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stores", nargs="+", help="frame stores, one density each")
    parser.add_argument("--model", default="polymers33-melts-gfn2", help="shipped model name or checkpoint")
    parser.add_argument("--dtype", default="float64")
    parser.add_argument("--plot", default=None, help="write pressure against density to this PNG")
    parser.add_argument("--json", default=None, help="write every snapshot's pressures here")
    args = parser.parse_args(argv)

    from equipot import EquiformerCalculator
    from equipot.data.store import FrameStore
    from equipot.dynamics.pressure import density_plot, density_summary, pressure_points
    from equipot.errors import EquipotError

    stores = []
    for path in args.stores:
        try:
            with FrameStore(path) as store:
                if len(store):
                    stores.append(path)
                    continue
            print(f"skipped {path}: no frames yet")
        except EquipotError as err:  # a generation run is writing it
            print(f"skipped {path}: {err}")
    calculator = EquiformerCalculator(args.model, dtype=args.dtype)
    points = pressure_points(stores, calculator)
    curves: dict[str, list] = {}
    for p in points:
        curves.setdefault(f"{p.label.split('_')[0]} {p.temperature_K:.0f} K", []).append(p)
    print(f"{args.model} against GFN2-xTB on the same snapshots; P = -tr(sigma)/3 + N kB T / V, GPa\n")
    print("| melt | density (g/cm³) | snapshots | P GFN2-xTB | P model | P MAE |")
    print("|---|---|---|---|---|---|")
    for name, mine in curves.items():
        for p in mine:
            print(
                f"| {name} | {p.density:.3f} | {len(p.reference)} | {p.reference.mean():.3f} | "
                f"{p.model.mean():.3f} | {p.mae():.3f} |"
            )
    print("\n| melt | zero-pressure density GFN2-xTB | model | difference | P MAE / spread of GFN2-xTB P |")
    print("|---|---|---|---|---|")
    summaries = {}
    for name, mine in curves.items():
        if len(mine) < 2:
            print(f"| {name} | one density only | | | |")
            continue
        s = summaries[name] = density_summary(mine)
        ref_flag, model_flag = (
            " (extrapolated)" if s[f"{side}_extrapolated"] else "" for side in ("reference", "model")
        )
        print(
            f"| {name} | {s['reference_rho0']:.3f}{ref_flag} | {s['model_rho0']:.3f}{model_flag} | "
            f"{100 * s['rho0_relative_difference']:+.1f} % | "
            f"{s['pressure_mae_gpa']:.3f} / {s['reference_spread_gpa']:.3f} GPa "
            f"= {100 * s['pressure_mae_gpa'] / s['reference_spread_gpa']:.0f} % |"
        )
    if args.plot:
        density_plot(curves, args.plot, model=args.model)
        print(f"\nplot: {args.plot}")
    if args.json:
        rows = [
            {"store": p.label, "density": p.density, "temperature_K": p.temperature_K}
            | {"reference_gpa": p.reference.tolist(), "model_gpa": p.model.tolist()}
            for p in points
        ]
        Path(args.json).write_text(json.dumps({"points": rows, "summaries": summaries}, indent=1))


if __name__ == "__main__":
    main()
