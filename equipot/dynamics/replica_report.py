"""End-of-run report of a batched replica run (``equipot md STRUCTURE --replicas N``).

Writes, into one directory: ``replica_K.extxyz`` (frames of replica K while it was alive),
``report.json`` (settings and, per replica, time to failure or the full run, the stopping
monitor and reason, NVE drift, h(r) error against a reference) and ``report.png`` (energy,
stable time per replica, h(r)). The CSV of total energies (``md.csv``) is written by
``ReplicaDynamics.run``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms

from equipot.dynamics.analysis import distance_histogram_error, energy_drift
from equipot.dynamics.report import jsonable, plot_distance_histograms


def replica_rows(result, sizes: Sequence[int], ensemble: str, reference: np.ndarray | None = None) -> list[dict]:
    """One dict per replica: ``time_ps`` (to failure, or the run's length), ``monitor`` and
    ``reason`` (None when it never failed), ``drift`` (NVE: ``energy_drift``'s dict over the
    logged total energies while it was alive) and ``hr_error`` (when a reference is given and
    frames were recorded)."""
    rows = []
    for k, failure in enumerate(result.failures):
        row = {
            "replica": k,
            "time_ps": failure.time_ps if failure else result.time_ps,
            "monitor": failure.monitor if failure else None,
            "reason": failure.reason if failure else None,
            "drift": None,
            "hr_error": None,
        }
        if ensemble == "nve" and len(result.energies):
            etot = result.energies[:, k]
            alive = np.isfinite(etot)  # NaN once the replica was dropped
            if alive.sum() >= 2:
                row["drift"] = energy_drift(result.log_time_ps[alive], etot[alive], sizes[k])
        if reference is not None and len(result.positions[k]):
            row["hr_error"] = distance_histogram_error(result.positions[k], reference)
        rows.append(row)
    return rows


def write_replica_report(
    out: str | Path, templates: Sequence[Atoms], result, settings: dict, *, reference: np.ndarray | None = None
) -> list[dict]:
    """Write the trajectories, ``report.json`` and ``report.png`` of ``result`` (a
    ``MDResult`` of a batch whose replicas started from ``templates``) into ``out``; returns
    ``replica_rows``."""
    from ase.io import write

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = replica_rows(result, [len(a) for a in templates], settings["ensemble"], reference)
    for k, (atoms, frames) in enumerate(zip(templates, result.positions)):
        if len(frames):
            write(
                out / f"replica_{k}.extxyz",
                [Atoms(numbers=atoms.numbers, positions=p) for p in frames],
                format="extxyz",
            )
    # the keys a single run's report has too: settings, result, and one row per replica
    report = {"settings": settings, "result": result.to_dict(), "replicas": rows}
    (out / "report.json").write_text(json.dumps(jsonable(report), indent=2, default=str))
    _plot(out / "report.png", templates, result, rows, reference)
    return rows


def _plot(path: Path, templates: Sequence[Atoms], result, rows: list[dict], reference: np.ndarray | None) -> None:
    from equipot.plotting import pyplot

    plt = pyplot()

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    if len(result.energies):
        # relative to each replica's first logged value, per atom: replicas share one scale
        for k, atoms in enumerate(templates):
            e = result.energies[:, k]
            axes[0].plot(result.log_time_ps, (e - e[0]) * 1000 / len(atoms), lw=0.8, label=f"replica {k}")
        if len(templates) <= 8:
            axes[0].legend(fontsize=8)
    axes[0].set(xlabel="time (ps)", ylabel="E_tot - E_tot(first log) (meV/atom)", title="total energy per replica")
    stable = [r["time_ps"] for r in rows]
    colours = ["tab:red" if r["monitor"] else "tab:green" for r in rows]
    axes[1].barh(range(len(rows)), stable, color=colours)
    axes[1].axvline(result.time_ps, color="k", ls="--", lw=0.8)
    if len(rows) <= 20:
        axes[1].set_yticks(range(len(rows)))
    axes[1].set(xlabel="time (ps)", ylabel="replica", title="time stable (red: stopped by a monitor)")
    frames = [f for f in result.positions if len(f)]
    # pooled only when every replica is the same molecule (same number of atoms)
    same = frames and all(f.shape[1] == frames[0].shape[1] for f in frames)
    pooled = np.concatenate(frames) if same else None
    plot_distance_histograms(axes[2], pooled, reference, "replicas, pooled")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_energy_log(path: str | Path, result) -> None:
    """The replicas' total energies as CSV: ``time_ps,etot_0,etot_1,...`` (eV; NaN once a
    replica has failed)."""
    header = "time_ps," + ",".join(f"etot_{k}" for k in range(result.energies.shape[1]))
    np.savetxt(path, np.column_stack([result.log_time_ps, result.energies]), delimiter=",", header=header, comments="")
