"""ASE calculator for Equiformer potentials (one model, or a committee of several)."""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes

from equipot.checkpoint import load_model
from equipot.data.graph import AtomicGraph
from equipot.data.neighbors import neighbor_list
from equipot.model import Equiformer

ModelSpec = str | os.PathLike | Equiformer


class StressNotAvailableError(PropertyNotImplementedError, ValueError):
    """Stress asked of a structure with no periodic cell.

    A PropertyNotImplementedError for ASE's machinery, and a ValueError for users who
    catch bad-input errors.
    """


class EquiformerCalculator(Calculator):
    """Energy (eV), forces (eV/Å), stress (eV/Å^3, periodic cells) and per-atom energies.

    Args:
        model: checkpoint path, shipped model name, ``Equiformer`` object, or a list of
            these (a committee: mean energy and forces, and in ``results["force_uncertainty"]``
            the per-atom RMS disagreement of the forces, eV/Å).
        device: torch device, e.g. "cpu" or "cuda".
        dtype: "float64" (default, for MD) or "float32".
        skin: Verlet skin (Å). The neighbour list is built at cutoff + skin and reused until
            an atom has moved more than skin/2, the cell, periodicity or atoms change.
        num_threads: if given, ``torch.set_num_threads`` for CPU runs.
        compile: ``torch.compile`` the models (``Equiformer.compile_inference``): about 1.4x faster calls
            for long MD, after a first call that compiles for minutes.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress", "energies"]

    def __init__(
        self,
        model: ModelSpec | Sequence[ModelSpec],
        device: str | torch.device = "cpu",
        dtype: str | torch.dtype = "float64",
        skin: float = 0.5,
        num_threads: int | None = None,
        compile: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        specs = list(model) if isinstance(model, (list, tuple)) else [model]
        if not specs:
            raise ValueError("give at least one model")
        if num_threads is not None:
            torch.set_num_threads(int(num_threads))
        self.device = torch.device(device)
        self.models = [load_model(s, device=self.device, dtype=dtype) for s in specs]
        if compile:
            for m in self.models:
                m.compile_inference()
        first = self.models[0]
        for other in self.models[1:]:
            if other.species != first.species or other.cutoff != first.cutoff:
                raise ValueError("committee models must share species and cutoff")
        self.dtype = next(first.parameters()).dtype
        self.cutoff = first.cutoff
        if skin < 0:
            raise ValueError(f"skin must be >= 0, got {skin}")
        self.skin = float(skin)
        self._nl_cache: dict | None = None

    @property
    def model(self) -> Equiformer:
        """The (first) model."""
        return self.models[0]

    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: Sequence[str] = ("energy",),
        system_changes: Sequence[str] = all_changes,
    ) -> None:
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        positions = atoms.positions
        if not np.all(np.isfinite(positions)):
            raise ValueError("atoms.positions contain NaN or inf")
        # Elements are checked before any work so the error names them, not an index.
        self.model.species_index(torch.as_tensor(atoms.numbers))
        periodic = bool(atoms.pbc.any())
        if "stress" in properties and not periodic:
            raise StressNotAvailableError(
                "stress is defined only for periodic cells; this structure has pbc=False"
            )

        graph = self._graph(atoms, system_changes)
        outputs = [m(graph, compute_forces=True, compute_stress=periodic) for m in self.models]

        def stack(key: str) -> np.ndarray:
            return np.stack([o[key].detach().cpu().numpy() for o in outputs])

        energies = stack("energy")[:, 0]
        forces = stack("forces")
        node_energy = stack("node_energy")
        self.results = {
            "energy": float(energies.mean()),
            "free_energy": float(energies.mean()),
            "forces": forces.mean(axis=0),
            "energies": node_energy.mean(axis=0),
        }
        if periodic:
            stress = stack("stress")[:, 0].mean(axis=0)
            # ASE Voigt order: xx yy zz yz xz xy
            self.results["stress"] = stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
        if len(self.models) > 1:
            deviation = forces - forces.mean(axis=0)
            self.results["force_uncertainty"] = np.sqrt((deviation**2).sum(-1).mean(0))
            self.results["energy_uncertainty"] = float(energies.std())

    def _graph(self, atoms: Atoms, system_changes: Sequence[str]) -> AtomicGraph:
        """Graph at the current positions, reusing the Verlet list when it is still valid."""
        cache = self._nl_cache
        structural = {"numbers", "cell", "pbc"} & set(system_changes)
        if (
            cache is None
            or structural
            or len(atoms) != len(cache["positions"])
            or np.abs(atoms.positions - cache["positions"]).max(initial=0.0) > 0.5 * self.skin
        ):
            src, dst, shifts = neighbor_list(
                atoms.positions, self.cutoff + self.skin, atoms.cell.array, atoms.pbc
            )
            cache = self._nl_cache = {
                "positions": atoms.positions.copy(),
                "src": src,
                "dst": dst,
                "shifts": shifts,
                "shift_vectors": shifts @ atoms.cell.array,
            }
        src, dst, shifts = cache["src"], cache["dst"], cache["shifts"]
        if self.skin > 0 and len(src):
            vec = atoms.positions[src] - atoms.positions[dst] + cache["shift_vectors"]
            keep = np.einsum("ij,ij->i", vec, vec) < self.cutoff**2
            src, dst, shifts = src[keep], dst[keep], shifts[keep]
        dev, dt = self.device, self.dtype
        return AtomicGraph(
            numbers=torch.as_tensor(atoms.numbers, dtype=torch.long, device=dev),
            positions=torch.as_tensor(atoms.positions, dtype=dt, device=dev),
            cell=torch.as_tensor(atoms.cell.array, dtype=dt, device=dev).unsqueeze(0),
            pbc=torch.as_tensor(atoms.pbc, device=dev).unsqueeze(0),
            edge_index=torch.as_tensor(np.stack([src, dst]), dtype=torch.long, device=dev),
            shifts=torch.as_tensor(shifts, dtype=dt, device=dev),
            batch=torch.zeros(len(atoms), dtype=torch.long, device=dev),
        )
