"""Stability monitors that run during MD and stop it with a reason (Fu et al., TMLR 2023).

Each monitor is a ``Monitor``: a ``name`` and ``check(atoms, step, time_ps) -> str | None``, a
reason when the trajectory has failed, else None. ``run_md`` and ``ReplicaDynamics`` call its
``start(atoms, temperature_K)`` once before the first step, so a monitor can take its reference
(bonds of the first frame, the target temperature) or switch itself off.

``ReplicaDynamics`` gives every replica its own copies of the monitors and calls each on that
replica's ``Atoms``. The geometry behind the checks (bond lists, bond lengths, contact
pairs) is in ``equipot.dynamics.bonds``.
"""

from __future__ import annotations

import warnings

import numpy as np
from ase import Atoms

from equipot.dynamics.bonds import (  # noqa: F401 (re-exported: the monitors' geometry)
    bond_deviation,
    bond_lengths,
    bonds_of,
    contact_pairs,
    max_force_norm,
    reference_bond_lengths,
)
from equipot.errors import EquipotError

# ---------------------------------------------------------------------------------- monitors


class Monitor:
    """What MD drivers call: ``start`` once before the first step (default: nothing), then
    ``check`` every few steps; a non-empty string from ``check`` stops the run (or the replica)
    and is reported with the monitor's ``name``.

    What ``start`` takes from the first frame is named in ``state_fields``, so a resumed run
    (``equipot.dynamics.restart``) gives it back with ``load_state_dict`` instead of taking it
    again from the frame it resumes at."""

    name = "monitor"
    state_fields: tuple[str, ...] = ()

    def start(self, atoms: Atoms, temperature_K: float | None = None) -> None:
        """Take what the checks compare with from the first frame (default: nothing)."""

    def state_dict(self) -> dict:
        """The attributes of ``state_fields``: arrays, numbers, booleans or None."""
        return {name: getattr(self, name) for name in self.state_fields}

    def load_state_dict(self, state: dict) -> None:
        unknown = set(state) - set(self.state_fields)
        if unknown:
            raise EquipotError(f"{type(self).__name__} has no state {sorted(unknown)}")
        for name, value in state.items():
            setattr(self, name, value)

    def check(self, atoms: Atoms, step: int, time_ps: float) -> str | None:
        raise NotImplementedError


class BondStability(Monitor):
    """Fu et al.'s criterion: unstable at the first frame where any bond deviates more than
    ``max_deviation`` Å from its reference length (the mean over a reference trajectory if
    given, else its length in the first frame). Bonds are those of the first frame."""

    name = "bond"
    state_fields = ("bonds", "reference")

    def __init__(
        self, max_deviation: float = 0.5, reference_lengths: np.ndarray | None = None, bonds: np.ndarray | None = None
    ) -> None:
        if max_deviation <= 0:
            raise EquipotError(f"max_deviation must be positive (Å), got {max_deviation}")
        self.max_deviation = float(max_deviation)
        self.reference = None if reference_lengths is None else np.asarray(reference_lengths, float)
        self.bonds = None if bonds is None else np.asarray(bonds, int).reshape(-1, 2)
        if self.reference is not None and self.bonds is not None and len(self.reference) != len(self.bonds):
            raise EquipotError(f"{len(self.reference)} reference lengths for {len(self.bonds)} bonds")

    def start(self, atoms: Atoms, temperature_K: float | None = None) -> None:
        if self.bonds is None:
            self.bonds = bonds_of(atoms)
        if self.reference is None:
            self.reference = bond_lengths(atoms.positions, self.bonds)
        elif len(self.reference) != len(self.bonds):
            raise EquipotError(
                f"{len(self.reference)} reference lengths but the first frame has "
                f"{len(self.bonds)} bonds; pass bonds= as well"
            )

    def check(self, atoms: Atoms, step: int, time_ps: float) -> str | None:
        if self.bonds is None or self.reference is None:
            self.start(atoms)
        if len(self.bonds) == 0:
            return None
        dev = np.abs(bond_lengths(atoms.positions, self.bonds) - self.reference)
        k = int(np.argmax(np.where(np.isfinite(dev), dev, np.inf)))
        if not dev[k] <= self.max_deviation:
            i, j = self.bonds[k]
            return f"bond {i}-{j} deviates {dev[k]:.2f} Å from {self.reference[k]:.2f} Å"
        return None


