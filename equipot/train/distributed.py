"""Data-parallel training over ``torch.distributed`` (``torchrun`` sets the environment).

Every rank holds a full model copy; each global batch (``batch_size`` frames, in an order
shared by all ranks) is split across ranks, each rank computes its slice's loss weighted by
its share of the global batch, and the gradients are summed with an all-reduce. The update is
then the single-process update on the same global batch (up to float summation order).
Validation is split the same way and its predictions gathered, so every rank reports the
single-process numbers.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from equipot.train.metrics import evaluate_batches, merge_evaluations


def init_from_env(device: str) -> tuple[int, int, torch.device]:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1).

    Returns (rank, world_size, device); on CUDA each rank takes GPU ``LOCAL_RANK``.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") and torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    if not is_distributed():
        return 0, 1, torch.device(device)
    if device.startswith("cuda"):
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return dist.get_rank(), dist.get_world_size(), torch.device("cuda", local)
    return dist.get_rank(), dist.get_world_size(), torch.device(device)


def leave() -> None:
    """Leave the process group at the end of a run: wait for every rank, then destroy it.

    A rank that exits while the group still exists tears down gloo's worker threads at
    interpreter exit, which can abort the process ("terminate called without an active
    exception") after training has finished and made torchrun report a failed run.
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def broadcast_parameters(module: torch.nn.Module) -> None:
    """Rank 0's parameters and buffers everywhere (same seed gives the same init, but make sure)."""
    for t in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(t.data, src=0)


def sum_gradients(module: torch.nn.Module) -> None:
    """All-reduce (sum) every gradient; each rank's loss is already weighted by its share.

    The gradients travel as one flat buffer: one collective per step instead of one per
    parameter tensor, whose fixed cost dominated on CPU (gloo) with a model of this size.
    """
    params = list(module.parameters())
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    offset = 0
    for p in params:
        n = p.grad.numel()
        p.grad.copy_(flat[offset : offset + n].view_as(p.grad))
        offset += n


def all_sum(values: list[float], device: torch.device) -> list[float]:
    """Sum a few scalars over ranks (float64 so counts stay exact)."""
    if not is_distributed():
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def gather(obj):
    """Every rank's ``obj`` (picklable), in rank order, on every rank; ``[obj]`` alone."""
    if not is_distributed():
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def batch_shares(batch, device: torch.device) -> tuple[tuple[float, float], float]:
    """This rank's share of its global batch's structures and atoms, and the global batch's
    number of structures. A collective: every rank calls it for every global batch, with
    ``batch`` None where its slice is empty."""
    local = [batch.num_graphs, batch.num_atoms] if batch is not None else [0, 0]
    n_glob, a_glob = all_sum([float(x) for x in local], device)
    return (local[0] / n_glob, local[1] / a_glob), n_glob


def evaluate_slices(model, batches, device: torch.device, loss) -> dict:
    """``evaluate_batches`` over this rank's slices of the global ``batches`` (None where a
    slice is empty), merged over the ranks: every rank gets the whole set's numbers.

    ``loss(model, batch, shares) -> (value, prediction)`` gives the slice's part of its global
    batch's loss (as in training), so the merged loss equals one process's on whole batches.
    """
    current: list = []

    def slices():
        for batch in batches:
            current[:] = batch_shares(batch, device)
            if batch is not None:
                yield batch

    def weighted(m, batch):  # evaluate_batches weighs each value by the slice's structures
        shares, n_glob = current
        value, pred = loss(m, batch, shares)
        return value * n_glob / batch.num_graphs, pred

    return merge_evaluations(gather(evaluate_batches(model, slices(), weighted)))
