"""Datasets of ``AtomicGraph``s for training, and the statistics computed from them once."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from ase.data import chemical_symbols

from equipot.data.graph import AtomicGraph
from equipot.data.store import Frame, FrameStore
from equipot.errors import EquipotError


class GraphDataset(torch.utils.data.Dataset):
    """Frames of a ``FrameStore`` (or a list of ``ase.Atoms``) as graphs with targets.

    Each frame's neighbour list is built once and kept in memory when ``cache`` is true;
    otherwise frames are read lazily from the store every epoch (larger-than-memory data).
    """

    def __init__(
        self,
        source: str | Path | FrameStore | Sequence,
        cutoff: float,
        indices: Sequence[int] | None = None,
        cache: bool = True,
    ) -> None:
        if isinstance(source, (str, Path)):
            source = FrameStore(source)
        self.source = source
        self.cutoff = float(cutoff)
        self.indices = list(range(len(source))) if indices is None else [int(i) for i in indices]
        self.cache: dict[int, AtomicGraph] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.indices)

    def close(self) -> None:
        """Close the store's file (HDF5 will not open a file for writing while it is open here)."""
        if isinstance(self.source, FrameStore):
            self.source.close()

    def frame(self, k: int) -> Frame:
        item = self.source[self.indices[k]]
        return item if isinstance(item, Frame) else Frame.from_atoms(item)

    def __getitem__(self, k: int) -> AtomicGraph:
        if self.cache is not None and k in self.cache:
            return self.cache[k]
        f = self.frame(k)
        if f.energy is None or f.forces is None:
            raise EquipotError(f"frame {self.indices[k]} has no energy or forces to train on")
        graph = AtomicGraph.from_arrays(
            f.numbers,
            f.positions,
            self.cutoff,
            cell=f.cell,
            pbc=f.pbc,
            energy=f.energy,
            forces=f.forces,
            stress=f.stress if f.pbc is not None and np.all(f.pbc) else None,
            dtype=torch.float64,
        )
        if self.cache is not None:
            self.cache[k] = graph
        return graph


class ConcatGraphDataset(torch.utils.data.Dataset):
    """Several ``GraphDataset``s (one per frame store) seen as one: training on many files."""

    def __init__(self, parts: Sequence[GraphDataset]) -> None:
        self.parts = list(parts)
        self.offsets = np.cumsum([0] + [len(p) for p in self.parts])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def close(self) -> None:
        for part in self.parts:
            part.close()

    def _locate(self, k: int) -> tuple[GraphDataset, int]:
        if not 0 <= k < len(self):
            raise IndexError(k)
        part = int(np.searchsorted(self.offsets, k, side="right")) - 1
        return self.parts[part], k - int(self.offsets[part])

    def frame(self, k: int) -> Frame:
        part, i = self._locate(k)
        return part.frame(i)

    def __getitem__(self, k: int) -> AtomicGraph:
        part, i = self._locate(k)
        return part[i]


def expand_data_paths(data: str | Path | Sequence[str | Path]) -> list[str]:
    """Frame-store paths from one path, a glob pattern, or a list of either (sorted per pattern)."""
    import glob

    items = [data] if isinstance(data, (str, Path)) else list(data)
    paths: list[str] = []
    for item in items:
        item = str(item)
        if any(ch in item for ch in "*?["):
            found = sorted(glob.glob(item))
            if not found:
                raise EquipotError(f"no frame stores match {item!r}")
            paths.extend(found)
        else:
            if not Path(item).is_file():
                raise EquipotError(f"frame store {item!r} does not exist")
            paths.append(item)
    if not paths:
        raise EquipotError("no training data given")
    return paths


def composition_and_energies(
    dataset: GraphDataset | ConcatGraphDataset, species: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """(frames, species) element counts and (frames,) energies of ``dataset`` (one read pass)."""
    counts = np.zeros((len(dataset), len(species)))
    energies = np.zeros(len(dataset))
    index = {s: i for i, s in enumerate(species)}
    for k in range(len(dataset)):
        f = dataset.frame(k)
        for z in f.numbers:
            counts[k, index[chemical_symbols[int(z)]]] += 1
        energies[k] = f.energy
    return counts, energies


def dispersion_energies(dataset: GraphDataset | ConcatGraphDataset, dispersion) -> np.ndarray:
    """(frames,) energy of the potential's ``dispersion`` term (``equipot.dispersion``; zeros
    for None) in each frame of ``dataset``: the part of the labels the network does not fit."""
    out = np.zeros(len(dataset))
    if dispersion is None:
        return out
    for k in range(len(dataset)):
        f = dataset.frame(k)
        pbc = np.zeros(3, bool) if f.pbc is None else np.asarray(f.pbc, bool)
        out[k] = dispersion(f.numbers, f.positions, f.cell, pbc).energy
    return out


def least_squares_reference_energies(counts: np.ndarray, energies: np.ndarray, species: list[str]) -> dict[str, float]:
    """Per-element energies E0 minimising sum_frames (E - sum_atoms E0[z])^2.

    Elements that never vary independently (one molecule) share the energy through the
    minimum-norm solution, which is what keeps predicted energies meaningful.
    """
    e0, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    return dict(zip(species, map(float, e0)))


def dataset_statistics(dataset: GraphDataset | ConcatGraphDataset) -> dict[str, float]:
    """RMS force component (eV/Å) and mean neighbour count of the training frames."""
    sq, n_comp, edges, atoms = 0.0, 0, 0, 0
    for k in range(len(dataset)):
        g = dataset[k]
        sq += float((g.forces**2).sum())
        n_comp += g.forces.numel()
        edges += g.edge_index.shape[1]
        atoms += g.num_atoms
    return {"force_rms": (sq / max(n_comp, 1)) ** 0.5, "avg_num_neighbors": edges / max(atoms, 1)}


def species_in(dataset: GraphDataset | ConcatGraphDataset) -> list[str]:
    """Element symbols present, in atomic-number order."""
    zs = set()
    for k in range(len(dataset)):
        zs.update(int(z) for z in dataset.frame(k).numbers)
    return [chemical_symbols[z] for z in sorted(zs)]
