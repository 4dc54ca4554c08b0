"""equipot in LAMMPS: the ``pair_style equipot`` plugin (GPL, ``pair_equipot.cpp``) and its
Python side (``bridge``). ``equipot lammps IN_FILE`` runs an input with it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from equipot._lazy import lazy_exports

_EXPORTS = {
    "LammpsBridge": "equipot.lammps.bridge",
    "build_plugin": "equipot.lammps.bridge",
    "run": "equipot.lammps.bridge",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from equipot.lammps.bridge import LammpsBridge, build_plugin, run
