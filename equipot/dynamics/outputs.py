"""The files an MD run writes as it goes: a CSV log and a trajectory, resumable at an offset.

Both are flushed after every write, so a run killed mid-way leaves readable files. A resumed
run cuts each file back to the byte offset its restart state recorded (rows and frames written
after the last restart belong to steps it will compute again) and appends from there.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from ase import Atoms

from equipot.errors import EquipotError

LOG_COLUMNS = ["time_ps", "epot_eV", "ekin_eV", "etot_eV", "temperature_K"]


def _open_at(path: Path, offset: int | None, mode: str = "w", **kwargs):
    """``path`` opened for writing: new (``offset`` None) or cut back to ``offset`` bytes and
    opened for appending."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if offset is None:
        return open(path, mode, **kwargs)
    if not path.is_file() or path.stat().st_size < offset:
        raise EquipotError(
            f"{path} is shorter than the restart state says ({offset} bytes): it was changed or removed since"
        )
    os.truncate(path, offset)
    return open(path, "a", **kwargs)


class TrajectoryWriter:
    """Frames to an ASE ``.traj`` or an ``.extxyz``/``.xyz`` file, by extension. Only text
    trajectories can be resumed (``offset``): ASE's ``.traj`` keeps an index a cut would break."""

    def __init__(self, path: Path, atoms: Atoms, offset: int | None = None) -> None:
        suffix = path.suffix.lower()
        if suffix not in (".traj", ".extxyz", ".xyz"):
            raise EquipotError(f"trajectory must end in .traj, .extxyz or .xyz, got {path.name!r}")
        self.path = path
        if suffix == ".traj":
            if offset is not None:
                raise EquipotError("a run that writes restarts needs an .extxyz trajectory, not .traj")
            from ase.io.trajectory import Trajectory

            path.parent.mkdir(parents=True, exist_ok=True)
            self._traj, self._fh = Trajectory(str(path), "w", atoms), None
        else:
            self._traj, self._fh = None, _open_at(path, offset)

    @property
    def resumable(self) -> bool:
        return self._fh is not None

    def write(self, atoms: Atoms) -> None:
        if self._traj is not None:
            self._traj.write(atoms)
        else:
            from ase.io import write

            write(self._fh, atoms, format="extxyz")
            self._fh.flush()

    def tell(self) -> int:
        return self._fh.tell()

    def close(self) -> None:
        (self._traj or self._fh).close()


class LogWriter:
    """CSV rows of ``LOG_COLUMNS``; keeps every row (the report plots them). Resumed at
    ``offset``, it reads back the rows written before it."""

    def __init__(self, path: Path | None, offset: int | None = None) -> None:
        self.rows: list[dict[str, float]] = []
        self.path = path
        self._fh = self._csv = None
        if path is None:
            return
        if offset is not None:
            self.rows = read_log(path, offset)
        self._fh = _open_at(path, offset, newline="")
        self._csv = csv.DictWriter(self._fh, fieldnames=LOG_COLUMNS)
        if offset is None:
            self._csv.writeheader()

    def write(self, row: dict[str, float]) -> None:
        self.rows.append(row)
        if self._csv is not None:
            self._csv.writerow(row)
            self._fh.flush()

    def tell(self) -> int | None:
        return self._fh.tell() if self._fh is not None else None

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


def read_log(path: Path, limit: int | None = None) -> list[dict[str, float]]:
    """The rows of a CSV log, as floats; only its first ``limit`` bytes when given."""
    with open(path, "rb") as fh:
        text = (fh.read() if limit is None else fh.read(limit)).decode()
    return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(text.splitlines())]
