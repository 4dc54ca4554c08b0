"""ASE calculator for Equiformer potentials (one model, or a committee of several)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes

from equipot.data.graph import AtomicGraph
from equipot.data.neighbors import neighbor_list
from equipot.errors import StructureError
from equipot.evaluator import Evaluator, ModelSpec, force_disagreement
from equipot.potential import Potential


class StressNotAvailableError(PropertyNotImplementedError, ValueError):
    """Stress asked of a structure with no periodic cell.

    A PropertyNotImplementedError for ASE's machinery, and a ValueError for users who
    catch bad-input errors.
    """


class EquiformerCalculator(Calculator):
    """Energy (eV), forces (eV/Å), stress (eV/Å^3, periodic cells) and per-atom energies.

    Args:
        model: checkpoint path, shipped model name, ``Potential`` (or bare ``Equiformer``
            network), or a list of these (a committee: mean energy and forces, and in ``results["force_uncertainty"]``
            the per-atom RMS disagreement of the forces, eV/Å).
        device: torch device, e.g. "cpu" or "cuda".
        dtype: "float64" (default, for MD) or "float32".
        skin: Verlet skin (Å). The neighbour list is built at cutoff + skin and reused until
            an atom has moved more than skin/2, the cell, periodicity or atoms change.
        num_threads: if given, ``torch.set_num_threads`` for CPU runs.
        compile: the models' compiled kernels (``Potential.compile``, ``equipot compile``):
            None (default) uses them where they exist, True compiles missing ones first
            (minutes, once per model and dtype), False never.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress", "energies"]

    def __init__(
        self,
        model: ModelSpec | Sequence[ModelSpec],
        device: str | torch.device = "cpu",
        dtype: str | torch.dtype = "float64",
        skin: float = 0.5,
        num_threads: int | None = None,
        compile: bool | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if num_threads is not None:
            torch.set_num_threads(int(num_threads))
        # one structure per call: no worker threads to split it over
        self.evaluator = Evaluator(model, device=device, dtype=dtype, skin=skin, compile=compile, workers=1)
        self.models = self.evaluator.models
        self.device, self.dtype = self.evaluator.device, self.evaluator.dtype
        self.cutoff, self.skin = self.evaluator.cutoff, float(skin)

    @property
    def model(self) -> Potential:
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
            raise StructureError("atoms.positions contain NaN or inf")
        if "numbers" in system_changes:
            # new elements are checked before the neighbour list, so the error names them;
            # the potential checks each call again (it is called without this calculator too)
            self.model.species_index(torch.as_tensor(atoms.numbers))
        periodic = bool(atoms.pbc.any())
        if "stress" in properties and not periodic:
            raise StressNotAvailableError("stress is defined only for periodic cells; this structure has pbc=False")

        graph = self._graph(atoms, system_changes)
        outputs = self.evaluator(graph, compute_stress=periodic)

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
            self.results["force_uncertainty"] = force_disagreement(forces)

    def _graph(self, atoms: Atoms, system_changes: Sequence[str]) -> AtomicGraph:
        """Graph at the current positions, reusing the Verlet list while it is still valid."""
        dev, dt = self.device, self.dtype
        positions = torch.as_tensor(atoms.positions, dtype=dt, device=dev)
        cell = torch.as_tensor(atoms.cell.array, dtype=dt, device=dev)

        def build(cutoff: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            src, dst, shifts = neighbor_list(atoms.positions, cutoff, atoms.cell.array, atoms.pbc)
            shifts = torch.as_tensor(shifts, dtype=dt, device=dev)
            return torch.as_tensor(np.stack([src, dst]), dtype=torch.long, device=dev), shifts, shifts @ cell

        structural = bool({"numbers", "cell", "pbc"} & set(system_changes))
        return self.evaluator.graph(
            numbers=torch.as_tensor(atoms.numbers, dtype=torch.long, device=dev),
            positions=positions,
            cell=cell.unsqueeze(0),
            pbc=torch.as_tensor(atoms.pbc, device=dev).unsqueeze(0),
            batch=torch.zeros(len(atoms), dtype=torch.long, device=dev),
            build=build,
            changed=structural,
        )
