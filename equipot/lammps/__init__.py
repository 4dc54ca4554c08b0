"""equipot in LAMMPS: the ``pair_style equipot`` plugin (GPL, ``pair_equipot.cpp``) and its
Python side (``bridge``). ``equipot lammps IN_FILE`` runs an input with it."""

from __future__ import annotations

from equipot._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "equipot.lammps.bridge": ["LammpsBridge", "build_plugin", "run"],
    },
)
