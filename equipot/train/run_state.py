"""A training run's state on disk and its time budget: ``best.pt`` (the EMA weights, a
checkpoint like any other) and ``last.pt`` (the same plus the raw weights, optimizer, schedules, counters, history and
torch's random state), written atomically, so ``Trainer(config, resume=True)`` continues a
killed run exactly."""

from __future__ import annotations

from pathlib import Path

import torch

from equipot.checkpoint import atomic_save, checkpoint_dict, read_checkpoint
from equipot.errors import EquipotError
from equipot.train import distributed as ddp
from equipot.train.optim import load_grouped_state, per_group
from equipot.train.schedule import epochs_in_budget


def save_run(trainer, improved: bool) -> None:
    """``best.pt`` (EMA weights, when ``improved``) and ``last.pt`` (with the whole training state)."""
    ckpt = checkpoint_dict(trainer.ema, trainer._metadata())
    if improved:
        atomic_save(ckpt, trainer.out / "best.pt")
    ckpt["training_state"] = {
        "model": {k: v.detach().cpu() for k, v in trainer.model.state_dict().items()},
        "optimizer": trainer.optimizer.state_dict(),
        "scheduler": trainer.scheduler.state_dict(),
        "plateau": trainer.plateau.state_dict() if trainer.plateau else None,
        "epoch": trainer.epoch,
        "epochs": trainer.epochs,
        "best": trainer.best,
        "bad_epochs": trainer.bad_epochs,
        "history": trainer.history,
        # batch order comes from a generator seeded per epoch; only torch's global RNG
        # (parameter init happened before) needs restoring
        "rng": {"torch": torch.get_rng_state()},
    }
    atomic_save(ckpt, trainer.out / "last.pt")


def load_run(trainer, path: Path) -> None:
    """Everything ``save_run`` wrote into ``last.pt``, back into ``trainer``: the run goes on exactly."""
    data = read_checkpoint(path)  # the Trainer checked that it exists before writing anything
    if "training_state" not in data:
        raise EquipotError(f"{path} holds no training state (a best.pt or a shipped model?): resume from last.pt")
    state = data["training_state"]
    trainer.model.load_state_dict(state["model"])
    trainer.ema.load_state_dict(data["state_dict"])
    trainer.model.to(trainer.device, trainer.dtype)
    trainer.ema.to(trainer.device, trainer.dtype)
    load_grouped_state(trainer.optimizer, trainer.model, state["optimizer"])
    groups = len(trainer.optimizer.param_groups)
    trainer.scheduler.load_state_dict(per_group(state["scheduler"], groups))
    if trainer.plateau and state["plateau"]:
        trainer.plateau.load_state_dict(per_group(state["plateau"], groups))
    trainer.epoch, trainer.best, trainer.bad_epochs = state["epoch"], state["best"], state["bad_epochs"]
    trainer.epochs = state.get("epochs", trainer.config.epochs)
    trainer.schedule.total = trainer.epochs * trainer.steps_per_epoch
    trainer.history = list(state["history"])
    torch.set_rng_state(state["rng"]["torch"])


def fit_time_budget(trainer, elapsed: float, epoch_seconds: list[float]) -> None:
    """Set the trainer's ``epochs`` to what fits in ``time_limit_minutes`` (``epochs_in_budget``) and
    resize the cosine schedule to it. A run may lengthen only in the first half of its
    budget. ``elapsed`` counts the epochs a resumed run trained before, so resuming does not
    restart the budget."""
    total = trainer.config.time_limit_minutes * 60
    affordable = epochs_in_budget(total - elapsed, epoch_seconds, trainer.epoch, trainer.config.epochs)
    if trainer.world_size > 1:  # rank 0 decides: ranks timing themselves could disagree and hang
        (affordable,) = ddp.all_sum([float(affordable) if trainer.is_main else 0.0], trainer.device)
        affordable = int(affordable)
    # lengthen only in the first half of the budget: later, it would raise an annealed learning rate
    affordable = max(trainer.epoch, affordable if 2 * elapsed < total else min(affordable, trainer.epochs))
    if affordable != trainer.epochs:
        # this process's first estimate always; the re-estimates only beside the per-epoch lines
        if trainer.is_main and (not trainer._budget_announced or trainer.config.progress):
            print(
                f"time limit {trainer.config.time_limit_minutes:g} min: {trainer.epochs} -> {affordable} epochs",
                flush=True,
            )
        trainer._budget_announced = True
        trainer.epochs = affordable
        trainer.schedule.total = affordable * trainer.steps_per_epoch
        if trainer.plateau is None:  # the learning rate of the resized cosine, from now on
            step = trainer.scheduler.last_epoch
            for group, base in zip(trainer.optimizer.param_groups, trainer.scheduler.base_lrs):
                group["lr"] = base * trainer.schedule(step)
