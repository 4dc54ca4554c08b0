"""equipot in LAMMPS: the ``pair_style equipot`` plugin (GPL, ``pair_equipot.cpp``) and its
Python side (``bridge``). ``equipot lammps IN_FILE`` runs an input with it."""

from equipot.lammps.bridge import LammpsBridge, build_plugin, run

__all__ = ["LammpsBridge", "build_plugin", "run"]
