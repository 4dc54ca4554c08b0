"""What an MD run returns: one ``Failure`` type (single runs, replicas, reference sampling),
``MDResult`` (``run_md``) and ``ReplicaResult`` (``ReplicaDynamics.run``)."""

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
    """Outcome of ``run_md``. Times in ps, wall time in s; ``drift`` (NVE only) is
    ``energy_drift``'s dict (meV/atom/ps, meV/atom); ``paths`` names the files written;
    ``hr_error`` is Fu et al.'s h(r) error against the reference, when one was given."""

    steps_done: int
    time_ps: float
    stopped_early: bool
    failure: Failure | None
    time_to_failure_ps: float | None
    wall_s: float
    ns_per_day: float
    drift: dict[str, float] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)
    hr_error: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ReplicaResult:
    steps: int
    time_ps: float
    wall_s: float
    failures: list[Failure | None]
    replica_steps_per_s: float
    energies: np.ndarray = field(repr=False)  # (n_logged, R) total energy, eV (NaN after failure)
    log_time_ps: np.ndarray = field(repr=False)
    # per replica (T_k, n_k, 3) positions every ``record_every`` steps while it was alive
    positions: list[np.ndarray] = field(default_factory=list, repr=False)

    @property
    def stable_times_ps(self) -> list[float]:
        """Time to failure of each replica, or the full run time when it never failed."""
        return [f.time_ps if f else self.time_ps for f in self.failures]
