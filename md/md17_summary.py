"""One table of the MD17 stability study across its runs: every replica of every report.

    python md/md17_summary.py [REPORT_DIR ...] [--min-ps 20] [--min-nve-ps 0.5] [--out md/reports/md17_summary.md]

The study (``md/md17_stability.py``) is run a few molecules at a time on a CPU, so the replicas
of one molecule end up in several reports (different molecules per run, different ``--seed``).
This reads each report's ``results.json`` (all of ``md/reports/*/`` by default), keeps the NVT
runs that reached ``--min-ps`` picoseconds, and prints per molecule: how many replicas stayed
stable for the whole run, the shortest stable time, the h(r) error of each run and every NVE
window's drift. Numbers come from the files, nothing is typed in. Runs of different models are
never pooled: one table per model, told apart by name and parameter count (a retrained model
under the same name is a different model).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# What we could check of Fu et al.'s own runs: their code (github.com/kyonofx/MDsim), not their
# paper's per-model table, which we could not retrieve. Kept as text so the summary says where
# each figure comes from.
FU_ET_AL = """Beside Fu et al. ("Forces are not Enough", TMLR 2023). Their MD17 protocol, from their code
(`configs/simulate/aspirin.yml` of github.com/kyonofx/MDsim): Nosé-Hoover at 500 K (time constant
20 fs), 0.5 fs, 600,000 steps (300 ps) per run, each from a random test frame with 500 K
Maxwell-Boltzmann velocities, models trained on their 10k-frame split of MD17 (DFT). Their simulator stops only
when the temperature leaves [0.1, 100,000] K; the 0.5 Å bond criterion and h(r) are computed from the
saved trajectory afterwards. The example run in that repository (`example_sim/aspirin_dimenet`:
DimeNet, 2.1 M parameters, test force MAE 9.95 meV/Å) stopped early, its last logged frame at
37.65 ps. Their per-model stability table is not reproduced here: we could not retrieve it. Here:
Langevin (BAOAB) rather than Nosé-Hoover, GFN2-xTB rather than DFT labels, 1,000 rather than about 10,000
training frames per molecule (one model for all eight), and 20 ps rather than 300 ps per replica."""


def model_label(results: dict) -> str:
    """Which model a report ran: its name and parameter count, e.g. "`md17-gfn2`, 261,129 parameters"."""
    params = results.get("model", {}).get("params")
    name = f"`{results['settings'].get('model', '?')}`"
    return f"{name}, {params:,} parameters" if params else name


def _reports(report_dirs: list[Path]) -> list[tuple[Path, dict]]:
    """(folder, results) of every MD17 study report among ``report_dirs``, in name order."""
    found = []
    for d in sorted(report_dirs):
        path = d / "results.json"
        if path.is_file():
            res = json.loads(path.read_text())
            if "nvt" in res and "nve" in res:  # else not an MD17 study report
                found.append((d, res))
    return found


def models(report_dirs: list[Path]) -> list[str]:
    """``model_label`` of every model the reports ran, in order of first appearance."""
    return list(dict.fromkeys(model_label(res) for _, res in _reports(report_dirs)))


def collect(
    report_dirs: list[Path], min_ps: float, min_nve_ps: float = 0.5, model: str | None = None
) -> dict[str, dict]:
    """Per molecule: ``replicas`` (one dict per NVT replica of a run that reached ``min_ps``),
    ``hr`` (the h(r) error of each such run) and ``nve`` (each NVE window of at least
    ``min_nve_ps``), over the reports of ``model`` (a ``model_label``; None: every report)."""
    reports = [(d, res) for d, res in _reports(report_dirs) if model is None or model_label(res) == model]
    return _table(reports, min_ps, min_nve_ps)


def _table(reports: list[tuple[Path, dict]], min_ps: float, min_nve_ps: float) -> dict[str, dict]:
    """``collect``'s table over (folder, results) pairs already read."""
    table: dict[str, dict] = {}
    for d, res in reports:
        seed = res["settings"].get("seed", 0)
        nvt = res["nvt"]
        # a run counts when it reached min_ps, or when it ended earlier because every replica failed
        every_failed = bool(nvt) and all(r.get("failed", 0) == len(r["stable_ps"]) for r in nvt["molecules"].values())
        if nvt and (nvt["run_ps"] >= min_ps - 1e-9 or every_failed):
            for mol, r in nvt["molecules"].items():
                row = table.setdefault(mol, {"replicas": [], "hr": [], "nve": []})
                # which monitor stopped a replica (reports before the field was added: unknown)
                stoppers = r.get("monitors", [None] * len(r["stable_ps"]))
                row["replicas"] += [
                    {
                        "report": d.name,
                        "seed": seed,
                        "stable_ps": t,
                        "run_ps": nvt["run_ps"],
                        "failed": k is not None or t < nvt["run_ps"] - 1e-9,
                        "monitor": k,
                    }
                    for t, k in zip(r["stable_ps"], stoppers)
                ]
                row["hr"].append(
                    {"report": d.name, "seed": seed, "replicas": len(r["stable_ps"]), "hr_mae": r["hr_mae"]}
                )
        window = res["nve"].get("run_ps", 0.0)
        if window >= min_nve_ps - 1e-9:
            for mol, nve in res["nve"].items():
                if isinstance(nve, dict):
                    row = table.setdefault(mol, {"replicas": [], "hr": [], "nve": []})
                    row["nve"].append(
                        {
                            "report": d.name,
                            "seed": seed,
                            "window_ps": window,
                            "timestep_fs": res["settings"].get("timestep", 0.5),
                            **nve,
                            "noise_meV_per_atom_per_ps": nve["fluctuation_meV_per_atom"] / window,
                        }
                    )
    return table


