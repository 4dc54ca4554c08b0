"""Pressure against density of melt boxes: a model against its reference on the same snapshots.

A melt's density at zero pressure is where its equation of state P(rho) crosses zero. Each
density is equilibrated by MD at its own box size (an affine scaling of one configuration would
stretch the covalent bonds, and their response would dominate the pressure), and its snapshots
carry reference stresses. On the same snapshots,

    P = -tr(sigma) / 3 + N k_B T / V,

the virial part from each potential's stress sigma (ASE's sign: positive under tension) and the
kinetic part of an ideal gas at the run's temperature, the same for both. The zero-pressure
density is read off the mean pressures by linear interpolation between the two densities that
bracket zero (when none do, the root of the least-squares line through all of them, flagged
as extrapolated).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import units

from equipot.errors import EquipotError


def kinetic_pressure_gpa(n_atoms: int, volume_a3: float, temperature_K: float) -> float:
    """N k_B T / V in GPa: the ideal-gas pressure of the atoms' thermal motion."""
    return n_atoms * units.kB * temperature_K / volume_a3 / units.GPa


def virial_pressure_gpa(stress: np.ndarray) -> float:
    """-tr(sigma) / 3 in GPa, of a stress in eV/Å^3, (3, 3) or Voigt (6,) (xx yy zz first)."""
    stress = np.asarray(stress, float)
    diagonal = stress[:3] if stress.shape == (6,) else np.diagonal(stress)
    return float(-diagonal.sum() / 3 / units.GPa)


@dataclass
class DensityPoint:
    """The snapshots of one density: reference and model pressures per frame (GPa, virial
    and kinetic parts), at ``density`` (g/cm^3) and ``temperature_K``."""

    label: str
    density: float
    temperature_K: float
    reference: np.ndarray
    model: np.ndarray

    def mae(self) -> float:
        return float(np.abs(self.model - self.reference).mean())


def pressure_points(stores: Sequence[str | Path], calculator) -> list[DensityPoint]:
    """One ``DensityPoint`` per frame store (each one density, periodic frames with a reference
    stress), sorted by density; ``calculator`` gives the model's stress of each frame."""
    from equipot.data.melts import box_density
    from equipot.data.store import FrameStore

    points = []
    for path in map(Path, stores):
        with FrameStore(path) as store:
            temperature = float(store.attrs["temperature_K"])
            frames = [store[k] for k in range(len(store))]
        if not frames:
            raise EquipotError(f"{path} has no frames yet")
        if any(f.stress is None for f in frames):
            raise EquipotError(f"{path} has frames without a reference stress: label it periodic")
        reference, model = [], []
        for frame in frames:
            atoms = frame.to_atoms()
            kinetic = kinetic_pressure_gpa(len(atoms), atoms.get_volume(), temperature)
            reference.append(virial_pressure_gpa(frame.stress) + kinetic)
            atoms.calc = calculator
            model.append(virial_pressure_gpa(atoms.get_stress(voigt=False)) + kinetic)
        points.append(DensityPoint(path.stem, box_density(atoms), temperature, np.array(reference), np.array(model)))
    return sorted(points, key=lambda p: p.density)


def zero_pressure_density(densities: Sequence[float], pressures: Sequence[float]) -> tuple[float, bool]:
    """Density where the mean pressures cross zero, and whether it was extrapolated: linear
    between the first pair of neighbouring densities whose pressures bracket zero, else the root
    of the least-squares line through all of them (NaN when that line does not rise with
    density: no crossing to read)."""
    rho, p = np.asarray(densities, float), np.asarray(pressures, float)
    if len(rho) < 2:
        raise EquipotError("a zero-pressure density needs at least two densities")
    order = np.argsort(rho)
    rho, p = rho[order], p[order]
    for k in range(len(rho) - 1):
        if p[k] == 0 or p[k] * p[k + 1] < 0:
            return float(rho[k] - p[k] * (rho[k + 1] - rho[k]) / (p[k + 1] - p[k])), False
    if p[-1] == 0:
        return float(rho[-1]), False
    slope, intercept = np.polyfit(rho, p, 1)
    return (float(-intercept / slope) if slope > 0 else float("nan")), True


def density_summary(points: Sequence[DensityPoint]) -> dict:
    """Zero-pressure densities of the reference and the model, their relative difference, and
    the pressure MAE over all snapshots against the spread of the reference's mean pressures."""
    rho = [p.density for p in points]
    means = [p.reference.mean() for p in points]
    ref_rho0, ref_extrapolated = zero_pressure_density(rho, means)
    model_rho0, model_extrapolated = zero_pressure_density(rho, [p.model.mean() for p in points])
    errors = np.concatenate([p.model - p.reference for p in points])
    return {
        "reference_rho0": ref_rho0,
        "model_rho0": model_rho0,
        "rho0_relative_difference": model_rho0 / ref_rho0 - 1,
        # True where the curve does not cross zero between two of the densities measured
        "reference_extrapolated": ref_extrapolated,
        "model_extrapolated": model_extrapolated,
        "extrapolated": ref_extrapolated or model_extrapolated,
        "pressure_mae_gpa": float(np.abs(errors).mean()),
        "reference_spread_gpa": float(max(means) - min(means)),
    }


def density_plot(
    curves: dict[str, Sequence[DensityPoint]], path: str | Path, model: str = "model", reference: str = "GFN2-xTB"
) -> None:
    """Mean pressure against density (error bars: standard error over the snapshots),
    reference and model, one panel per family."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 3.6), squeeze=False)
    for ax, (family, points) in zip(axes[0], curves.items()):
        rho = [p.density for p in points]
        for key, style, name in (("reference", "o-", reference), ("model", "s--", model)):
            values = [getattr(p, key) for p in points]
            sem = [v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0.0 for v in values]
            ax.errorbar(rho, [v.mean() for v in values], yerr=sem, fmt=style, capsize=3, label=name)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set(title=family, xlabel="density (g/cm³)", ylabel="pressure (GPa)")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
