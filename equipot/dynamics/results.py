"""What an MD run returns: one ``Failure`` type (single runs, replicas, reference sampling)
and ``MDResult``, the outcome of ``run_md``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


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
