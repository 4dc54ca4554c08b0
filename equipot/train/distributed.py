"""Data-parallel training over ``torch.distributed`` (``torchrun`` sets the environment).

Every rank holds a full model copy; each global batch (``batch_size`` frames, in an order
shared by all ranks) is split across ranks, each rank computes its slice's loss weighted by
its share of the global batch, and the gradients are summed with an all-reduce. The update is
then the single-process update on the same global batch (up to float summation order).
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


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


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def broadcast_parameters(module: torch.nn.Module) -> None:
    """Rank 0's parameters and buffers everywhere (same seed gives the same init, but make sure)."""
    for t in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(t.data, src=0)


def sum_gradients(module: torch.nn.Module) -> None:
    """All-reduce (sum) every gradient; each rank's loss is already weighted by its share."""
    for p in module.parameters():
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)


def all_sum(values: list[float], device: torch.device) -> list[float]:
    """Sum a few scalars over ranks (float64 so counts stay exact)."""
    if not is_distributed():
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()
