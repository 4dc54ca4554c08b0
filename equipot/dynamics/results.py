"""What an MD run returns: one ``Failure`` type and one ``MDResult`` type, for ``run_md`` (one
system), ``ReplicaDynamics.run`` (a batch of systems) and reference sampling."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass
class Failure:
    """Why and when a run stopped: the monitor's name, its reason, the step and time (ps), and
    for one of several batched replicas (``ReplicaDynamics``) its index. One type for single
    runs, replicas and reference sampling."""

    monitor: str
    reason: str
    step: int
    time_ps: float
    replica: int | None = None


@dataclass
class MDResult:
    """Outcome of an MD run of one system or a batch of them. Times in ps, wall time in s.

    ``failures`` has one entry per system (None for one that ran to the end); ``failure`` is
    the earliest. ``ns_per_day`` counts the simulated time of this call, per system;
    ``replica_steps_per_s`` the steps of all live systems per second. ``drift`` (NVE, one
    system) is ``energy_drift``'s dict (meV/atom/ps, meV/atom); ``paths`` names the files
    written; ``hr_error`` is Fu et al.'s h(r) error against the reference, when one was
    given. A batch also keeps its logged total energies (``energies``, (n_logged, R) eV, NaN
    once a replica failed, at ``log_time_ps``) and each replica's recorded positions
    (``positions``, (T_k, n_k, 3))."""

    steps_done: int
    time_ps: float
    wall_s: float
    failures: list[Failure | None]
    ns_per_day: float = float("nan")
    replica_steps_per_s: float = float("nan")
    drift: dict[str, float] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)
    hr_error: float | None = None
    energies: np.ndarray | None = field(default=None, repr=False)
    log_time_ps: np.ndarray | None = field(default=None, repr=False)
    positions: list[np.ndarray] = field(default_factory=list, repr=False)

    @property
    def failure(self) -> Failure | None:
        """The earliest failure, or None when every system ran to the end."""
        failed = [f for f in self.failures if f is not None]
        return min(failed, key=lambda f: f.step) if failed else None

    @property
    def stopped_early(self) -> bool:
        """Whether every system failed before the end (for one system: whether it failed)."""
        return bool(self.failures) and all(f is not None for f in self.failures)

    @property
    def time_to_failure_ps(self) -> float | None:
        return self.failure.time_ps if self.failure else None

    @property
    def stable_times_ps(self) -> list[float]:
        """Time to failure of each system, or the full run time when it never failed."""
        return [f.time_ps if f else self.time_ps for f in self.failures]

    @property
    def steps(self) -> int:
        return self.steps_done

    def to_dict(self) -> dict[str, Any]:
        """The scalars, failures and paths (not the logged arrays), for ``report.json``."""
        out = {
            k: getattr(self, k)
            for k in ("steps_done", "time_ps", "wall_s", "ns_per_day", "replica_steps_per_s", "drift", "paths")
        }
        out.update(
            stopped_early=self.stopped_early,
            failure=asdict(self.failure) if self.failure else None,
            failures=[asdict(f) if f else None for f in self.failures],
            time_to_failure_ps=self.time_to_failure_ps,
            hr_error=self.hr_error,
        )
        return out


# the name batched runs returned before there was one result type
ReplicaResult = MDResult
