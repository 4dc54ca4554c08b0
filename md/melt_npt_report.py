"""Report of a melt NPT run in pieces (``docs/lammps/melt_npt.in`` on a box from
``md/melt_box.py``): density, potential energy and temperature along the run, their drift over
the last half (``equipot.lammps.traces``), and the melt check on every dumped frame (bonds as
built, no two chains closer than 0.85 of their contact distance: ``equipot.data.melts.MeltCheck``).

    python md/melt_npt_report.py md/reports/melt_npt_pe --plot md/reports/melt_npt_pe/traces.png
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path


def _pieces(folder: Path, suffix: str) -> list[Path]:
    found = [
        (int(m.group(1)), p)
        for p in folder.glob(f"piece*{suffix}")
        if (m := re.fullmatch(rf"piece(\d+){suffix}", p.name))
    ]
    return [p for _, p in sorted(found)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="folder with box.xyz and the pieces' pieceN.log and pieceN.dump")
    parser.add_argument("--plot", default=None, help="write the traces to this PNG")
    parser.add_argument("--json", default=None, help="write the summary here")
    args = parser.parse_args(argv)

    from ase.data import atomic_numbers

    from equipot.data.melts import MeltCheck
    from equipot.data.readers import read_structure
    from equipot.errors import EquipotError
    from equipot.lammps.traces import has_thermo, read_dumps, read_thermo, relative_drift

    folder = Path(args.folder)
    logs, dumps = _pieces(folder, ".log"), _pieces(folder, ".dump")
    try:
        if not (folder / "box.xyz").is_file() or not logs:
            raise EquipotError(f"{folder} needs box.xyz (md/melt_box.py) and at least one pieceN.log")
        reference = read_structure(folder / "box.xyz")
        elements = sorted(set(reference.get_chemical_symbols()), key=atomic_numbers.get)
        if len(logs) > 1 and not has_thermo(logs[-1]):  # a piece that has just started
            print(f"({logs[-1].name} has no thermo rows yet: left out)")
            logs = logs[:-1]
        thermo = read_thermo(logs)
        frames = read_dumps(dumps, elements)
        t = thermo["Time"]
        summary = {
            "atoms": len(reference),
            "pieces": len(logs),
            "time_ps": float(t[-1] - t[0]),
            "steps": int(thermo["Step"][-1] - thermo["Step"][0]),
        }
        half = t >= t[-1] - 0.5 * (t[-1] - t[0])
        for key, name in (("Density", "density_g_cm3"), ("PotEng", "potential_energy_eV"), ("Temp", "temperature_K")):
            summary[f"{name}_last_half"] = float(thermo[key][half].mean())
        summary["density_drift_last_half"] = relative_drift(t, thermo["Density"])
        check = MeltCheck(reference)
        verdicts = [check(atoms) for atoms in frames]
        failing = [k for k, v in enumerate(verdicts) if v is not None]
        summary.update(frames_checked=len(frames), frames_failing=len(failing))
        if failing:
            summary["first_failure"] = f"frame {failing[0]}: {verdicts[failing[0]]}"
    except EquipotError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(
        f"{summary['atoms']} atoms, {summary['pieces']} piece(s), {summary['steps']} steps, {summary['time_ps']:.2f} ps\n"
        f"last half: density {summary['density_g_cm3_last_half']:.4f} g/cm^3 (drift "
        f"{100 * summary['density_drift_last_half']:+.2f} %), potential energy "
        f"{summary['potential_energy_eV_last_half']:.2f} eV, temperature {summary['temperature_K_last_half']:.1f} K\n"
        f"melt check: {summary['frames_failing']} of {summary['frames_checked']} dumped frames fail"
        + (f" ({summary['first_failure']})" if failing else "")
    )
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1) + "\n")
    if args.plot:
        _plot(thermo, args.plot)
    return 0


def _plot(thermo, path: str) -> None:
    from equipot.plotting import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(3, 1, figsize=(6, 6.5), sharex=True)
    for ax, (key, label) in zip(
        axes, (("Density", "density (g/cm³)"), ("PotEng", "potential energy (eV)"), ("Temp", "temperature (K)"))
    ):
        ax.plot(thermo["Time"], thermo[key], lw=0.8)
        ax.set_ylabel(label)
    axes[-1].set_xlabel("time (ps)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