def nve_cell(n: dict) -> str:
    """One NVE window: drift (window, fluctuation/window), plus the timestep when it is not the
    study's 0.5 fs (the fluctuation of velocity Verlet goes as dt^2)."""
    dt = "" if n["timestep_fs"] == 0.5 else f", dt {n['timestep_fs']:g} fs"
    return f"{n['slope_meV_per_atom_per_ps']:+.3f} ({n['window_ps']:.2f} ps, {n['noise_meV_per_atom_per_ps']:.3f}{dt})"


def markdown(table: dict[str, dict], min_ps: float, min_nve_ps: float = 0.5) -> str:
    lines = [
        f"| molecule | replicas stable for the whole run (runs of >= {min_ps:g} ps) | shortest stable (ps) "
        f"| h(r) error per run (report, seed) | NVE drift per window of >= {min_nve_ps:g} ps (meV/atom/ps; window, "
        "fluctuation/window) |",
        "|---|---|---|---|---|",
    ]
    for mol in sorted(table):
        row = table[mol]
        reps = row["replicas"]
        stable = sum(not r["failed"] for r in reps)
        stops = ", ".join(f"{r['monitor'] or 'stopped'} at {r['stable_ps']:.2f} ps" for r in reps if r["failed"])
        shortest = f"{min(r['stable_ps'] for r in reps):.2f}" if reps else "-"
        hr = ", ".join(f"{h['hr_mae']:.3f} (`{h['report']}`, {h['seed']})" for h in row["hr"]) or "-"
        nve = ", ".join(nve_cell(n) for n in row["nve"]) or "none"
        lines.append(f"| {mol} | {stable}/{len(reps)}{f' ({stops})' if stops else ''} | {shortest} | {hr} | {nve} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="*", type=Path, help="report directories (default: md/reports/*)")
    parser.add_argument("--min-ps", type=float, default=20.0, help="keep NVT runs that reached this many ps")
    parser.add_argument("--min-nve-ps", type=float, default=0.5, help="keep NVE windows of at least this many ps")
    parser.add_argument("--out", type=Path, default=None, help="also write the summary as markdown here")
    parser.add_argument("--json", type=Path, default=None, help="also write the collected table as JSON")
    args = parser.parse_args(argv)
    dirs = args.reports or [p for p in (ROOT / "md" / "reports").iterdir() if p.is_dir()]
    by_model: dict[str, list[tuple[Path, dict]]] = {}
    for d, res in _reports(dirs):  # each results.json read once
        by_model.setdefault(model_label(res), []).append((d, res))
    tables = {m: _table(reports, args.min_ps, args.min_nve_ps) for m, reports in by_model.items()}
    tables = {m: t for m, t in tables.items() if t}
    if not tables:
        raise SystemExit(
            f"no MD17 study report in {len(dirs)} directories reached {args.min_ps:g} ps of NVT "
            f"or {args.min_nve_ps:g} ps of NVE"
        )
    text = "\n\n".join(f"## Model {m}\n\n{markdown(t, args.min_ps, args.min_nve_ps)}" for m, t in tables.items())
    print(text)
    if args.out:
        command = " ".join(["python md/md17_summary.py", *(argv if argv is not None else sys.argv[1:])])
        args.out.write_text(
            f"# MD17 stability study: all runs of at least {args.min_ps:g} ps\n\nCommand: `{command}`\n\n"
            f"{text}\n\n{FU_ET_AL}\n"
        )
    if args.json:
        args.json.write_text(json.dumps(tables, indent=1))


if __name__ == "__main__":
    main()