class ContactStability(Monitor):
    """Two heavy atoms more than two bonds apart (``contact_pairs`` of the first frame) closer
    than their closest approach over a reference trajectory minus ``margin`` Å.

    The bond criterion only watches bonds that exist at the start, so a molecule can fold into
    a structure the reference never visits (two oxygens pressed together, say) with every bond
    intact; where the learned surface has a hole, the replica then stays there. This catches
    that with the reference dynamics the study already has. ``reference`` is (T, n, 3)."""

    name = "contact"
    state_fields = ("pairs", "limit")

    def __init__(self, reference: np.ndarray, margin: float = 0.25, pairs: np.ndarray | None = None) -> None:
        if margin <= 0:
            raise EquipotError(f"margin must be positive (Å), got {margin}")
        self.reference = np.asarray(reference, float)
        if self.reference.ndim != 3:
            raise EquipotError(f"reference frames must be (T, n, 3), got shape {self.reference.shape}")
        self.margin = float(margin)
        self.pairs = None if pairs is None else np.asarray(pairs, int).reshape(-1, 2)
        self.limit = None

    def start(self, atoms: Atoms, temperature_K: float | None = None) -> None:
        if self.reference.shape[1] != len(atoms):
            raise EquipotError(f"reference has {self.reference.shape[1]} atoms, the system {len(atoms)}")
        if self.pairs is None:
            self.pairs = contact_pairs(atoms)
        self.limit = bond_lengths(self.reference, self.pairs).min(axis=0) - self.margin

    def check(self, atoms: Atoms, step: int, time_ps: float) -> str | None:
        if self.limit is None:
            self.start(atoms)
        if len(self.pairs) == 0:
            return None
        gap = bond_lengths(atoms.positions, self.pairs) - self.limit
        k = int(np.argmin(np.where(np.isfinite(gap), gap, -np.inf)))
        if not gap[k] >= 0:
            i, j = self.pairs[k]
            return (
                f"atoms {i} and {j} at {gap[k] + self.limit[k]:.2f} Å, closer than the reference's "
                f"{self.limit[k] + self.margin:.2f} Å minus {self.margin} Å"
            )
        return None


class TemperatureBlowup(Monitor):
    """Instantaneous temperature above ``max_K``, or above ``factor`` × the run's target."""

    name = "temperature"
    state_fields = ("max_K",)

    def __init__(self, max_K: float | None = None, *, factor: float | None = None) -> None:
        if (max_K is None) == (factor is None):
            raise EquipotError("give exactly one of max_K or factor (x target temperature)")
        if (max_K is not None and max_K <= 0) or (factor is not None and factor <= 1):
            raise EquipotError("max_K must be positive and factor greater than 1")
        self.max_K = max_K
        self.factor = factor

    def start(self, atoms: Atoms, temperature_K: float | None = None) -> None:
        if self.factor is not None:
            if not temperature_K:
                raise EquipotError("TemperatureBlowup(factor=...) needs a target temperature")
            self.max_K = self.factor * temperature_K

    def check(self, atoms: Atoms, step: int, time_ps: float) -> str | None:
        if self.max_K is None:
            raise EquipotError("TemperatureBlowup(factor=...) used before start(atoms, temperature_K)")
        t = atoms.get_temperature()
        return f"temperature {t:.0f} K above {self.max_K:.0f} K" if not t <= self.max_K else None


class ForceSanity(Monitor):
    """Non-finite positions or forces, or any per-atom |F| above ``max_force`` eV/Å."""

    name = "forces"

    def __init__(self, max_force: float = 50.0) -> None:
        if max_force <= 0:
            raise EquipotError(f"max_force must be positive (eV/Å), got {max_force}")
        self.max_force = float(max_force)

    def check(self, atoms: Atoms, step: int, time_ps: float) -> str | None:
        if not np.isfinite(atoms.positions).all():
            return "non-finite positions"
        f = atoms.get_forces()
        if not np.isfinite(f).all():
            return "non-finite forces"
        biggest = float(max_force_norm(f))
        return f"force {biggest:.1f} eV/Å above {self.max_force} eV/Å" if biggest > self.max_force else None


