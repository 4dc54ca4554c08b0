"""Trajectory analysis: energy drift, h(r) and its error, radius of gyration, end-to-end."""

import numpy as np
import pytest

from equipot.dynamics.analysis import (
    distance_histogram,
    distance_histogram_error,
    end_to_end,
    energy_drift,
    radius_of_gyration,
)
from tests.conftest import molecule


def test_energy_drift_slope_by_hand():
    t = np.linspace(0, 2, 21)
    d = energy_drift(t, 5 + 0.003 * t, n_atoms=3)  # 3 meV/ps over 3 atoms
    assert d["slope_meV_per_atom_per_ps"] == pytest.approx(1.0)
    assert d["fluctuation_meV_per_atom"] == pytest.approx(0.0, abs=1e-9)
    assert d["max_abs_dev_meV_per_atom"] == pytest.approx(2.0)
    wiggle = energy_drift(t, 5 + 0.003 * np.cos(t * 50), n_atoms=3)
    assert abs(wiggle["slope_meV_per_atom_per_ps"]) < 0.2 and wiggle["fluctuation_meV_per_atom"] > 0.5
    assert np.isnan(energy_drift([0.0], [1.0], 3)["slope_meV_per_atom_per_ps"])
    with pytest.raises(ValueError, match="equal length"):
        energy_drift([0, 1], [1, 2, 3], 3)


def test_distance_histogram_normalised_and_self_error_zero():
    aspirin = molecule("aspirin")
    r, h = distance_histogram(aspirin.positions)
    dr = r[1] - r[0]
    assert len(h) == 500 and dr == pytest.approx(0.02) and r[0] == pytest.approx(0.01)
    assert (h * dr).sum() == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    frames = aspirin.positions + rng.normal(scale=0.05, size=(5, 21, 3))
    assert distance_histogram_error(frames, frames) == 0.0
    assert distance_histogram_error(list(frames), frames) == 0.0
    assert distance_histogram_error(aspirin.positions * 1.2, aspirin.positions) > 0.1


def test_distance_histogram_error_definition():
    """Two atoms 1 Å apart against 2 Å apart: disjoint one-bin densities of height 1/dr, so the
    MAE over 500 bins times 10 is (2 / dr) / 500 * 10 = 2 (the integral of |h - h_ref|)."""
    one = np.array([[0.0, 0, 0], [1.01, 0, 0]])
    two = np.array([[0.0, 0, 0], [2.01, 0, 0]])
    assert distance_histogram_error(one, two) == pytest.approx(2.0)
    # distances beyond 10 Å are outside the histogram; with none in range h is all zeros
    far = np.array([[0.0, 0, 0], [12.0, 0, 0]])
    assert distance_histogram(far)[1].sum() == 0.0
    with pytest.raises(ValueError, match="two atoms"):
        distance_histogram(np.zeros((1, 3)))


def test_radius_of_gyration_and_end_to_end_by_hand():
    line = np.array([[0.0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0]])
    # centre 1.5: squared distances 2.25, 0.25, 0.25, 2.25 -> mean 1.25
    assert radius_of_gyration(line) == pytest.approx(np.sqrt(1.25))
    # mass-weighted: masses 3, 1 at 0 and 4 Å -> centre 1, Rg^2 = (3 * 1 + 1 * 9) / 4 = 3
    assert radius_of_gyration(np.array([[0.0, 0, 0], [4, 0, 0]]), [3.0, 1.0]) == pytest.approx(np.sqrt(3.0))
    frames = np.stack([line, 2 * line])
    np.testing.assert_allclose(radius_of_gyration(frames), [np.sqrt(1.25), 2 * np.sqrt(1.25)])
    np.testing.assert_allclose(end_to_end(frames, 0, 3), [3.0, 6.0])
    with pytest.raises(ValueError, match="out of range"):
        end_to_end(line, 0, 4)
