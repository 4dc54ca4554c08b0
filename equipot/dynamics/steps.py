"""How long a run is: a number of integrator steps from a step count or a duration."""

from __future__ import annotations

import re

from equipot.errors import EquipotError


def n_steps(steps: int | None, duration_ps: float | None, timestep_fs: float) -> int:
    """Steps of a run given either ``steps`` or ``duration_ps`` (exactly one), at least 1."""
    if (steps is None) == (duration_ps is None):
        raise EquipotError("give exactly one of steps or duration_ps")
    if timestep_fs <= 0:
        raise EquipotError(f"timestep_fs must be positive, got {timestep_fs}")
    n = int(steps) if steps is not None else int(round(duration_ps * 1000.0 / timestep_fs))
    if n < 1:
        raise EquipotError(f"the run must have at least one step, got {n}")
    return n


def parse_duration(text: str, timestep_fs: float) -> int:
    """Number of steps from '10ps', '500fs', '0.1ns', '2000steps' or a plain number of ps."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*(ns|ps|fs|steps?)?\s*", text)
    if not m:
        raise EquipotError(f"cannot read duration {text!r}; use e.g. 10ps, 500fs, 2000steps or a number of ps")
    value, unit = float(m.group(1)), m.group(2) or "ps"
    if unit.startswith("step"):
        if value != int(value):
            raise EquipotError(f"a number of steps must be whole, got {text!r}")
        return n_steps(int(value), None, timestep_fs)
    steps = int(round(value * {"ns": 1e6, "ps": 1e3, "fs": 1.0}[unit] / timestep_fs))
    if steps < 1:
        raise EquipotError(f"duration {text!r} is less than one {timestep_fs} fs step")
    return steps
