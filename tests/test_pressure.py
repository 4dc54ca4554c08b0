"""Pressure against density: the ideal-gas kinetic part, the sign of the virial part, and the
zero-pressure density of an equation of state read off snapshots at several densities."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.eos import EquationOfState

from equipot.data.melts import AMU_A3_PER_G_CM3
from equipot.data.store import Frame, FrameStore
from equipot.dynamics.pressure import (
    density_summary,
    kinetic_pressure_gpa,
    pressure_points,
    virial_pressure_gpa,
    zero_pressure_density,
)
from equipot.errors import EquipotError


def test_kinetic_pressure_is_one_atmosphere_for_a_mole_at_stp():
    avogadro = 6.02214076e23
    molar_volume_a3 = 22.413969e-3 * 1e30  # m^3 -> Å^3
    assert kinetic_pressure_gpa(avogadro, molar_volume_a3, 273.15) == pytest.approx(101325e-9, rel=1e-5)


def test_virial_pressure_is_positive_in_compression_and_takes_voigt():
    atoms = bulk("Cu", "fcc", a=3.4, cubic=True)  # EMT's a0 is about 3.59 Å
    atoms.calc = EMT()
    full, voigt = atoms.get_stress(voigt=False), atoms.get_stress()
    assert virial_pressure_gpa(full) > 1.0
    assert virial_pressure_gpa(voigt) == pytest.approx(virial_pressure_gpa(full), rel=1e-12)


def test_zero_crossing_interpolated_or_flagged():
    assert zero_pressure_density([0.8, 0.9, 1.0], [-0.2, 0.2, 0.6]) == (pytest.approx(0.85), False)
    rho0, extrapolated = zero_pressure_density([1.0, 1.1, 1.2], [0.3, 0.5, 0.7])
    assert extrapolated and rho0 == pytest.approx(0.85)
    # nearly flat near zero and steep further out: the line through all, not the two nearest
    rho0, _ = zero_pressure_density([0.7, 0.8, 0.9, 1.0], [0.3, 0.31, 0.6, 1.2])
    assert 0.45 < rho0 < 0.7
    assert np.isnan(zero_pressure_density([1.0, 1.1], [0.5, 0.4])[0])
    with pytest.raises(EquipotError, match="two densities"):
        zero_pressure_density([1.0], [0.1])


def write_density_series(tmp_path, lattice_constants):
    """One store per density: a rattled cubic Cu cell labelled with EMT, at 0 K."""
    paths, rng = [], np.random.default_rng(0)
    for a in lattice_constants:
        path = tmp_path / f"cu_{a:.3f}.h5"
        store = FrameStore.create(
            path,
            level_of_theory="EMT",
            code="ase",
            code_version="-",
            created_with="pytest",
            metadata={"temperature_K": 0.0},
        )
        for _ in range(2):
            atoms = bulk("Cu", "fcc", a=a, cubic=True).repeat(2)
            atoms.positions += rng.normal(scale=0.01, size=atoms.positions.shape)
            atoms.calc = EMT()
            atoms.get_stress()  # the labels, computed before they are read
            store.append([Frame.from_atoms(atoms)])
        store.close()
        paths.append(path)
    return paths


def test_zero_pressure_density_of_emt_copper_is_its_equilibrium_density(tmp_path):
    volumes, energies = [], []
    for a in np.linspace(3.50, 3.68, 7):
        atoms = bulk("Cu", "fcc", a=a, cubic=True)
        atoms.calc = EMT()
        volumes.append(atoms.get_volume())
        energies.append(atoms.get_potential_energy())
    v0, _, _ = EquationOfState(volumes, energies).fit()
    rho_eq = 4 * 63.546 * AMU_A3_PER_G_CM3 / v0

    points = pressure_points(write_density_series(tmp_path, [3.52, 3.56, 3.60, 3.64]), EMT())
    assert [p.density for p in points] == sorted(p.density for p in points)
    summary = density_summary(points)
    assert not (summary["extrapolated"] or summary["reference_extrapolated"] or summary["model_extrapolated"])
    assert summary["reference_rho0"] == pytest.approx(rho_eq, rel=2e-3)
    # the same potential as model: the same pressures, frame by frame, up to the store's float32
    assert summary["pressure_mae_gpa"] < 1e-5 and summary["rho0_relative_difference"] == pytest.approx(0, abs=1e-6)
    assert summary["reference_spread_gpa"] > 5.0  # +-2 % in length moves the pressure by GPa
