"""Stability study of molecules under batched MD (Fu et al., TMLR 2023, protocol).

Two halves, each one batched ``ReplicaDynamics`` run, resumable from a restart file:

- ``nvt_stability``: replicas of every molecule under Langevin NVT with the study monitors
  (Fu et al.'s bond criterion against a reference trajectory, temperature, force sanity, close
  contacts); per molecule the time each replica stayed stable, which monitor stopped it, and the
  h(r) error of the replicas' frames against the reference trajectory.
- ``nve_drift``: one replica per molecule under velocity Verlet in float64; per molecule the
  least-squares drift and fluctuation of E_tot/N (``analysis.energy_drift``).

``stability_plots`` draws both (h(r) panels, NVE energy traces).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms

from equipot.dynamics.analysis import (
    distance_histogram,
    distance_histogram_error,
    energy_drift,
)
from equipot.dynamics.monitors import ForceSanity, study_monitors
from equipot.dynamics.replicas import ReplicaDynamics

RECORD_EVERY = 20
"""Steps between the NVT frames kept for h(r): 10 fs at the study's 0.5 fs."""


def nvt_stability(
    model,
    starts: dict[str, Atoms],
    refs: dict[str, np.ndarray],
    *,
    replicas: int,
    duration_ps: float,
    restart_path: str | Path,
    temperature_K: float = 500.0,
    timestep_fs: float = 0.5,
    friction_per_fs: float = 0.01,
    seed: int = 0,
    device: str = "cpu",
    dtype: str = "float32",
    compile: bool = False,
    resume: bool = False,
    restart_every: int | None = None,
    max_wall_s: float | None = None,
    progress: bool = False,
) -> tuple[dict, dict[str, list[np.ndarray]]]:
    """``replicas`` copies of each start under NVT, all advanced together.

    Args:
        model: checkpoint path, shipped model name or loaded model.
        starts: molecule name -> starting structure.
        refs: molecule name -> (T, n, 3) reference positions (bond references, h(r)).

    Returns:
        (results, frames): ``results`` holds ``replica_steps_per_s``, ``wall_s``, ``run_ps`` and
        per molecule ``stable_ps``, ``failed``, ``reasons``, ``monitors`` (per replica, the monitor
        that stopped it or None), ``hr_mae`` and ``frames``; ``frames`` maps each molecule to one
        (T, n, 3) array per replica, a frame every ``RECORD_EVERY`` steps.
    """
    owner = [name for name in starts for _ in range(replicas)]
    systems = [starts[name] for name in owner]
    monitors = [study_monitors(starts[name], refs[name], contacts=True) for name in owner]
    dyn = ReplicaDynamics(
        model,
        systems,
        temperature_K=temperature_K,
        ensemble="nvt",
        timestep_fs=timestep_fs,
        friction_per_fs=friction_per_fs,
        seed=seed,
        device=device,
        dtype=dtype,
        monitors=monitors,
        check_every=20,
        compile=compile,
    )
    result = dyn.run_resumable(
        restart_path,
        resume=resume,
        restart_every=restart_every,
        duration_ps=duration_ps,
        record_every=RECORD_EVERY,
        progress=progress,
        max_wall_s=max_wall_s,
    )
    return _per_molecule(result, owner, refs)


def _per_molecule(result, owner: list[str], refs: dict[str, np.ndarray]) -> tuple[dict, dict[str, list[np.ndarray]]]:
    """``nvt_stability``'s (results, frames) from a replica run whose replica k is a copy of
    molecule ``owner[k]``."""
    out = {
        "replica_steps_per_s": result.replica_steps_per_s,
        "wall_s": result.wall_s,
        "run_ps": result.time_ps,
        "molecules": {},
    }
    frames_of = {}
    for name in dict.fromkeys(owner):
        ks = [k for k, o in enumerate(owner) if o == name]
        fails = [result.failures[k] for k in ks]
        per_replica = [result.positions[k] for k in ks]
        frames = np.concatenate(per_replica)
        out["molecules"][name] = {
            "stable_ps": [result.stable_times_ps[k] for k in ks],
            "failed": sum(f is not None for f in fails),
            "reasons": [f.reason for f in fails if f is not None],
            "monitors": [None if f is None else f.monitor for f in fails],
            "hr_mae": distance_histogram_error(frames, refs[name]) if len(frames) else float("nan"),
            "frames": int(len(frames)),
        }
        frames_of[name] = per_replica
    return out, frames_of


