"""equipot: an Equiformer machine-learning interatomic potential for molecular dynamics.

The public names below load on first use (PEP 562), so ``import equipot`` and the command
line's ``--help`` do not import torch; ``from equipot import Potential`` does.
"""

from __future__ import annotations

from equipot._lazy import lazy_exports

__version__ = "0.1.0"

# module -> the public names it defines, loaded on first use
__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "equipot.data.graph": ["AtomicGraph", "collate"],
        "equipot.model": ["Equiformer", "EquiformerConfig"],
        "equipot.calculator": ["EquiformerCalculator"],
        "equipot.errors": ["EquipotError"],
        "equipot.potential": ["Potential"],
        "equipot.checkpoint": ["load_model", "save_checkpoint"],
    },
)
