"""Training Equiformer potentials on reference trajectories."""

from equipot.train.losses import energy_force_loss, loss_terms
from equipot.train.metrics import error_metrics
from equipot.train.config import TrainConfig
from equipot.train.trainer import Trainer

__all__ = ["TrainConfig", "Trainer", "energy_force_loss", "error_metrics", "loss_terms"]
