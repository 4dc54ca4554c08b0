"""The settings of ``run_md`` in three small groups: how it integrates, what it writes, and
how it saves and resumes its state.

``run_md`` takes each group as an object or its fields as keywords (``report_dir=...``,
``restart_every=...``); ``grouped`` sorts the keywords into the groups.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from equipot.dynamics.loop import RestartRun
from equipot.errors import EquipotError


@dataclass(frozen=True)
class Integrator:
    """How the run integrates: the ensemble ("nvt" Langevin, "nve" velocity Verlet, "bussi",
    "nose-hoover"), the timestep (fs), Langevin friction (1/fs) or thermostat time (fs);
    whether the centre of mass is held fixed; and whether the run starts from
    Maxwell-Boltzmann velocities (``init_velocities``), rescaled to exactly the target
    temperature (``exact_temperature``)."""

    ensemble: str = "nvt"
    timestep_fs: float = 0.5
    friction_per_fs: float = 0.01
    thermostat_time_fs: float = 100.0
    fix_com: bool = True
    init_velocities: bool = True
    exact_temperature: bool = True


@dataclass(frozen=True)
class Outputs:
    """What the run writes: ``report_dir`` gets ``report.json`` and ``report.png`` (and the
    trajectory and log unless they are given elsewhere); a trajectory (.traj or .extxyz) frame
    every ``traj_every`` steps, a CSV log row every ``log_every``; ``reference`` frames (a list,
    a (T, n, 3) array or a trajectory file) add the h(r) error to the report."""

    report_dir: str | Path | None = None
    traj_path: str | Path | None = None
    traj_every: int = 10
    log_path: str | Path | None = None
    log_every: int = 10
    reference: Any = field(default=None, compare=False)
    progress: bool = True

    def paths(self) -> tuple[Path | None, Path | None, Path | None]:
        """(report folder, trajectory, log): the trajectory and log default to files in the
        report folder, which is made here."""
        if self.report_dir is None:
            return None, self.traj_path, self.log_path
        report = Path(self.report_dir)
        report.mkdir(parents=True, exist_ok=True)
        return (
            report,
            self.traj_path if self.traj_path is not None else report / "trajectory.extxyz",
            self.log_path if self.log_path is not None else report / "md.csv",
        )


@dataclass(frozen=True)
class Restarts:
    """Restart state: saved every ``every`` steps to ``path`` (default
    ``report_dir/restart.npz``); ``resume`` continues from it."""

    every: int | None = None
    path: str | Path | None = None
    resume: bool = False

    def open(self, report: Path | None) -> RestartRun:
        """Where the run saves its state, how often, and the state it resumes from (loaded
        here, so a damaged or missing file is an error before the run starts)."""
        from equipot.dynamics.restart import load_state

        path = self.where(report)
        return RestartRun(int(self.every) if self.every else None, path, load_state(path) if self.resume else None)

    def where(self, report: Path | None) -> Path | None:
        """The state file, checked: a run that saves or resumes must say where."""
        from equipot.dynamics.restart import RESTART_NAME

        if self.every is not None and int(self.every) < 1:
            raise EquipotError(f"restart_every must be a positive number of steps, got {self.every}")
        path = Path(self.path) if self.path is not None else (report / RESTART_NAME if report else None)
        if (self.every or self.resume) and path is None:
            raise EquipotError("restarts need restart_path or report_dir to say where the state lives")
        return path


# keyword of run_md -> (group, field)
_KEYWORDS = {name: (Integrator, name) for name in (f.name for f in dataclasses.fields(Integrator))}
_KEYWORDS.update({name: (Outputs, name) for name in (f.name for f in dataclasses.fields(Outputs))})
_KEYWORDS.update(restart_every=(Restarts, "every"), restart_path=(Restarts, "path"), resume=(Restarts, "resume"))


def grouped(
    integrator: Integrator | None, outputs: Outputs | None, restarts: Restarts | None, keywords: dict
) -> tuple[Integrator, Outputs, Restarts]:
    """The three groups, with ``keywords`` (fields of any group, by their ``run_md`` names)
    replacing what the objects (or the defaults) hold."""
    unknown = sorted(set(keywords) - set(_KEYWORDS))
    if unknown:
        raise TypeError(f"run_md() got unexpected keyword arguments {unknown}")
    groups = {Integrator: integrator or Integrator(), Outputs: outputs or Outputs(), Restarts: restarts or Restarts()}
    for cls in groups:
        changes = {f: keywords[name] for name, (c, f) in _KEYWORDS.items() if c is cls and name in keywords}
        if changes:
            groups[cls] = dataclasses.replace(groups[cls], **changes)
    return groups[Integrator], groups[Outputs], groups[Restarts]
