"""The start of a batch of replicas: the checks before work, each replica's Maxwell-Boltzmann
velocities and its own copies of the monitors."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
from ase import Atoms

from equipot.data.neighbors import check_structure
from equipot.dynamics.md import initialise_velocities
from equipot.errors import EquipotError


def check_systems(ensemble: str, systems: Sequence[Atoms]) -> None:
    """Errors before work, as ``run_md``'s ``check_start``: an ensemble replicas run, isolated
    molecules, each one a structure a potential can evaluate."""
    if ensemble not in ("nvt", "nve"):
        raise EquipotError(f"ensemble must be 'nvt' or 'nve', got {ensemble!r}")
    if not systems:
        raise EquipotError("give at least one system")
    if any(a.pbc.any() for a in systems):
        raise EquipotError("ReplicaDynamics is for isolated molecules; use run_md for periodic cells")
    for atoms in systems:
        check_structure(atoms.positions, None, atoms.pbc)


def start_velocities(templates: list[Atoms], temperature_K: float, seed: int) -> list[np.ndarray]:
    """Independent Maxwell-Boltzmann velocities of each replica, from one seeded generator."""
    rng = np.random.default_rng(seed)
    velocities = []
    for atoms in templates:
        initialise_velocities(atoms, temperature_K, rng, exact=False)
        velocities.append(atoms.get_velocities())
    return velocities


def replica_monitors(monitors: Sequence, n: int) -> list[list]:
    """Each replica's own copies of the monitors: they keep per-system state (a bond list,
    reference lengths, a limit set from the target temperature). ``monitors`` is one list for
    all replicas, or one list per replica."""
    per_replica = len(monitors) > 0 and all(isinstance(m, (list, tuple)) for m in monitors)
    if per_replica and len(monitors) != n:
        raise EquipotError(f"{len(monitors)} monitor lists for {n} replicas")
    return [[copy.deepcopy(m) for m in (monitors[k] if per_replica else monitors)] for k in range(n)]
