"""The learning-rate schedule: linear warm-up, then a cosine decay to a floor (or flat).

As a factor of the base learning rate at optimizer step ``s``, with ``w`` warm-up steps,
``T`` steps in the run and floor ``f = min_lr / lr``::

    factor(s) = (s + 1) / w                                  s < w
              = f + (1 - f) * (1 + cos(pi * p)) / 2          p = min(1, (s - w) / max(1, T - w))

With ``cosine=False`` the factor stays 1 after the warm-up (the plateau scheduler then does
the decay). ``total`` may be changed during a run: a time budget resizes the run, and the
cosine follows from the current step on. A callable object rather than a closure, so
``LambdaLR.state_dict()`` saves ``total`` with the rest of the scheduler.
"""

from __future__ import annotations

import math

from equipot.errors import EquipotError


class WarmupCosine:
    """``factor(step)`` for ``torch.optim.lr_scheduler.LambdaLR``; see the module docstring."""

    def __init__(self, warmup: int, total: int, floor: float, cosine: bool = True) -> None:
        if warmup < 1:
            raise EquipotError(f"warmup must be at least one step, got {warmup}")
        if cosine and not 0.0 <= floor <= 1.0:
            raise EquipotError(f"floor (min_lr / lr) must be in [0, 1], got {floor}")
        self.warmup, self.total, self.floor, self.cosine = int(warmup), int(total), float(floor), bool(cosine)

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        if not self.cosine:
            return 1.0
        progress = min(1.0, (step - self.warmup) / max(1, self.total - self.warmup))
        return self.floor + (1 - self.floor) * 0.5 * (1 + math.cos(math.pi * progress))

    def __repr__(self) -> str:
        shape = f"cosine to {self.floor:g} at step {self.total}" if self.cosine else "flat"
        return f"WarmupCosine(warm-up {self.warmup} steps, then {shape})"


def epochs_in_budget(seconds_left: float, epoch_seconds: list[float], epoch: int, max_epochs: int) -> int:
    """Epochs a run can reach in ``seconds_left`` more, having trained ``epoch`` (at most
    ``max_epochs``).

    The time of an epoch is the mean of the last three, leaving out the first once there are
    others: it also builds the neighbour lists, and a machine busy at the start would otherwise
    cut the whole run short. Re-estimated after every epoch, so the cosine schedule still
    reaches its floor at the end of a budgeted run.
    """
    timed = epoch_seconds[1:] if len(epoch_seconds) > 1 else epoch_seconds
    recent = timed[-3:]
    per_epoch = sum(recent) / len(recent)
    return min(max_epochs, epoch + max(0, int(seconds_left // max(per_epoch, 1e-9))))
