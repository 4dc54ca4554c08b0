"""End-of-run report: JSON and a PNG with energy, temperature and h(r) panels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def write_report(out: Path, settings: dict, result, rows: list[dict], traj: Path | None) -> None:
    from equipot.dynamics.analysis import distance_histogram
    from equipot.dynamics.md import result_dict

    report = {"settings": settings, "result": result_dict(result)}
    (out / "report.json").write_text(json.dumps(report, indent=2, default=float))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.array([r["time_ps"] for r in rows])
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    if len(t):
        axes[0].plot(t, [r["etot_eV"] for r in rows], label="total")
        axes[0].plot(t, [r["epot_eV"] for r in rows], label="potential")
        axes[0].set(xlabel="time (ps)", ylabel="energy (eV)", title="energy")
        axes[0].legend()
        axes[1].plot(t, [r["temperature_K"] for r in rows])
        axes[1].axhline(settings["temperature_K"], color="k", ls="--", lw=0.8)
        axes[1].set(xlabel="time (ps)", ylabel="K", title="temperature")
    if traj is not None and traj.is_file():
        from ase.io import read

        frames = read(traj, index=":")
        if frames:
            r, h = distance_histogram(np.stack([f.positions for f in frames]))
            axes[2].plot(r, h)
    axes[2].set(xlabel="r (Å)", ylabel="h(r)", title="interatomic distances")
    if result.failure:
        fig.suptitle(f"stopped at {result.failure.time_ps:.3f} ps: {result.failure.reason}")
    fig.tight_layout()
    fig.savefig(out / "report.png", dpi=110)
    plt.close(fig)
