"""equipot: an Equiformer machine-learning interatomic potential for molecular dynamics."""

from equipot.calculator import EquiformerCalculator
from equipot.checkpoint import load_model, save_checkpoint
from equipot.data.graph import AtomicGraph, collate
from equipot.model import Equiformer, EquiformerConfig
from equipot.potential import Potential

__version__ = "0.1.0"

__all__ = [
    "AtomicGraph",
    "Equiformer",
    "EquiformerCalculator",
    "EquiformerConfig",
    "Potential",
    "collate",
    "load_model",
    "save_checkpoint",
]
