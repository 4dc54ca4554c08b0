"""Training Equiformer potentials on reference trajectories."""

from __future__ import annotations

from equipot._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "equipot.train.config": ["TrainConfig"],
        "equipot.train.losses": ["energy_force_loss", "loss_terms"],
        "equipot.train.metrics": ["error_metrics"],
        "equipot.train.trainer": ["Trainer"],
    },
)
