"""ZBL repulsion: on inside bonding distance, off (smoothly) beyond it."""

import numpy as np
import pytest
from ase import Atoms

from equipot import AtomicGraph
from tests.conftest import make_model


def pair_energy(model, r, symbols="CH"):
    atoms = Atoms(symbols, positions=[[0, 0, 0], [r, 0, 0]])
    return model(AtomicGraph.from_atoms(atoms, model.cutoff), compute_forces=False)["energy"].item()


def test_zbl_matches_hand_computed_value_and_switches_off():
    with_zbl = make_model(zbl=True, zbl_switch=1.0)
    without = make_model(zbl=False)
    # Same network weights: the difference is the ZBL term alone.
    r = 0.5
    a = 0.46850 / (6**0.23 + 1**0.23)
    x = r / a
    phi = sum(
        c * np.exp(-d * x) for c, d in zip((0.18175, 0.50986, 0.28022, 0.02817), (3.19980, 0.94229, 0.40290, 0.20162))
    )
    rc = 0.76 + 0.31  # covalent radii of C and H (ase.data)
    d = r / rc
    switch = 1 - 28 * d**6 + 48 * d**7 - 21 * d**8
    expected = 14.399645 * 6 / r * phi * switch
    assert pair_energy(with_zbl, r) - pair_energy(without, r) == pytest.approx(expected, rel=1e-6)
    for r in (1.07, 1.2, 3.0):
        assert pair_energy(with_zbl, r) == pytest.approx(pair_energy(without, r), abs=1e-12)


def test_zbl_dominates_at_short_range():
    model = make_model()
    energies = [pair_energy(model, r) for r in (0.3, 0.5, 0.7)]
    assert energies[0] > energies[1] > energies[2]
    assert energies[0] - energies[2] > 10.0  # eV: atoms cannot be folded together


def test_zbl_switch_scales_where_it_turns_off():
    """zbl_switch = 0.7 turns ZBL off at 0.7 x (r_cov(C) + r_cov(H)) = 0.749 Å, not 1.07 Å, and
    scales the switch's argument by the same factor inside."""
    scaled, full, without = make_model(zbl_switch=0.7), make_model(zbl_switch=1.0), make_model(zbl=False)
    for r in (0.75, 0.9, 1.0):
        assert pair_energy(scaled, r) == pytest.approx(pair_energy(without, r), abs=1e-12)
    assert pair_energy(full, 0.9) - pair_energy(without, 0.9) > 1e-3  # the full switch reaches a compressed C-H
    r = 0.5
    d_scaled, d_full = r / (0.7 * 1.07), r / 1.07
    envelope = lambda d: 1 - 28 * d**6 + 48 * d**7 - 21 * d**8  # noqa: E731
    ratio = (pair_energy(scaled, r) - pair_energy(without, r)) / (pair_energy(full, r) - pair_energy(without, r))
    assert ratio == pytest.approx(envelope(d_scaled) / envelope(d_full), rel=1e-6)
