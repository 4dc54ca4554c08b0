"""Evaluation of potentials on structures for MD front ends: one layer under the ASE calculator
and batched replicas.

An ``Evaluator`` holds the models (one, or a committee sharing species and cutoff), loaded and
optionally compiled once; the Verlet-skin neighbour cache (``VerletNeighbors``); and, on a CPU,
a pool of worker threads. A call takes the current positions with a function that builds the
neighbour list when the cache says it must, and returns every model's outputs.

Worker threads: a batch of many small molecules is cut into ``workers`` groups of whole
structures (``split_graph``), computed at once in as many Python threads, each with its share of
torch's threads. Small tensor operations use two threads poorly, so on two cores two groups with
a thread each beat one call with two threads (``bench/replicas.py [--workers 1]``). A single
structure is one group.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import torch

from equipot.checkpoint import load_model
from equipot.data.graph import AtomicGraph
from equipot.data.neighbors import VerletNeighbors
from equipot.errors import EquipotError
from equipot.model import Equiformer
from equipot.potential import Potential

ModelSpec = str | os.PathLike | Potential | Equiformer
# build(cutoff) -> (edge_index (2, E), shifts (E, 3), shift vectors (E, 3)), see VerletNeighbors
Builder = Callable[[float], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


def force_disagreement(forces):
    """Per-atom RMS deviation of a committee's forces from their mean, eV/Å: (K, N, 3) -> (N,),
    numpy arrays or torch tensors. The uncertainty equipot reports and selects frames by."""
    return (((forces - forces.mean(0)) ** 2).sum(-1).mean(0)) ** 0.5


def split_graph(graph: AtomicGraph, parts: int) -> list[AtomicGraph]:
    """Split a batch of molecules into up to ``parts`` batches of whole structures with about
    equal atom counts, in order (atoms of a structure are contiguous, as ``collate`` makes them).
    """
    n_graphs = graph.num_graphs
    if parts <= 1 or n_graphs < 2:
        return [graph]
    # first_atom[g]: atoms in structures before g; a part ends where that is nearest k/parts
    # of all atoms
    counts = torch.bincount(graph.batch, minlength=n_graphs)
    first_atom = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
    targets = first_atom[-1] * torch.arange(1, parts, device=counts.device) / parts
    cuts = sorted({0, n_graphs, *(first_atom[None, :] - targets[:, None]).abs().argmin(1).tolist()})
    first_atom = first_atom.tolist()
    src = graph.edge_index[0]
    out = []
    for g0, g1 in zip(cuts[:-1], cuts[1:]):
        a0, a1 = first_atom[g0], first_atom[g1]
        edges = (src >= a0) & (src < a1)  # edges never join two structures
        out.append(
            AtomicGraph(
                numbers=graph.numbers[a0:a1],
                positions=graph.positions[a0:a1],
                cell=graph.cell[g0:g1],
                pbc=graph.pbc[g0:g1],
                edge_index=graph.edge_index[:, edges] - a0,
                shifts=graph.shifts[edges],
                batch=graph.batch[a0:a1] - g0,
            )
        )
    return out


class Evaluator:
    """Models, neighbour cache and worker threads for repeated calls on moving atoms.

    Args:
        models: one model or a committee: checkpoint paths, shipped names, ``Potential``s or
            bare ``Equiformer`` networks; a committee must share species and cutoff.
        device, dtype: where and in which precision the models run.
        skin: Verlet skin, Å (0: a new list every call).
        compile: run the models' ahead-of-time compiled kernels (``Potential.compile``): None
            (default) when every model's artifact exists (``equipot compile``), True also
            compiling the missing ones first (minutes), False never.
        workers: threads that share a call of many structures (see module); default 2 on a CPU
            with at least 2 torch threads and eager models, else 1.
    """

    def __init__(
        self,
        models: ModelSpec | Sequence[ModelSpec],
        device: str | torch.device = "cpu",
        dtype: str | torch.dtype = "float64",
        skin: float = 0.5,
        compile: bool | None = None,
        workers: int | None = None,
    ) -> None:
        specs = list(models) if isinstance(models, (list, tuple)) else [models]
        if not specs:
            raise EquipotError("give at least one model")
        self.device = torch.device(device)
        self.models = [load_model(s, device=self.device, dtype=dtype) for s in specs]
        first = self.models[0]
        for other in self.models[1:]:
            if other.species != first.species or other.cutoff != first.cutoff:
                raise EquipotError("committee models must share species and cutoff")
        if compile is None:
            from equipot.compiled import artifact_path

            compile = all(artifact_path(m).is_file() for m in self.models)
        if compile:
            for m in self.models:
                m.compile()
        self.dtype = next(first.parameters()).dtype
        self.cutoff = first.cutoff
        self.neighbors = VerletNeighbors(self.cutoff, skin)
        if workers is None:
            workers = 2 if self.device.type == "cpu" and torch.get_num_threads() >= 2 and not compile else 1
        if int(workers) < 1:
            raise EquipotError(f"workers must be at least 1, got {workers}")
        self.workers = int(workers)
        self._pool = ThreadPoolExecutor(self.workers) if self.workers > 1 else None

    @property
    def model(self) -> Potential:
        """The (first) model."""
        return self.models[0]

    def __repr__(self) -> str:
        return (
            f"Evaluator({len(self.models)} model{'s' if len(self.models) > 1 else ''}, cutoff={self.cutoff}, "
            f"skin={self.neighbors.skin}, workers={self.workers}, {self.dtype}, {self.device})"
        )

    def graph(
        self,
        numbers: torch.Tensor,
        positions: torch.Tensor,
        cell: torch.Tensor,
        pbc: torch.Tensor,
        batch: torch.Tensor,
        build: Builder,
        changed: bool = False,
    ) -> AtomicGraph:
        """The graph at ``positions`` (N, 3), reusing the cached neighbour list while it holds;
        ``changed`` (other atoms, cell or periodicity) forces ``build``. cell (B, 3, 3), pbc (B, 3)."""
        edge_index, shifts = self.neighbors(positions, build, changed=changed)
        return AtomicGraph(
            numbers=numbers, positions=positions, cell=cell, pbc=pbc, edge_index=edge_index, shifts=shifts, batch=batch
        )

    def __call__(self, graph: AtomicGraph, compute_stress: bool = False) -> list[dict[str, torch.Tensor]]:
        """Every model's outputs on ``graph`` (energy (B,), node_energy (N,), forces (N, 3), and
        stress (B, 3, 3) if asked), detached, in the graph's atom and structure order."""
        groups = split_graph(graph, self.workers) if not compute_stress else [graph]
        return [self._one(model, groups, compute_stress) for model in self.models]

    def _one(self, model: Potential, groups: list[AtomicGraph], compute_stress: bool) -> dict[str, torch.Tensor]:
        def call(g: AtomicGraph, threads: int | None = None) -> dict[str, torch.Tensor]:
            if threads is not None:
                torch.set_num_threads(threads)  # per thread of the pool, for its own operations
            out = model(g, compute_forces=True, compute_stress=compute_stress)
            return {k: v.detach() for k, v in out.items()}

        if len(groups) == 1:
            return call(groups[0])
        threads = torch.get_num_threads()
        try:
            parts = list(self._pool.map(call, groups, [max(1, threads // len(groups))] * len(groups)))
        finally:
            torch.set_num_threads(threads)
        return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
