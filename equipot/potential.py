"""The potential: an Equiformer network made into energies, forces and stress of atoms.

Every front end (the ASE calculator, batched replicas, the trainer, ``equipot eval``, engine
bridges) calls a ``Potential``; none reaches into the network.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from ase.data import atomic_numbers, chemical_symbols
from torch import nn

from equipot.compiled import MIN_SIZE
from equipot.data.graph import AtomicGraph
from equipot.dispersion import dispersion_from_spec
from equipot.errors import EquipotError
from equipot.model import Equiformer, EquiformerConfig
from equipot.nn.repulsion import ZBLRepulsion


class Potential(nn.Module):
    """Energy of atomic structures, with forces and stress as its exact derivatives.

    E = sum_i E_i + E_disp,  E_i = E0[z_i] + scale * h_i + ZBL_i

    where h_i is the network's per-atom output (zero for an isolated atom, so E0 is exactly
    the energy of an isolated atom, unless the config sets ``subtract_isolated=False``),
    ``scale`` an energy scale set from the training forces, and ZBL the screened nuclear
    repulsion switched off beyond bonding distance (if the config asks for it). Forces are
    -dE/dr and stress (1/V) dE/d(strain), by autograd; ``pair_gradients`` gives dE/d(edge
    vector) for engines that bring their own neighbour pairs. E_disp is the long-range D3(BJ)
    term (``equipot.dispersion``) when the config asks for it, with its own analytic forces
    and stress, and half of each pair's energy in each atom's ``node_energy``.

    Args:
        network: an ``Equiformer``, or the ``EquiformerConfig`` to build one from.
        compile: compute inference calls with the ahead-of-time compiled kernel (see ``compile``).
        edge_chunk_size: attend over runs of about this many edges, recomputing each in the
            backward pass: a memory trade for large systems; None (default) attends at once.
        checkpoint_blocks: recompute each Transformer block's activations in the backward
            pass instead of keeping them (memory trade).
        metadata: plain-Python facts about the model (training data, split, statistics), as
            ``load_model`` reads them from its checkpoint (``save_checkpoint`` takes the
            metadata to write as an argument).
    """

    def __init__(
        self,
        network: Equiformer | EquiformerConfig,
        *,
        compile: bool = False,
        edge_chunk_size: int | None = None,
        checkpoint_blocks: bool = False,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.network = network if isinstance(network, Equiformer) else Equiformer(network)
        species = self.network.config.species
        z_to_index = torch.full((len(chemical_symbols),), -1, dtype=torch.long)
        for i, symbol in enumerate(species):
            z_to_index[atomic_numbers[symbol]] = i
        self.register_buffer("z_to_index", z_to_index)
        self.register_buffer("reference_energies", torch.zeros(len(species)))
        self.register_buffer("scale", torch.ones(()))
        self.repulsion = (
            ZBLRepulsion(species, self.config.envelope_exponent, self.config.zbl_switch) if self.config.zbl else None
        )
        self.dispersion = dispersion_from_spec(self.config.dispersion)
        if self.dispersion is not None:
            self.dispersion.check()
        self.edge_chunk_size = edge_chunk_size
        self.checkpoint_blocks = bool(checkpoint_blocks)
        self.metadata: dict[str, Any] = dict(metadata or {})
        self._compiled: dict | None = None
        if compile:
            self.compile()

    # --- what the model is ----------------------------------------------------------------
    @property
    def config(self) -> EquiformerConfig:
        return self.network.config

    @property
    def species(self) -> list[str]:
        return list(self.config.species)

    @property
    def cutoff(self) -> float:
        return float(self.config.cutoff)

    @property
    def hops(self) -> int:
        """Message-passing steps, each one cutoff: the edge-degree embedding, then each block.
        An atom's energy depends on atoms up to ``hops * cutoff`` away."""
        return int(self.config.num_blocks) + 1

    @property
    def edge_chunk_size(self) -> int | None:
        return self._edge_chunk_size

    @edge_chunk_size.setter
    def edge_chunk_size(self, size: int | None) -> None:
        if size is not None and int(size) < 1:
            raise EquipotError(f"edge_chunk_size must be a positive number of edges or None, got {size}")
        self._edge_chunk_size = None if size is None else int(size)

    def species_index(self, numbers: torch.Tensor) -> torch.Tensor:
        """Atomic numbers (N,) -> model species indices (N,); ValueError for unknown elements."""
        numbers = numbers.to(self.z_to_index.device)
        out_of_range = (numbers < 1) | (numbers >= len(chemical_symbols))
        index = self.z_to_index[numbers.clamp(0, len(chemical_symbols) - 1)]
        if bool((out_of_range | (index < 0)).any()):
            bad = sorted({int(z) for z in numbers[out_of_range | (index < 0)].tolist()})
            names = [chemical_symbols[z] if 0 < z < len(chemical_symbols) else f"Z={z}" for z in bad]
            raise EquipotError(
                f"this model knows {self.species}; the structure contains {names}, which it was not trained on"
            )
        return index

    def set_reference_energies(self, energies: dict[str, float]) -> None:
        """Set E0 (eV) per element symbol; elements not listed keep their value."""
        for symbol, value in energies.items():
            if symbol not in self.config.species:
                raise EquipotError(f"{symbol} is not one of the model species {self.species}")
            self.reference_energies[self.config.species.index(symbol)] = float(value)

    def compile(self, build: bool = True) -> None:
        """Compute inference calls with the ahead-of-time compiled force kernel
        (``equipot.compiled``): one artifact per model, dtype and device, kept on disk and loaded
        in a moment by every later process. Without one, the first call makes it (minutes on a
        small CPU; needs a C++ compiler), unless ``build`` is False (then it is an error):
        ``equipot compile MODEL`` makes it ahead. Atom and edge counts are dynamic, so MD never
        recompiles. Calls with ``create_graph=True`` (force training) keep the eager kernel.
        ``bench/compile_speedup.py`` measures what it gains."""
        self._compiled = {"build": bool(build)}

    def compiled_kernel(self):
        """The compiled kernel for the model's current dtype and device (after ``compile``)."""
        from equipot.compiled import CompiledKernel

        param = next(self.parameters())
        # the artifact holds the weights as constants: a weight or buffer changed in place since
        # (its version counter moved) needs the artifact of the new weights
        version = sum(t._version for t in (*self.parameters(), *self.buffers()))
        key = (param.dtype, param.device, version)
        if self._compiled.get("key") != key:
            self._compiled["kernel"] = CompiledKernel.for_model(self, build_if_missing=self._compiled["build"])
            self._compiled["key"] = key
        return self._compiled["kernel"]

    # --- the kernel -----------------------------------------------------------------------
    def node_energies(
        self, species: torch.Tensor, vectors: torch.Tensor, edge_index: torch.Tensor, exchange=None
    ) -> torch.Tensor:
        """Per-atom energies (N,), eV, from species indices (N,), edge vectors r_src - r_dst
        (E, 3) and edge_index (2, E) = [src, dst]; ``exchange``: see ``Equiformer.forward``."""
        h = self.network(species, vectors, edge_index, self._edge_chunk_size, self.checkpoint_blocks, exchange)
        energy = self.reference_energies[species] + self.scale * h
        if self.repulsion is not None:
            energy = energy + self.repulsion(
                species, edge_index[0], edge_index[1], vectors.norm(dim=-1), species.shape[0]
            )
        return energy

    def pair_gradients(
        self,
        numbers: torch.Tensor,
        vectors: torch.Tensor,
        edge_index: torch.Tensor,
        owned: int | None = None,
        exchange=None,
        dispersion_elsewhere: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-atom energies (N,) and the gradient of their sum with respect to each edge vector
        (E, 3), for engines that bring their own neighbour pairs.

        A model's dispersion term reaches past the pairs an engine brings, so it is not computed
        here: an engine that adds it itself (LAMMPS's ``dispersion/d3``) says so with
        ``dispersion_elsewhere``; for any other caller a model with the term is an error.

        ``vectors`` are r_src - r_dst. With ``owned``, only the first ``owned`` atoms' energies
        are summed: an engine's ghost atoms (copies of atoms another process or periodic image
        owns) then only pass messages. The force on atom k is the sum of -dE/dr_e over the edges
        that start at k minus that over the edges that end at k (``pair_forces``); the virial is
        -sum_e r_e (x) dE/dr_e. ``exchange`` (see ``Equiformer.forward``) lets an engine fill the
        ghosts' node features from their owners before each block; its backward pass must return
        the gradients of ghost features to their owners.
        """
        if self.dispersion is not None and not dispersion_elsewhere:
            raise EquipotError(
                f"this model adds dispersion ({self.dispersion}), which reaches past the pairs an engine "
                "brings: run it through the ASE calculator, or in LAMMPS with pair_style hybrid/overlay "
                "equipot MODEL dispersion/d3 ... (docs/lammps.md)"
            )
        species = self.species_index(numbers)
        if self._compiled is not None and exchange is None and min(len(species), edge_index.shape[1]) >= MIN_SIZE:
            weights = vectors.new_ones(len(species))
            if owned is not None:
                weights[owned:] = 0.0
            return self.compiled_kernel()(species, vectors, edge_index, weights)
        vectors = vectors.detach().requires_grad_(True)
        node_energy = self.node_energies(species, vectors, edge_index, exchange)
        total = node_energy.sum() if owned is None else node_energy[:owned].sum()
        (grad,) = torch.autograd.grad(total, vectors, allow_unused=True)
        return node_energy.detach(), grad if grad is not None else torch.zeros_like(vectors)

    # --- structures -----------------------------------------------------------------------
    def forward(
        self,
        graph: AtomicGraph,
        compute_forces: bool = True,
        compute_stress: bool = False,
        create_graph: bool = False,
    ) -> dict[str, torch.Tensor]:
        """Energies, and forces/stress by autograd.

        Args:
            graph: atoms and edges; positions in the model's dtype and device.
            compute_forces: also return forces (N, 3), eV/Å.
            compute_stress: also return stress (B, 3, 3), eV/Å^3 (periodic structures).
            create_graph: keep the graph of the derivatives (training on forces).

        Returns:
            dict with "energy" (B,), "node_energy" (N,), and "forces"/"stress" if asked.
        """
        species = self.species_index(graph.numbers)
        if (
            self._compiled is not None
            and not create_graph
            and min(graph.num_atoms, graph.edge_index.shape[1]) >= MIN_SIZE
        ):
            return self._forward_compiled(graph, species, compute_forces, compute_stress)
        positions, cell = graph.positions, graph.cell
        inputs = []
        if compute_forces or compute_stress:
            positions = positions.detach().requires_grad_(True)
            inputs.append(positions)
        if compute_stress:
            # Differentiate with respect to a symmetric strain applied to atoms and cell.
            strain = torch.zeros_like(cell, requires_grad=True)
            inputs.append(strain)
            sym = 0.5 * (strain + strain.transpose(1, 2))
            positions = positions + torch.einsum("ni,nij->nj", positions, sym[graph.batch])
            cell = cell + torch.bmm(cell, sym)

        node_energy = self.node_energies(species, edge_vectors(graph, positions, cell), graph.edge_index)
        energy = node_energy.new_zeros(graph.num_graphs).index_add(0, graph.batch, node_energy)
        out = {"energy": energy, "node_energy": node_energy}
        if inputs:
            grads = torch.autograd.grad(energy.sum(), inputs, create_graph=create_graph, allow_unused=True)
            if compute_forces:
                g = grads[0]
                out["forces"] = -g if g is not None else torch.zeros_like(positions)
            if compute_stress:
                g = grads[-1] if grads[-1] is not None else torch.zeros_like(cell)
                volume = torch.linalg.det(graph.cell).abs().view(-1, 1, 1)
                # a structure without volume (a molecule) has no stress: NaN, with a finite
                # gradient path, so that a batch mixing molecules and cells trains on the cells
                has_volume = volume > 0
                stress = g / torch.where(has_volume, volume, torch.ones_like(volume))
                out["stress"] = torch.where(has_volume, stress, torch.full_like(stress, float("nan")))
        if self.dispersion is not None:
            add_dispersion(out, self.dispersion, graph)
        return out

    def _forward_compiled(self, graph: AtomicGraph, species, compute_forces: bool, compute_stress: bool):
        """``forward`` through the compiled kernel: the same outputs, from dE/d(edge vector)."""
        from equipot.compiled import edge_forces_and_stress

        vectors = edge_vectors(graph, graph.positions, graph.cell).detach()
        node_energy, grad = self.compiled_kernel()(species, vectors, graph.edge_index)
        energy = node_energy.new_zeros(graph.num_graphs).index_add(0, graph.batch, node_energy)
        out = {"energy": energy, "node_energy": node_energy}
        if compute_forces or compute_stress:
            forces, stress = edge_forces_and_stress(graph, vectors, grad, compute_stress)
            if compute_forces:
                out["forces"] = forces
            if compute_stress:
                out["stress"] = stress
        if self.dispersion is not None:
            add_dispersion(out, self.dispersion, graph)
        return out

    def extra_repr(self) -> str:
        e0 = ", ".join(f"{s}: {e:.4f}" for s, e in zip(self.species, self.reference_energies.tolist()))
        return f"E0 (eV)={{{e0}}}, scale={float(self.scale):.4g} eV"

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


def add_dispersion(out: dict[str, torch.Tensor], dispersion, graph: AtomicGraph) -> None:
    """Add the dispersion term's energy, and its forces and stress where ``out`` has them, to
    each structure of ``graph``. It has no parameters, so it enters as constants: training
    through the forces fits the network to the labels minus dispersion."""
    numbers = graph.numbers.cpu().numpy()
    positions = graph.positions.detach().cpu().double().numpy()
    cells = graph.cell.detach().cpu().double().numpy()
    pbc = graph.pbc.cpu().numpy()
    batch = graph.batch.cpu().numpy()
    energy = np.zeros(graph.num_graphs)
    forces, energies = np.zeros_like(positions), np.zeros(len(positions))
    stress = np.zeros_like(cells)
    for b in range(graph.num_graphs):
        atoms = batch == b
        terms = dispersion(numbers[atoms], positions[atoms], cells[b], pbc[b])
        energy[b], forces[atoms], energies[atoms] = terms.energy, terms.forces, terms.energies
        stress[b] = terms.stress if terms.stress is not None else 0.0
    like = dict(dtype=out["energy"].dtype, device=out["energy"].device)
    out["energy"] = out["energy"] + torch.as_tensor(energy, **like)
    out["node_energy"] = out["node_energy"] + torch.as_tensor(energies, **like)
    if "forces" in out:
        out["forces"] = out["forces"] + torch.as_tensor(forces, **like)
    if "stress" in out:  # NaN (no volume) stays NaN
        out["stress"] = out["stress"] + torch.as_tensor(stress, **like)


def edge_vectors(graph: AtomicGraph, positions: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
    """r_src - r_dst + shift @ cell of every edge (E, 3), from (possibly strained) positions and cells."""
    src, dst = graph.edge_index
    vectors = positions.index_select(0, src) - positions.index_select(0, dst)
    if graph.shifts.shape[0]:
        vectors = vectors + torch.einsum(
            "ei,eij->ej", graph.shifts, cell.index_select(0, graph.batch.index_select(0, src))
        )
    return vectors


def pair_forces(grad: torch.Tensor, edge_index: torch.Tensor, num_atoms: int) -> torch.Tensor:
    """Forces (N, 3) on the atoms from dE/d(edge vector) (E, 3) of edges r_src - r_dst."""
    forces = grad.new_zeros(num_atoms, 3)
    forces.index_add_(0, edge_index[0], -grad)
    forces.index_add_(0, edge_index[1], grad)
    return forces


def pair_virials(vectors: torch.Tensor, grad: torch.Tensor, edge_index: torch.Tensor, num_atoms: int) -> torch.Tensor:
    """Each atom's share of the virial (N, 6), in LAMMPS's order xx yy zz xy xz yz: half of
    W_e = -r_e (x) dE/dr_e of every edge r_e = r_src - r_dst it is an end of. The shares sum to
    -sum_e r_e (x) dE/dr_e, the virial of the forces ``pair_forces`` gives (sum_k r_k (x) F_k)."""
    w = -vectors.unsqueeze(-1) * grad.unsqueeze(-2)  # (E, 3, 3): W_ab = -r_a g_b
    rows = torch.stack([w[:, 0, 0], w[:, 1, 1], w[:, 2, 2], w[:, 0, 1], w[:, 0, 2], w[:, 1, 2]], dim=-1)
    out = rows.new_zeros(num_atoms, 6)
    out.index_add_(0, edge_index[0], 0.5 * rows)
    out.index_add_(0, edge_index[1], 0.5 * rows)
    return out


def as_potential(model: Potential | Equiformer) -> Potential:
    """A potential for ``model``: itself, or a bare network wrapped with E0 = 0 and scale 1."""
    if isinstance(model, Potential):
        return model
    if isinstance(model, Equiformer):
        return Potential(model)
    raise TypeError(f"expected a Potential or an Equiformer network, got {type(model).__name__}")
