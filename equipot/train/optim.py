"""The optimizer of a training run, and which parameters its weight decay acts on.

AdamW's decoupled weight decay shrinks every parameter it is given by ``lr * weight_decay``
per step, pulling it towards zero. That is a prior for the weight matrices (linear maps,
tensor-product paths, radial-MLP layers, attention dot vectors: every parameter with two or
more dimensions), where small weights mean a smoother function of the geometry. It is not a
prior for the one-dimensional parameters: biases, normalisation scales (which sit near one)
and the learnable Bessel frequencies of the radial basis (which set its length scales); zero
is not a sensible value for any of them, so they are trained without decay, as the official
Equiformer and most Transformer recipes do.
"""

from __future__ import annotations

import torch

from equipot.errors import EquipotError


def decay_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """AdamW parameter groups: matrices (``ndim >= 2``) with ``weight_decay``, the rest with none.

    Returns ``[{"params": [...], "weight_decay": weight_decay}, {"params": [...],
    "weight_decay": 0.0}]``, in the order of ``model.parameters()`` within each group; frozen
    parameters (``requires_grad=False``) are left out.
    """
    if weight_decay < 0:
        raise EquipotError(f"weight_decay must be non-negative, got {weight_decay}")
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": float(weight_decay)}, {"params": no_decay, "weight_decay": 0.0}]


def load_grouped_state(optimizer: torch.optim.Optimizer, model: torch.nn.Module, state: dict) -> None:
    """Load an optimizer ``state`` into ``optimizer``, built on ``decay_groups(model, ...)``.

    A state saved with every parameter in one group (``last.pt`` of runs that decayed all
    parameters alike) is regrouped first: parameter ``i`` of that group is the ``i``-th trainable
    parameter of ``model``, and it keeps its moments (``exp_avg``, ``exp_avg_sq``, ``step``) in
    whichever group it now belongs to; the learning rate and other scheduled values come from
    the saved group, the weight decay of each group from ``optimizer``. A two-group state loads
    as it is.
    """
    if len(state["param_groups"]) == len(optimizer.param_groups):
        optimizer.load_state_dict(state)
        return
    if len(state["param_groups"]) != 1:
        raise EquipotError(
            f"optimizer state has {len(state['param_groups'])} parameter groups; "
            f"expected 1 or {len(optimizer.param_groups)}"
        )
    trainable = [p for p in model.parameters() if p.requires_grad]
    old_index = {id(p): i for i, p in enumerate(trainable)}
    (saved,) = state["param_groups"]
    if len(saved["params"]) != len(trainable):
        raise EquipotError(f"optimizer state covers {len(saved['params'])} parameters; the model has {len(trainable)}")
    groups, moments, new_id = [], {}, 0
    for group in optimizer.param_groups:
        ids = []
        for p in group["params"]:
            old = saved["params"][old_index[id(p)]]
            if old in state["state"]:
                moments[new_id] = state["state"][old]
            ids.append(new_id)
            new_id += 1
        hyper = {k: v for k, v in saved.items() if k not in ("params", "weight_decay")}
        groups.append({**hyper, "weight_decay": group["weight_decay"], "params": ids})
    optimizer.load_state_dict({"state": moments, "param_groups": groups})


def per_group(scheduler_state: dict, groups: int) -> dict:
    """A learning-rate scheduler's saved state for an optimizer of ``groups`` groups.

    Schedulers keep one entry per parameter group in lists (``base_lrs``, ``_last_lr``,
    ``lr_lambdas``, ``min_lrs``); a state saved for one group (with ``load_grouped_state``'s
    one-group optimizer states) has one entry, repeated here for every group, since both groups
    of ``decay_groups`` follow one schedule. A state saved for ``groups`` groups is unchanged.
    """
    return {k: v * groups if isinstance(v, list) and len(v) == 1 else v for k, v in scheduler_state.items()}


def make_optimizer(model: torch.nn.Module, config, steps_per_epoch: int, device: torch.device):
    """(optimizer, schedule, scheduler, plateau) of a training run: AdamW with weight decay on
    the weight matrices only (``decay_groups``) and the warm-up + cosine schedule
    (``WarmupCosine``, resized later by a time budget), or the warm-up then halving on plateaus
    of the validation loss (``plateau``, None for the cosine)."""
    from equipot.train.schedule import WarmupCosine

    c = config
    if c.scheduler not in ("cosine", "plateau"):
        raise EquipotError(f"scheduler must be 'cosine' or 'plateau', got {c.scheduler!r}")
    # fused: one kernel for the whole update instead of a few per parameter tensor (the same
    # maths; the model has hundreds of small tensors)
    fused = device.type in ("cpu", "cuda")
    optimizer = torch.optim.AdamW(decay_groups(model, c.weight_decay), lr=c.lr, amsgrad=c.amsgrad, fused=fused)
    schedule = WarmupCosine(
        max(1, int(c.warmup_epochs * steps_per_epoch)),
        c.epochs * steps_per_epoch,
        c.min_lr / c.lr,
        cosine=c.scheduler == "cosine",
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    plateau = (
        torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=10, min_lr=c.min_lr)
        if c.scheduler == "plateau"
        else None
    )
    return optimizer, schedule, scheduler, plateau
