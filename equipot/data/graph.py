"""``AtomicGraph``: the one graph/batch type used by training, evaluation and the calculator."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

import numpy as np
import torch

from equipot.data.neighbors import neighbor_list
from equipot.data.store import atoms_labels
from equipot.errors import EquipotError


@dataclass
class AtomicGraph:
    """One structure or a batch of structures with their radius graph.

    Shapes (N atoms, E edges, B structures):
        numbers (N,) int64 atomic numbers
        positions (N, 3) Å
        cell (B, 3, 3) lattice vectors as rows, Å (zeros for molecules)
        pbc (B, 3) bool
        edge_index (2, E) int64, rows (src, dst): src sends to dst
        shifts (E, 3) lattice translations of src, so r_ij = pos[src] - pos[dst] + shifts @ cell
        batch (N,) int64 structure index of each atom
        energy (B,) eV, forces (N, 3) eV/Å, stress (B, 3, 3) eV/Å^3: optional targets
    """

    numbers: torch.Tensor
    positions: torch.Tensor
    cell: torch.Tensor
    pbc: torch.Tensor
    edge_index: torch.Tensor
    shifts: torch.Tensor
    batch: torch.Tensor
    energy: torch.Tensor | None = None
    forces: torch.Tensor | None = None
    stress: torch.Tensor | None = None

    @property
    def num_graphs(self) -> int:
        return int(self.cell.shape[0])

    @property
    def num_atoms(self) -> int:
        return int(self.numbers.shape[0])

    def atoms_per_graph(self) -> torch.Tensor:
        """(B,) number of atoms in each structure."""
        return torch.bincount(self.batch, minlength=self.num_graphs)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> "AtomicGraph":
        """Move to a device; cast floating tensors to ``dtype`` (integers and bools stay)."""
        changes = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if value.is_floating_point() and dtype is not None:
                value = value.to(device=device, dtype=dtype)
            else:
                value = value.to(device=device)
            changes[f.name] = value
        return replace(self, **changes)

    @classmethod
    def from_arrays(
        cls,
        numbers: np.ndarray,
        positions: np.ndarray,
        cutoff: float,
        cell: np.ndarray | None = None,
        pbc: np.ndarray | Sequence[bool] | None = None,
        energy: float | None = None,
        forces: np.ndarray | None = None,
        stress: np.ndarray | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> "AtomicGraph":
        """One structure, with its neighbour list (matscipy) built at ``cutoff`` Å."""
        positions = np.asarray(positions, dtype=np.float64)
        numbers = np.asarray(numbers, dtype=np.int64).reshape(-1)
        if positions.shape != (len(numbers), 3):
            raise EquipotError(f"positions shape {positions.shape} does not match {len(numbers)} atoms")
        pbc_arr = np.zeros(3, dtype=bool) if pbc is None else np.asarray(pbc, dtype=bool).reshape(3)
        cell_arr = np.zeros((3, 3)) if cell is None else np.asarray(cell, dtype=np.float64).reshape(3, 3)
        src, dst, shifts = neighbor_list(positions, cutoff, cell_arr, pbc_arr)
        return cls(
            numbers=torch.from_numpy(numbers),
            positions=torch.as_tensor(positions, dtype=dtype),
            cell=torch.as_tensor(cell_arr, dtype=dtype).unsqueeze(0),
            pbc=torch.as_tensor(pbc_arr).unsqueeze(0),
            edge_index=torch.from_numpy(np.stack([src, dst])),
            shifts=torch.as_tensor(shifts, dtype=dtype),
            batch=torch.zeros(len(numbers), dtype=torch.long),
            energy=None if energy is None else torch.tensor([float(energy)], dtype=dtype),
            forces=None if forces is None else torch.as_tensor(np.asarray(forces), dtype=dtype),
            stress=None
            if stress is None
            else torch.as_tensor(_full_stress(np.asarray(stress)), dtype=dtype).unsqueeze(0),
        )

    @classmethod
    def from_atoms(
        cls, atoms, cutoff: float, dtype: torch.dtype = torch.float64, targets: bool = False
    ) -> "AtomicGraph":
        """One ``ase.Atoms``; with ``targets`` also its energy/forces/stress (``atoms_labels``)."""
        energy, forces, stress = atoms_labels(atoms) if targets else (None, None, None)
        return cls.from_arrays(
            atoms.numbers,
            atoms.positions,
            cutoff,
            cell=atoms.cell.array,
            pbc=atoms.pbc,
            energy=energy,
            forces=forces,
            stress=stress,
            dtype=dtype,
        )


def _full_stress(stress: np.ndarray) -> np.ndarray:
    """Voigt (6,) in ASE order xx yy zz yz xz xy -> (3, 3); (3, 3) passes through."""
    if stress.shape == (3, 3):
        return stress
    if stress.shape == (6,):
        xx, yy, zz, yz, xz, xy = stress
        return np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
    raise EquipotError(f"stress must be Voigt (6,) or (3, 3), got shape {stress.shape}")


def collate(graphs: Sequence[AtomicGraph]) -> AtomicGraph:
    """Join structures into one batch: atoms stacked, edge indices offset, batch index set.

    Energy and force targets are kept only when every structure has them; a stress target is
    kept when any structure has one, NaN for those without (the stress loss skips them).
    """
    if not graphs:
        raise EquipotError("cannot collate an empty list of graphs")
    offsets = np.cumsum([0] + [g.num_atoms for g in graphs[:-1]])
    graph_offsets = np.cumsum([0] + [g.num_graphs for g in graphs[:-1]])

    def cat_optional(name: str) -> torch.Tensor | None:
        values = [getattr(g, name) for g in graphs]
        return None if any(v is None for v in values) else torch.cat(values)

    return AtomicGraph(
        numbers=torch.cat([g.numbers for g in graphs]),
        positions=torch.cat([g.positions for g in graphs]),
        cell=torch.cat([g.cell for g in graphs]),
        pbc=torch.cat([g.pbc for g in graphs]),
        edge_index=torch.cat([g.edge_index + int(o) for g, o in zip(graphs, offsets)], dim=1),
        shifts=torch.cat([g.shifts for g in graphs]),
        batch=torch.cat([g.batch + int(o) for g, o in zip(graphs, graph_offsets)]),
        energy=cat_optional("energy"),
        forces=cat_optional("forces"),
        stress=_stress_targets(graphs),
    )


def _stress_targets(graphs: list[AtomicGraph]) -> torch.Tensor | None:
    """(B, 3, 3) stresses of the structures, NaN where one has none; None when none has."""
    if all(g.stress is None for g in graphs):
        return None
    like = next(g.stress for g in graphs if g.stress is not None)
    return torch.cat(
        [g.stress if g.stress is not None else like.new_full((g.num_graphs, 3, 3), float("nan")) for g in graphs]
    )