class MinDistance(Monitor):
    """Two atoms closer than ``min_distance`` Å, or (with ``covalent_fraction``) closer than
    that fraction of the sum of their covalent radii. Periodic cells use minimum images."""

    name = "distance"

    def __init__(self, min_distance: float | None = 0.5, *, covalent_fraction: float | None = None) -> None:
        if covalent_fraction is not None:
            min_distance = None
            if not 0 < covalent_fraction < 1:
                raise EquipotError(f"covalent_fraction must be in (0, 1), got {covalent_fraction}")
        elif min_distance is None or min_distance <= 0:
            raise EquipotError(f"min_distance must be positive (Å), got {min_distance}")
        self.min_distance = min_distance
        self.covalent_fraction = covalent_fraction

    def check(self, atoms: Atoms, step: int, time_ps: float) -> str | None:
        if len(atoms) < 2:
            return None
        d = atoms.get_all_distances(mic=bool(atoms.pbc.any()))
        if self.covalent_fraction is not None:
            from ase.data import covalent_radii

            r = covalent_radii[atoms.numbers]
            limit = self.covalent_fraction * (r[:, None] + r[None, :])
        else:
            limit = np.full_like(d, self.min_distance)
        ratio = d / limit
        ratio[np.diag_indices_from(ratio)] = np.inf
        i, j = np.unravel_index(np.argmin(ratio), ratio.shape)
        if ratio[i, j] < 1:
            return f"atoms {i} and {j} at {d[i, j]:.2f} Å (limit {limit[i, j]:.2f} Å)"
        return None


class Uncertainty(Monitor):
    """Committee force disagreement (``calc.results["force_uncertainty"]``, eV/Å per atom)
    above ``threshold`` on any atom. A calculator that does not provide it (one model, or a
    non-equipot calculator) switches the monitor off with a warning instead of failing."""

    name = "uncertainty"
    state_fields = ("active",)

    def __init__(self, threshold: float) -> None:
        if threshold <= 0:
            raise EquipotError(f"threshold must be positive (eV/Å), got {threshold}")
        self.threshold = float(threshold)
        self.active = True

    def _switch_off(self, atoms: Atoms) -> None:
        self.active = False
        warnings.warn(
            f"Uncertainty monitor skipped: {type(atoms.calc).__name__} does not provide "
            "results['force_uncertainty'] (use a committee of several models)",
            stacklevel=3,
        )

    def start(self, atoms: Atoms, temperature_K: float | None = None) -> None:
        atoms.get_forces()  # make the calculator fill its results for this frame
        if "force_uncertainty" not in getattr(atoms.calc, "results", {}):
            self._switch_off(atoms)

    def check(self, atoms: Atoms, step: int, time_ps: float) -> str | None:
        if not self.active:
            return None
        results = getattr(atoms.calc, "results", {})
        if "force_uncertainty" not in results:
            self._switch_off(atoms)
            return None
        u = np.asarray(results["force_uncertainty"], float).reshape(-1)
        u = np.where(np.isfinite(u), u, np.inf)  # a NaN disagreement is a failure, not a pass
        k = int(np.argmax(u))
        if u[k] > self.threshold:
            return f"force disagreement {u[k]:.3f} eV/Å on atom {k} above {self.threshold} eV/Å"
        return None


def default_monitors(temperature_K: float) -> list:
    """The checks every run gets: bonds (0.5 Å), temperature (5x target, at least 1000 K),
    forces (50 eV/Å), atoms closer than 0.5 Å."""
    return [BondStability(0.5), TemperatureBlowup(max(5 * temperature_K, 1000.0)), ForceSanity(), MinDistance(0.5)]


def study_monitors(atoms: Atoms, reference: np.ndarray | None = None, contacts: bool = False) -> list:
    """The stability studies' checks for one system: Fu et al.'s bond criterion (0.5 Å, bonds
    of ``atoms`` with ASE natural cutoffs, against their mean length over the ``reference``
    trajectory (T, n, 3) when given, else the starting lengths), temperature blow-up (4x the
    target), non-finite or huge forces, atoms closer than 0.5 Å; with ``contacts`` and a
    reference, heavy atoms more than two bonds apart closer than the reference ever brings them,
    minus 0.25 Å (for small molecules with long reference dynamics; a flexible chain folds into
    contacts a short reference never shows)."""
    bonds = bonds_of(atoms)
    lengths = None if reference is None else reference_bond_lengths(reference, bonds)
    monitors = [BondStability(0.5, lengths, bonds), TemperatureBlowup(factor=4.0), ForceSanity(), MinDistance()]
    if contacts and reference is not None:
        monitors.append(ContactStability(reference, 0.25))
    return monitors
