"""Training Equiformer potentials on reference trajectories."""

from __future__ import annotations

from typing import TYPE_CHECKING

from equipot._lazy import lazy_exports

_EXPORTS = {
    "TrainConfig": "equipot.train.config",
    "energy_force_loss": "equipot.train.losses",
    "loss_terms": "equipot.train.losses",
    "error_metrics": "equipot.train.metrics",
    "Trainer": "equipot.train.trainer",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from equipot.train.config import TrainConfig
    from equipot.train.losses import energy_force_loss, loss_terms
    from equipot.train.metrics import error_metrics
    from equipot.train.trainer import Trainer
