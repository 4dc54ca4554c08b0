"""A training run's state on disk: ``best.pt`` (the EMA weights, a checkpoint like any other)
and ``last.pt`` (the same plus the raw weights, optimizer, schedules, counters, history and
torch's random state), written atomically, so ``Trainer(config, resume=True)`` continues a
killed run exactly."""

from __future__ import annotations

from pathlib import Path

import torch

from equipot.checkpoint import atomic_save, checkpoint_dict, read_checkpoint
from equipot.errors import EquipotError
from equipot.train.optim import load_grouped_state, per_group


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
        "epoch": trainer.epoch, "epochs": trainer.epochs, "best": trainer.best, "bad_epochs": trainer.bad_epochs,
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