def nve_drift(
    model,
    starts: dict[str, Atoms],
    *,
    duration_ps: float,
    restart_path: str | Path,
    temperature_K: float = 300.0,
    timestep_fs: float = 0.5,
    seed: int = 0,
    device: str = "cpu",
    resume: bool = False,
    restart_every: int | None = None,
    max_wall_s: float | None = None,
    progress: bool = False,
) -> dict:
    """One float64 NVE replica per molecule from a Maxwell-Boltzmann start at ``temperature_K``.

    Returns ``run_ps`` and per molecule the ``energy_drift`` figures with the traces
    (``time_ps``, ``etot_eV``, one point every 10 steps).
    """
    systems = list(starts.values())
    dyn = ReplicaDynamics(
        model,
        systems,
        temperature_K=temperature_K,
        ensemble="nve",
        timestep_fs=timestep_fs,
        seed=seed,
        device=device,
        dtype="float64",
        monitors=[ForceSanity()],
    )
    result = dyn.run_resumable(
        restart_path,
        resume=resume,
        restart_every=restart_every,
        duration_ps=duration_ps,
        log_every=10,
        progress=progress,
        max_wall_s=max_wall_s,
    )
    out = {"run_ps": result.time_ps}
    for k, name in enumerate(starts):
        etot = result.energies[:, k]
        out[name] = {
            **energy_drift(result.log_time_ps, etot, len(systems[k])),
            "time_ps": result.log_time_ps.tolist(),
            "etot_eV": etot.tolist(),
        }
    return out


def frames_as_atoms(
    frames_of: dict[str, list[np.ndarray]], starts: dict[str, Atoms], step_fs: float, seed: int
) -> dict[str, list[Atoms]]:
    """Each molecule's kept NVT frames as Atoms tagged with ``replica``, ``seed`` and ``time_fs``
    (``step_fs`` apart), for writing out and looking into a surprising h(r)."""
    out = {}
    for name, per_replica in frames_of.items():
        images = []
        for r, frames in enumerate(per_replica):
            for j, pos in enumerate(frames):
                atoms = starts[name].copy()
                atoms.positions = pos
                atoms.info.update(replica=r, seed=seed, time_fs=(j + 1) * step_fs)
                images.append(atoms)
        out[name] = images
    return out


def stability_plots(
    nvt: dict, frames_of: dict, nve: dict, starts: dict[str, Atoms], refs: dict, out: str | Path
) -> None:
    """``out/hr.png`` (each molecule's h(r) against the reference) when NVT ran, and
    ``out/nve_energy.png`` (E_tot - E_tot(0) per atom against time) when NVE ran."""
    out = Path(out)
    if nvt:
        _hr_panels(nvt, frames_of, list(starts), refs, out / "hr.png")
    if nve:
        _nve_traces(nve, starts, out / "nve_energy.png")


def _hr_panels(nvt: dict, frames_of: dict, molecules: list[str], refs: dict, path: Path) -> None:
    from equipot.plotting import pyplot

    plt = pyplot()
    cols = min(4, len(molecules))
    rows = int(np.ceil(len(molecules) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    for ax, name in zip(axes.flat, molecules):
        r, h_ref = distance_histogram(refs[name])
        ax.plot(r, h_ref, color="k", lw=1.5, label="reference")
        frames = np.concatenate(frames_of[name])
        if len(frames):
            ax.plot(r, distance_histogram(frames)[1], color="C1", lw=1, label="Equiformer")
        ax.set_title(f"{name}  h(r) MAE {nvt['molecules'][name]['hr_mae']:.3f}")
        ax.set_xlim(0, 8)
        ax.set_xlabel("r (Å)")
    axes.flat[0].legend()
    for ax in list(axes.flat)[len(molecules) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _nve_traces(nve: dict, starts: dict[str, Atoms], path: Path) -> None:
    from equipot.plotting import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, atoms in starts.items():
        e = np.asarray(nve[name]["etot_eV"])
        ax.plot(nve[name]["time_ps"], (e - e[0]) * 1000 / len(atoms), lw=1, label=name)
    ax.set_xlabel("time (ps)")
    ax.set_ylabel("E_tot - E_tot(0) (meV/atom)")
    ax.set_title("NVE, float64")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
