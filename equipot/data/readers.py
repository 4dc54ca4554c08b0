"""Readers that turn what users have into ``Frame``s: extxyz, ASE databases, MD17 / rMD17 npz.

Units are converted to eV and Å on the way in (MD17 files are in kcal/mol and kcal/mol/Å).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from ase import units

from equipot.data.store import Frame, FrameStore
from equipot.errors import EquipotError, ExistingFileError, MissingFileError, brief

KCAL_PER_MOL = units.kcal / units.mol  # eV


def frames_from_atoms(
    images, energy_key: str = "energy", forces_key: str | None = "forces", stress_key: str | None = "stress"
) -> list[Frame]:
    """``Frame``s from ``ase.Atoms``: energy (eV), forces (n, 3) eV/Å and stress (6,) Voigt
    eV/Å^3 under the given keys (``equipot.data.store.atoms_labels``; a missing key is a
    ValueError). ``forces_key=None`` stores no forces."""
    return [
        Frame.from_atoms(
            atoms,
            k,
            energy_key=energy_key,
            forces_key=forces_key,
            stress_key=stress_key,
            required=True,
            velocities=False,
        )
        for k, atoms in enumerate(images)
    ]


def read_extxyz(
    path: str | Path,
    energy_key: str = "energy",
    forces_key: str | None = "forces",
    stress_key: str | None = "stress",
    index: str = ":",
) -> list[Frame]:
    """Extended XYZ with any energy/forces/stress keys (in ``info``/``arrays`` or calculator results)."""
    from ase.io import read

    return frames_from_atoms(read(str(path), index=index, format="extxyz"), energy_key, forces_key, stress_key)


def read_ase_db(
    path: str | Path,
    energy_key: str = "energy",
    forces_key: str | None = "forces",
    stress_key: str | None = "stress",
    selection: str | None = None,
) -> list[Frame]:
    """An ASE database (.db); rows in id order."""
    from ase.db import connect

    with connect(str(path)) as db:
        images = [row.toatoms(add_additional_information=True) for row in db.select(selection)]
    for atoms in images:
        atoms.info.update(atoms.info.pop("key_value_pairs", {}))
        atoms.info.update({k: v for k, v in atoms.info.pop("data", {}).items() if np.ndim(v) == 0})
    return frames_from_atoms(images, energy_key, forces_key, stress_key)


def _npz(path: str | Path, keys: tuple[str, ...], dataset: str) -> dict:
    data = np.load(path)
    missing = [k for k in keys if k not in data]
    if missing:
        raise EquipotError(f"{path} is not an {dataset} file: missing {missing}; it has {sorted(data.files)}")
    return {k: data[k] for k in keys}


def read_md17_npz(path: str | Path) -> list[Frame]:
    """Original MD17: R (F, n, 3) Å, E (F, 1) kcal/mol, F (F, n, 3) kcal/mol/Å, z (n,)."""
    d = _npz(path, ("R", "E", "F", "z"), "MD17")
    return _kcal_frames(d["z"], d["R"], d["E"], d["F"])


def read_rmd17_npz(path: str | Path) -> list[Frame]:
    """Revised MD17: coords (F, n, 3) Å, energies (F,) kcal/mol, forces kcal/mol/Å, nuclear_charges (n,)."""
    d = _npz(path, ("coords", "energies", "forces", "nuclear_charges"), "rMD17")
    return _kcal_frames(d["nuclear_charges"], d["coords"], d["energies"], d["forces"])


def _kcal_frames(numbers: np.ndarray, positions: np.ndarray, energies: np.ndarray, forces: np.ndarray) -> list[Frame]:
    """Frames of one molecule's trajectory with energies and forces in kcal/mol (and /Å)."""
    energies = energies.reshape(-1) * KCAL_PER_MOL
    return [
        Frame(
            numbers=numbers.astype(np.int64),
            positions=positions[k].astype(float),
            energy=float(energies[k]),
            forces=forces[k] * KCAL_PER_MOL,
            frame_id=k,
        )
        for k in range(len(energies))
    ]


def detect_format(path: str | Path) -> str:
    path = Path(path)
    if path.suffix == ".npz":
        files = set(np.load(path).files)
        if {"coords", "nuclear_charges"} <= files:
            return "rmd17"
        if {"R", "z"} <= files:
            return "md17"
        raise EquipotError(f"{path}: npz with keys {sorted(files)} is neither MD17 nor rMD17")
    if path.suffix == ".db":
        return "ase-db"
    if path.suffix in (".xyz", ".extxyz"):
        return "extxyz"
    raise EquipotError(f"cannot tell the format of {path}; pass fmt= (extxyz, ase-db, md17, rmd17)")


