"""HDF5 frame store: many structures of varying size, appendable, read lazily.

Layout (one HDF5 file; all datasets chunked, gzip-compressed, resizable):

    /numbers     (A,)     uint8    atomic numbers of all frames, concatenated
    /positions   (A, 3)   float32  Å
    /forces      (A, 3)   float32  eV/Å                      (if the store has forces)
    /velocities  (A, 3)   float32  Å/fs                      (optional: MD restart state)
    /energy      (F,)     float64  eV
    /n_atoms     (F,)     int32
    /offset      (F,)     int64    start of each frame in the per-atom arrays
    /frame_id    (F,)     int64
    /cell        (F, 3, 3) float64 Å, lattice vectors as rows (zeros for molecules)
    /pbc         (F, 3)   bool
    /stress      (F, 6)   float64  eV/Å^3, ASE Voigt order xx yy zz yz xz xy (optional)

File attributes: format="equipot-h5", format_version=1, energy_unit="eV",
length_unit="Angstrom", force_unit="eV/Angstrom", level_of_theory, code, code_version,
created_with (the command or recipe), created (ISO date), plus free-form metadata.

A frame is appended and flushed at once, so a generation run that is killed loses at most
the frame it was computing; reopening in mode "a" continues after the last frame.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from equipot.data.frame import Frame, atoms_labels  # noqa: F401 (atoms_labels: re-exported)
from equipot.errors import EquipotError, ExistingFileError, MissingFileError, brief

FORMAT = "equipot-h5"
FORMAT_VERSION = 1
_PER_ATOM = {
    "numbers": ((), "uint8"),
    "positions": ((3,), "float32"),
    "forces": ((3,), "float32"),
    "velocities": ((3,), "float32"),
}
_PER_FRAME = {
    "energy": ((), "float64"),
    "n_atoms": ((), "int32"),
    "offset": ((), "int64"),
    "frame_id": ((), "int64"),
    "cell": ((3, 3), "float64"),
    "pbc": ((3,), "bool"),
    "stress": ((6,), "float64"),
}
_OPTIONAL = ("forces", "velocities", "stress")


class FrameStore:
    """Frames in an HDF5 file. ``FrameStore(path)`` reads; ``FrameStore.create`` makes one;
    mode "a" appends. Reading is lazy: ``store[i]`` reads only frame i, so a store larger
    than memory still trains. The file is opened on first access in each process, so a
    store can be handed to DataLoader worker processes."""

    def __init__(self, path: str | os.PathLike, mode: str = "r") -> None:
        if mode not in ("r", "a"):
            raise EquipotError(f"mode must be 'r' or 'a' (use FrameStore.create for new files), got {mode!r}")
        self.path = Path(path)
        if not self.path.is_file():
            raise MissingFileError(f"no frame store at {self.path}")
        self.mode = mode
        self._file: h5py.File | None = None
        self._pid: int | None = None
        try:
            fh = h5py.File(self.path, "r")
        except BlockingIOError:
            raise EquipotError(f"{self.path} is open for writing in another process") from None
        except OSError as err:
            raise EquipotError(f"{self.path} is not an HDF5 frame store ({brief(err)})") from None
        with fh:
            if fh.attrs.get("format") != FORMAT:
                raise EquipotError(f"{self.path} is not an equipot frame store (no format='{FORMAT}' attribute)")

    @classmethod
    def create(
        cls,
        path: str | os.PathLike,
        *,
        level_of_theory: str,
        code: str,
        code_version: str,
        created_with: str,
        metadata: dict[str, Any] | None = None,
        overwrite: bool = False,
        chunk_atoms: int = 4096,
    ) -> "FrameStore":
        path = Path(path)
        if path.exists() and not overwrite:
            raise ExistingFileError(
                f"{path} exists; replace it with --overwrite (overwrite=True from Python) "
                "or append to it with FrameStore(path, mode='a')"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(path, "w") as fh:
            attrs = dict(
                format=FORMAT,
                format_version=FORMAT_VERSION,
                energy_unit="eV",
                length_unit="Angstrom",
                force_unit="eV/Angstrom",
                stress_unit="eV/Angstrom^3",
                velocity_unit="Angstrom/fs",
                level_of_theory=level_of_theory,
                code=code,
                code_version=code_version,
                created_with=created_with,
                created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            )
            attrs.update(metadata or {})
            for key, value in attrs.items():
                fh.attrs[key] = value
            for name, (shape, dtype) in {**_PER_ATOM, **_PER_FRAME}.items():
                chunk = chunk_atoms if name in _PER_ATOM else 1024
                fh.create_dataset(
                    name,
                    shape=(0, *shape),
                    maxshape=(None, *shape),
                    dtype=dtype,
                    chunks=(chunk, *shape),
                    compression="gzip",
                    compression_opts=4,
                    shuffle=True,
                )
        return cls(path, mode="a")

    # --- file handling ----------------------------------------------------------------------
    @property
    def file(self) -> h5py.File:
        if self._file is None or self._pid != os.getpid():  # re-open after a fork
            self._file = h5py.File(self.path, self.mode)
            self._pid = os.getpid()
        return self._file

    def close(self) -> None:
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None

    def __enter__(self) -> "FrameStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getstate__(self) -> dict:
        return {"path": self.path, "mode": self.mode, "_file": None, "_pid": None}

    @property
    def attrs(self) -> dict[str, Any]:
        return {k: (v.item() if hasattr(v, "item") else v) for k, v in self.file.attrs.items()}

    def __len__(self) -> int:
        return int(self.file["energy"].shape[0])

    # --- writing ----------------------------------------------------------------------------
    def append(self, frames: Any) -> None:
        """Append ``ase.Atoms`` or ``Frame`` objects (one or an iterable), flushing at the end."""
        if self.mode != "a":
            raise EquipotError("store opened read-only; use FrameStore(path, mode='a')")
        if not isinstance(frames, Iterable) or hasattr(frames, "positions"):
            frames = [frames]
        fh = self.file
        for frame in frames:
            if not isinstance(frame, Frame):
                frame = Frame.from_atoms(frame)
            self._append_one(fh, frame)
        fh.flush()

    def _append_one(self, fh: h5py.File, frame: Frame) -> None:
        n = len(frame.numbers)
        f = fh["energy"].shape[0]
        start = fh["numbers"].shape[0]
        if frame.energy is None:
            raise EquipotError("a frame needs an energy to be stored")
        for name in _OPTIONAL:
            has = getattr(frame, name) is not None
            if f > 0 and has != bool(fh.attrs.get(f"has_{name}", False)):
                raise EquipotError(f"frame {f}: {name} {'present' if has else 'missing'}, unlike earlier frames")
            fh.attrs[f"has_{name}"] = has
        per_atom = {
            "numbers": frame.numbers,
            "positions": frame.positions,
            "forces": frame.forces,
            "velocities": frame.velocities,
        }
        for name, value in per_atom.items():
            ds = fh[name]
            ds.resize(start + n, axis=0)
            if value is not None:
                ds[start:] = value
        # "energy" is written last: its length is the frame count, so a run killed half-way
        # through this function leaves a store whose complete frames are all still valid
        # (per-atom leftovers are never referenced; per-frame ones are overwritten next time)
        per_frame = {
            "n_atoms": n,
            "offset": start,
            "frame_id": frame.frame_id if frame.frame_id >= 0 else f,
            "cell": frame.cell if frame.cell is not None else np.zeros((3, 3)),
            "pbc": frame.pbc if frame.pbc is not None else np.zeros(3, bool),
            "stress": frame.stress if frame.stress is not None else np.zeros(6),
            "energy": frame.energy,
        }
        for name, value in per_frame.items():
            ds = fh[name]
            ds.resize(f + 1, axis=0)
            ds[f] = value

    def write_table(self, name: str, columns: dict[str, Any]) -> None:
        """Store (or replace) a side table ``name`` of per-frame columns, all of one length, in
        the same file (``tables/NAME/COLUMN``): provenance, say, of frames added later."""
        if self.mode != "a":
            raise EquipotError("store opened read-only; use FrameStore(path, mode='a')")
        arrays = {k: np.asarray(v) for k, v in columns.items()}
        if len({len(a) for a in arrays.values()}) > 1:
            raise EquipotError(f"table {name!r}: columns of different lengths")
        fh = self.file
        group = fh.require_group("tables")
        if name in group:
            del group[name]
        table = group.create_group(name)
        for key, value in arrays.items():
            table.create_dataset(key, data=value.astype("S") if value.dtype.kind == "U" else value)
        fh.flush()

    def read_table(self, name: str) -> dict[str, np.ndarray]:
        """A side table written by ``write_table`` (text columns as str); empty if absent."""
        fh = self.file
        if "tables" not in fh or name not in fh["tables"]:
            return {}
        out = {}
        for key, ds in fh["tables"][name].items():
            value = ds[()]
            out[key] = value.astype(str) if value.dtype.kind == "S" else value
        return out

    # --- reading ----------------------------------------------------------------------------
    def __getitem__(self, i: int) -> Frame:
        n_frames = len(self)
        if not -n_frames <= i < n_frames:
            raise IndexError(f"frame {i} out of range for a store of {n_frames} frames")
        i = int(i) % n_frames
        fh = self.file
        start, n = int(fh["offset"][i]), int(fh["n_atoms"][i])
        sl = slice(start, start + n)
        has = {name: bool(fh.attrs.get(f"has_{name}", False)) for name in _OPTIONAL}
        return Frame(
            numbers=fh["numbers"][sl].astype(np.int64),
            positions=fh["positions"][sl].astype(np.float64),
            energy=float(fh["energy"][i]),
            forces=fh["forces"][sl].astype(np.float64) if has["forces"] else None,
            cell=fh["cell"][i],
            pbc=fh["pbc"][i],
            stress=fh["stress"][i] if has["stress"] else None,
            velocities=fh["velocities"][sl].astype(np.float64) if has["velocities"] else None,
            frame_id=int(fh["frame_id"][i]),
        )

    def to_atoms(self, i: int):
        return self[i].to_atoms()

    def trajectory_positions(self) -> np.ndarray:
        """Positions (T, n, 3) in Å of every frame, read in one go, for a store holding one
        system's trajectory (the same atoms in every frame): one read instead of one per frame."""
        fh = self.file
        n_atoms, offset = fh["n_atoms"][:], fh["offset"][:]
        if len(n_atoms) == 0:
            raise EquipotError(f"{self.path} has no frames")
        n = int(n_atoms[0])
        if (n_atoms != n).any() or (offset != n * np.arange(len(offset))).any():
            raise EquipotError(f"{self.path} holds frames of different sizes, not one system's trajectory")
        numbers = fh["numbers"][: n * len(n_atoms)].reshape(len(n_atoms), n)
        if (numbers != numbers[0]).any():
            raise EquipotError(f"{self.path} holds frames of different systems, not one system's trajectory")
        return fh["positions"][: n * len(n_atoms)].astype(np.float64).reshape(len(n_atoms), n, 3)

    def summary(self) -> dict[str, Any]:
        """Frames, elements, sizes, energy and force statistics (reads the whole file)."""
        from ase.data import chemical_symbols

        fh = self.file
        numbers = fh["numbers"][:]
        n_atoms = fh["n_atoms"][:]
        energy = fh["energy"][:]
        z, counts = np.unique(numbers, return_counts=True)
        out: dict[str, Any] = {
            "frames": int(len(energy)),
            "atoms": int(len(numbers)),
            "elements": {chemical_symbols[int(k)]: int(c) for k, c in zip(z, counts)},
            "n_atoms_min": int(n_atoms.min()) if len(n_atoms) else 0,
            "n_atoms_max": int(n_atoms.max()) if len(n_atoms) else 0,
        }
        if len(energy):
            per_atom = energy / n_atoms
            out.update(
                energy_mean=float(energy.mean()),
                energy_std=float(energy.std()),
                energy_min=float(energy.min()),
                energy_max=float(energy.max()),
                energy_per_atom_mean=float(per_atom.mean()),
                energy_per_atom_std=float(per_atom.std()),
                energy_per_atom_min=float(per_atom.min()),
                energy_per_atom_max=float(per_atom.max()),
            )
        if fh.attrs.get("has_forces", False) and len(numbers):
            forces = fh["forces"][:]
            out.update(
                force_rms=float(np.sqrt((forces.astype(np.float64) ** 2).mean())),
                force_max=float(np.linalg.norm(forces, axis=1).max()),
            )
        return out
