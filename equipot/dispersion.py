"""London dispersion beyond the cutoff: Grimme's D3 with Becke-Johnson damping, a physics term of
the potential beside the reference energies and ZBL.

    E_disp = -sum_{i<j} sum_{n=6,8} s_n C_n^ij / (r_ij^n + (a1 R0_ij + a2)^n),
    R0_ij = sqrt(C8^ij / C6^ij)

with C6 from the D3 reference table interpolated by each atom's coordination number, and C8
from C6 and the atoms' <r^4>/<r^2> (Grimme, Antony, Ehrlich, Krieg, J. Chem. Phys. 132, 154104
(2010); Grimme, Ehrlich, Goerigk, J. Comput. Chem. 32, 1456 (2011)). The sum reaches tens of
ångströms, far past a message-passing cutoff, and a melt's density depends on that tail.

The term is computed by the maintained s-dftd3 library (``dftd3`` on PyPI, the ``dispersion``
extra), periodic cells included, with its exact gradient and virial. It has no trainable
parameters: the potential adds it to the network's energy, forces and stress, so a model trained
with it learns labels minus dispersion and predicts labels at inference.

A model asks for it in its config: ``dispersion: d3bj:pbe`` takes the damping parameters fitted
for a functional (s-dftd3's table), ``dispersion: d3bj:s6=1,s8=0.7875,a1=0.4289,a2=4.4407``
gives them explicitly. Without it a model computes exactly what it did.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from equipot.errors import EquipotError, require

_EXPLICIT = ("s6", "s8", "a1", "a2")


class Terms(NamedTuple):
    """One structure's dispersion: energy (eV), forces (n, 3) eV/Å, stress (3, 3) eV/Å^3 as
    (1/V) dE/d(strain), the sign convention of ASE and ``Potential`` (None unless periodic in
    all three directions), and per-atom energies (n,) eV, half of each pair's to each atom."""

    energy: float
    forces: np.ndarray
    stress: np.ndarray | None
    energies: np.ndarray


@dataclass(frozen=True)
class D3BJ:
    """D3(BJ) for a functional (``method``) or with explicit damping parameters (``params``:
    s6, s8, a1, a2, with a1 dimensionless and a2 in bohr, as the D3 papers give them)."""

    method: str | None = None
    params: tuple[tuple[str, float], ...] | None = None

    @classmethod
    def from_spec(cls, spec: str) -> D3BJ:
        """``d3bj:FUNCTIONAL`` or ``d3bj:s6=...,s8=...,a1=...,a2=...``; clear errors otherwise."""
        kind, _, rest = str(spec).partition(":")
        if kind.strip().lower() != "d3bj" or not rest.strip():
            raise EquipotError(
                f"dispersion must be 'd3bj:FUNCTIONAL' (e.g. d3bj:pbe) or 'd3bj:s6=..,s8=..,a1=..,a2=..'; got {spec!r}"
            )
        if "=" not in rest:
            return cls(method=rest.strip().lower())
        params = {}
        for item in rest.split(","):
            key, _, value = item.partition("=")
            key = key.strip()
            if key not in _EXPLICIT:
                raise EquipotError(f"dispersion parameter {key!r} is not one of {', '.join(_EXPLICIT)}")
            try:
                params[key] = float(value)
            except ValueError as err:
                raise EquipotError(f"dispersion parameter {key}={value!r} is not a number") from err
        missing = [k for k in _EXPLICIT if k not in params]
        if missing:
            raise EquipotError(f"dispersion 'd3bj:...' needs {', '.join(_EXPLICIT)}; missing {missing}")
        return cls(params=tuple((k, params[k]) for k in _EXPLICIT))

    def _damping(self):
        require("dftd3", "dispersion", "the D3 dispersion term")
        from dftd3.interface import RationalDampingParam

        if self.params is not None:
            return RationalDampingParam(s9=0.0, **dict(self.params))  # two-body, as for a functional
        try:
            return RationalDampingParam(method=self.method)
        except Exception as err:  # s-dftd3 raises a bare RuntimeError for a functional it lacks
            raise EquipotError(f"s-dftd3 has no D3(BJ) parameters for {self.method!r}") from err

    def check(self) -> None:
        """An error now (at model build) for parameters s-dftd3 does not have."""
        self._damping()

    def __call__(self, numbers: np.ndarray, positions: np.ndarray, cell: np.ndarray | None, pbc: np.ndarray) -> Terms:
        """Energy, forces, stress and per-atom energies of one structure; ``cell`` rows are
        lattice vectors (Å), used along the ``pbc`` directions."""
        from ase.units import Bohr, Hartree
        from dftd3.interface import DispersionModel

        periodic = np.asarray(pbc, bool)
        lattice = np.asarray(cell, float) / Bohr if periodic.any() else None
        damping = self._damping()
        try:
            model = DispersionModel(
                np.asarray(numbers, np.int32), np.asarray(positions, float) / Bohr, lattice, periodic
            )
            result = model.get_dispersion(damping, grad=True)
            pairs = model.get_pairwise_dispersion(damping)["additive pairwise energy"]
        except (RuntimeError, ValueError) as err:
            raise EquipotError(f"s-dftd3 cannot evaluate this structure: {err}") from err
        stress = None
        if periodic.all():
            stress = np.asarray(result["virial"]) * Hartree / abs(np.linalg.det(cell))
        return Terms(
            energy=float(result["energy"]) * Hartree,
            forces=-np.asarray(result["gradient"]) * (Hartree / Bohr),
            stress=stress,
            energies=pairs.sum(axis=1) * Hartree,
        )

    def lammps_style(self) -> str:
        """The LAMMPS pair style that computes this term with s-dftd3's real-space cutoffs (60
        bohr for the pair sum, 40 bohr for coordination numbers), for ``hybrid/overlay``."""
        from ase.units import Bohr

        if self.method is None:
            raise EquipotError(f"LAMMPS's dispersion/d3 takes a functional name, not explicit parameters ({self})")
        return f"dispersion/d3 bj {self.method} {60 * Bohr:.5f} {40 * Bohr:.5f}"

    def __str__(self) -> str:
        if self.method is not None:
            return f"d3bj:{self.method}"
        return "d3bj:" + ",".join(f"{k}={v:g}" for k, v in self.params)


def dispersion_from_spec(spec: str | None) -> D3BJ | None:
    """The dispersion term a model config names (None: none)."""
    return None if spec is None else D3BJ.from_spec(spec)
