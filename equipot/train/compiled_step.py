"""Compiled training step: a batch's loss and its gradient with respect to every weight, through
the forces, as one ahead-of-time compiled graph.

Training on forces differentiates twice (F = -dE/dr, then d loss / d weights through F), and
eager autograd builds and walks a graph of thousands of small operations for every batch. Here
the whole step,

    (weights, buffers, batch) -> (loss, d loss / d weights),

is traced once (``make_fx`` through both derivatives), exported with the atom and edge counts
dynamic and compiled by AOTInductor (``equipot.compiled.aot_package``). The weights are inputs,
not constants, so one artifact serves a whole run, and every later run of the same architecture,
dtype, batch size and loss settings: it is cached beside the force kernels, named by a hash of
those. The optimizer, the EMA and the schedule stay as they are.

It serves single-process runs of models without a dispersion term, on full batches without
stress targets; any other batch (the last, smaller one of an epoch, say) takes the eager step.
The two give the same loss and gradients to rounding (tested).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from types import SimpleNamespace

import torch

from equipot.compiled import MIN_SIZE, aot_package, cache_dir
from equipot.train.losses import energy_force_loss

LOSS_KEYS = ("energy_weight", "force_weight", "force_only", "loss", "huber_delta")


def step_artifact_path(model, config) -> Path:
    """The artifact of this architecture, dtype, device, batch size and loss settings."""
    param = next(model.parameters())
    key = {
        "model": model.config.to_dict(),
        "shapes": [list(p.shape) for p in model.parameters()],
        "loss": {k: getattr(config, k) for k in LOSS_KEYS},
        "batch_size": config.batch_size,
        "dtype": str(param.dtype),
        "device": param.device.type,
        "torch": torch.__version__,
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return cache_dir() / f"train-step-{str(param.dtype).removeprefix('torch.')}-{digest}.pt2"


def step_function(model, config):
    """The eager step as a function of tensors: what the artifact computes."""
    from torch.nn.utils.stateless import _reparametrize_module

    from equipot.potential import edge_vectors

    names = [n for n, _ in model.named_parameters()]
    buffer_names = [n for n, _ in model.named_buffers()]

    def step(params, buffers, species, positions, cell, shifts, edge_index, batch, energy, forces, n_atoms):
        positions = positions.detach().requires_grad_(True)
        edges = SimpleNamespace(edge_index=edge_index, shifts=shifts, batch=batch)  # what edge_vectors reads
        vectors = edge_vectors(edges, positions, cell)
        with _reparametrize_module(model, dict(zip(names, params)) | dict(zip(buffer_names, buffers))):
            node_energy = model.node_energies(species, vectors, edge_index)
        total = node_energy.new_zeros(cell.shape[0]).index_add(0, batch, node_energy)
        (grad,) = torch.autograd.grad(total.sum(), positions, create_graph=True)
        loss, _ = energy_force_loss(
            {"energy": total, "forces": -grad},
            energy,
            forces,
            n_atoms,
            energy_weight=config.energy_weight,
            force_weight=config.force_weight,
            force_only=config.force_only,
            kind=config.loss,
            huber_delta=config.huber_delta,
        )
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        return (loss.detach(), *[torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)])

    return step


def step_inputs(model, batch) -> tuple:
    """The artifact's inputs for ``batch``: weights, buffers and the batch's tensors."""
    params = [p.detach().requires_grad_(True) for p in model.parameters()]
    buffers = [b.detach() for b in model.buffers()]
    species = model.species_index(batch.numbers)
    n_atoms = batch.atoms_per_graph().to(batch.positions.dtype)
    return (
        params,
        buffers,
        species,
        batch.positions,
        batch.cell,
        batch.shifts,
        batch.edge_index,
        batch.batch,
        batch.energy,
        batch.forces,
        n_atoms,
    )


class CompiledStep:
    """Loss and gradients of a batch through the compiled step: ``step(model, batch)`` returns
    the loss and sets every weight's ``.grad``, as ``loss.backward()`` would."""

    def __init__(self, model, config, example_batch, build: bool = True, progress: bool = True, runner=None) -> None:
        """``runner``: a stand-in for the artifact (the eager ``step_function``, in tests)."""
        self.batch_size, self.stress_weight = config.batch_size, config.stress_weight
        # weights the loss never reaches keep grad None, as in eager autograd (AdamW skips them)
        self.unused = self._unused(model, config, example_batch)
        self.path = step_artifact_path(model, config)
        if runner is None:
            if not self.path.is_file():
                if not build:
                    raise FileNotFoundError(self.path)
                self._build(model, config, example_batch, progress)
            runner = torch._inductor.aoti_load_package(str(self.path))
        self._runner = runner

    def _build(self, model, config, example_batch, progress: bool) -> None:
        start = time.perf_counter()
        example = step_inputs(model, example_batch)
        atoms, edges = torch.export.Dim("atoms", min=MIN_SIZE), torch.export.Dim("edges", min=MIN_SIZE)
        weights = ([None] * len(example[0]), [None] * len(example[1]))
        # species, positions, cell, shifts, edge_index, batch, energy, forces, n_atoms
        batch = ({0: atoms}, {0: atoms}, None, {0: edges}, {1: edges}, {0: atoms}, None, {0: atoms}, None)
        aot_package(step_function(model, config), example, weights + batch, self.path)
        if progress:
            print(f"equipot: compiled the training step in {time.perf_counter() - start:.0f} s ({self.path})")

    @staticmethod
    def _unused(model, config, batch) -> list[bool]:
        """Which weights the loss does not depend on (their eager gradient is None)."""
        params = list(model.parameters())
        pred = model(batch, create_graph=True)
        total, _ = energy_force_loss(
            pred, batch.energy, batch.forces, batch.atoms_per_graph(), force_only=config.force_only
        )
        grads = torch.autograd.grad(total, params, allow_unused=True)
        return [g is None for g in grads]

    def accepts(self, batch) -> bool:
        """Whether ``batch`` can take the compiled step (else the eager one)."""
        return (
            batch.num_graphs == self.batch_size
            and (batch.stress is None or not self.stress_weight)
            and min(batch.num_atoms, batch.edge_index.shape[1]) >= MIN_SIZE
        )

    def __call__(self, model, batch) -> torch.Tensor:
        loss, *grads = self._runner(*step_inputs(model, batch))
        for p, g, unused in zip(model.parameters(), grads, self.unused):
            p.grad = None if unused else g
        return loss
