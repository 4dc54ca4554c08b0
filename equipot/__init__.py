"""equipot: an Equiformer machine-learning interatomic potential for molecular dynamics.

The public names below load on first use (PEP 562), so ``import equipot`` and the command
line's ``--help`` do not import torch; ``from equipot import Potential`` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from equipot._lazy import lazy_exports

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "AtomicGraph": "equipot.data.graph",
    "Equiformer": "equipot.model",
    "EquiformerCalculator": "equipot.calculator",
    "EquiformerConfig": "equipot.model",
    "EquipotError": "equipot.errors",
    "Potential": "equipot.potential",
    "collate": "equipot.data.graph",
    "load_model": "equipot.checkpoint",
    "save_checkpoint": "equipot.checkpoint",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from equipot.calculator import EquiformerCalculator
    from equipot.checkpoint import load_model, save_checkpoint
    from equipot.data.graph import AtomicGraph, collate
    from equipot.errors import EquipotError
    from equipot.model import Equiformer, EquiformerConfig
    from equipot.potential import Potential

