"""End-of-run report: ``report.json`` and ``report.png`` (energy, temperature and h(r) panels)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from equipot.data.readers import load_positions


def jsonable(x: Any) -> Any:
    """NaN/inf become null (JSON has no NaN); numpy scalars become Python numbers."""
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def report_dict(settings: dict, result) -> dict:
    """The contents of ``report.json``, one schema for single runs, replicas and reference
    sampling: ``settings``, ``result`` and one row per replica (here one), with the drift,
    failure and h(r) error beside them."""
    failure = result.failure
    row = {
        "replica": 0,
        "time_ps": failure.time_ps if failure else result.time_ps,
        "monitor": failure.monitor if failure else None,
        "reason": failure.reason if failure else None,
        "drift": result.drift or None,
        "hr_error": result.hr_error,
    }
    return {
        "settings": settings,
        "result": result.to_dict(),
        "replicas": [row],
        "drift": result.drift or None,
        "failure": result.to_dict()["failure"],
        "hr_error": result.hr_error,
    }


def write_report(
    out: str | Path, settings: dict, result, rows: list[dict], *, traj_path: str | Path | None = None, reference=None
) -> dict[str, str]:
    """Write ``report.json`` (settings, result, drift, failure, h(r) error) and ``report.png``
    into ``out``; records both in ``result.paths`` and returns them."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"report": str(out / "report.json"), "plot": str(out / "report.png")}
    result.paths.update(paths)
    written = traj_path is not None and Path(traj_path).is_file() and Path(traj_path).stat().st_size > 0
    frames = load_positions(traj_path) if written else None
    ref = load_positions(reference) if reference is not None else None

    report = report_dict(settings, result)
    (out / "report.json").write_text(json.dumps(jsonable(report), indent=2, default=str))

    from equipot.plotting import pyplot

    plt = pyplot()

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    t = np.array([r["time_ps"] for r in rows])
    if len(t):
        axes[0].plot(t, [r["etot_eV"] for r in rows], label="total")
        axes[0].plot(t, [r["epot_eV"] for r in rows], label="potential")
        axes[0].legend()
        axes[1].plot(t, [r["temperature_K"] for r in rows])
        axes[1].axhline(settings.get("temperature_K", 0), color="k", ls="--", lw=0.8, label="target")
    axes[0].set(xlabel="time (ps)", ylabel="energy (eV)", title="energy")
    axes[1].set(xlabel="time (ps)", ylabel="temperature (K)", title="temperature")
    title = "interatomic distances" + (f" (error {result.hr_error:.3f})" if result.hr_error is not None else "")
    plot_distance_histograms(axes[2], frames, ref, "this run", title)
    if result.failure:
        fig.suptitle(f"stopped at {result.failure.time_ps:.3f} ps by {result.failure.monitor}: {result.failure.reason}")
    fig.tight_layout()
    fig.savefig(out / "report.png", dpi=110)
    plt.close(fig)
    return paths


def plot_distance_histograms(
    ax, frames: np.ndarray | None, reference: np.ndarray | None, label: str, title: str = "interatomic distances"
) -> None:
    """h(r) of ``frames`` (T, n, 3) and, dashed, of ``reference`` on ``ax``; either may be None."""
    from equipot.dynamics.analysis import distance_histogram

    if frames is not None and len(frames) and frames.shape[1] > 1:
        ax.plot(*distance_histogram(frames), label=label)
    if reference is not None and len(reference) and reference.shape[1] > 1:
        ax.plot(*distance_histogram(reference), ls="--", label="reference")
    if ax.lines:
        ax.legend()
    ax.set(xlabel="r (Å)", ylabel="h(r) (1/Å)", title=title)