LEVEL_OF_THEORY = {"md17": "PBE+vdW-TS (MD17)", "rmd17": "PBE/def2-SVP (rMD17)"}


def convert(
    inputs,
    output: str | Path,
    fmt: str | None = None,
    level_of_theory: str | None = None,
    overwrite: bool = False,
    **keys,
) -> FrameStore:
    """Read every input file and write one frame store at ``output``.

    Everything is read and checked before ``output`` is touched, and the store is written
    under a temporary name and renamed at the end, so a bad input, or a failure half-way,
    leaves an existing ``output`` as it was."""
    inputs = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    output = Path(output)
    if output.exists() and not overwrite:
        raise ExistingFileError(f"{output} exists; replace it with --overwrite (overwrite=True from Python)")
    all_frames, kind = [], fmt
    for path in inputs:
        kind, frames = _read_frames(path, fmt, keys)
        all_frames += frames
    tmp = output.with_name(f".{output.name}.partial")
    store = FrameStore.create(
        tmp,
        level_of_theory=level_of_theory or LEVEL_OF_THEORY.get(kind, "unknown"),
        code="converted",
        code_version="",
        created_with=f"equipot data convert {' '.join(map(str, inputs))}",
        metadata={"source_format": kind},
        overwrite=True,
    )
    try:
        for k, frame in enumerate(all_frames):
            frame.frame_id = k
        store.append(all_frames)
        store.close()
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
    return FrameStore(output)


def _read_frames(path, fmt: str | None, keys: dict) -> tuple[str, list[Frame]]:
    """(format, frames) of one input file; a file that is missing or not of its format is an
    ``EquipotError`` naming it."""
    readers = {"extxyz": read_extxyz, "ase-db": read_ase_db, "md17": read_md17_npz, "rmd17": read_rmd17_npz}
    if not Path(path).is_file():
        raise MissingFileError(f"no input file {path}")
    if fmt is not None and fmt not in readers:
        raise EquipotError(f"unknown format {fmt!r}; choose from {sorted(readers)}")
    kind = fmt or Path(path).suffix
    try:
        kind = fmt or detect_format(path)
        frames = readers[kind](path, **keys) if kind in ("extxyz", "ase-db") else readers[kind](path)
    except EquipotError:
        raise
    except Exception as err:  # a reader's own parse error: the file is not what its name says
        raise EquipotError(f"cannot read {path} as {kind} ({brief(err)})") from err
    if not frames:
        raise EquipotError(f"{path} holds no frames")
    return kind, frames


def shipped_geometries() -> list[str]:
    """Names of the starting geometries shipped with equipot (the nine MD17 molecules)."""
    from importlib import resources

    folder = resources.files("equipot") / "geometries"
    return sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith(".xyz"))


def read_structure(spec: str | Path):
    """``ase.Atoms`` from a structure file (any ASE format; the first frame of a frame store,
    .h5) or a shipped geometry's name."""
    from importlib import resources

    from ase.io import read

    path = Path(spec)
    if path.is_file():
        if path.suffix in (".h5", ".hdf5"):
            with FrameStore(path) as store:
                if not len(store):
                    raise EquipotError(f"frame store {path} holds no frames")
                return store.to_atoms(0)
        try:
            return read(path)
        except Exception as err:  # ASE's own parse error: the file is not a structure it can read
            raise EquipotError(f"cannot read a structure from {path} ({brief(err)})") from err
    shipped = resources.files("equipot") / "geometries" / f"{spec}.xyz"
    if shipped.is_file():
        return read(str(shipped))
    raise MissingFileError(
        f"no file {str(spec)!r} and no shipped geometry of that name; shipped: {', '.join(shipped_geometries())}"
    )


def load_positions(source) -> np.ndarray:
    """(T, n, 3) positions, Å, of one system's trajectory: a frame store (.h5), a trajectory file
    (any ASE format), a list of Atoms, or an array ((n, 3) is one frame)."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise MissingFileError(f"no trajectory file {path}")
        if path.suffix in (".h5", ".hdf5"):
            with FrameStore(path) as store:
                return store.trajectory_positions()
        from ase.io import read

        source = read(path, index=":")
    if not isinstance(source, np.ndarray):
        source = np.stack([a.positions for a in source]) if len(source) else np.zeros((0, 0, 3))
    pos = np.asarray(source, float)
    return pos[None] if pos.ndim == 2 else pos
