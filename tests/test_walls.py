"""The wall for melt sampling: its forces and stress are the derivatives of its energy, it is
zero for pairs beyond its distance, it stands off from what the melt check rejects, and it holds
a reference bond short of breaking."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from equipot.data.melts import CONTACT, bond_set
from equipot.dynamics.walls import ContactWall


def two_hcl(gap: float) -> tuple[Atoms, np.ndarray]:
    """Two HCl molecules in a periodic box, their Cl atoms ``gap`` Å apart (tilted)."""
    atoms = Atoms(
        "HClClH",
        positions=[[0.0, 0.0, 0.0], [1.27, 0.1, 0.0], [1.27 + gap, 0.3, 0.2], [2.54 + gap, 0.2, 0.5]],
        cell=np.diag([9.0, 8.0, 8.5]),
        pbc=True,
    )
    return atoms, np.array([0, 0, 1, 1])


def test_wall_distances_stand_off_from_bonds_and_overlaps():
    wall = ContactWall(np.zeros(2))
    cl_cl, h_h, c_h = wall.r0(np.array([17, 1, 6]), np.array([17, 1, 1]))
    assert cl_cl == pytest.approx(2 * 1.02 + 0.3 + 0.2)  # beyond bond_set's Cl-Cl bond
    assert h_h == pytest.approx(0.85 * CONTACT["H-H"] + 0.2)  # beyond the check's H...H floor
    assert c_h == pytest.approx(0.76 + 0.31 + 0.3 + 0.2)
    atoms, _ = two_hcl(cl_cl - 0.01)
    assert (1, 2) not in bond_set(atoms)


def test_forces_and_stress_are_derivatives_of_the_energy():
    atoms, chain = two_hcl(2.4)
    atoms.calc = ContactWall(chain)
    assert atoms.get_potential_energy() > 0.1
    forces = atoms.get_forces()
    np.testing.assert_allclose(forces.sum(axis=0), 0.0, atol=1e-12)
    h = 1e-6
    for a in range(len(atoms)):
        for c in range(3):
            plus, minus = atoms.copy(), atoms.copy()
            plus.positions[a, c] += h
            minus.positions[a, c] -= h
            for x in (plus, minus):
                x.calc = ContactWall(chain)
            fd = -(plus.get_potential_energy() - minus.get_potential_energy()) / (2 * h)
            assert forces[a, c] == pytest.approx(fd, abs=1e-6)
    stress = atoms.get_stress(voigt=False)
    for a in range(3):
        for b in range(3):
            strains = []
            for sign in (1, -1):
                eps = np.eye(3)
                eps[a, b] += sign * h
                x = atoms.copy()
                x.set_cell(atoms.cell.array @ eps, scale_atoms=True)
                x.calc = ContactWall(chain)
                strains.append(x.get_potential_energy())
            assert stress[a, b] == pytest.approx((strains[0] - strains[1]) / (2 * h) / atoms.get_volume(), abs=1e-8)


def test_nothing_beyond_the_wall_or_within_a_chain():
    atoms, chain = two_hcl(2.8)
    atoms.calc = ContactWall(chain)
    assert atoms.get_potential_energy() == 0.0
    np.testing.assert_array_equal(atoms.get_forces(), 0.0)
    close, _ = two_hcl(2.0)
    close.calc = ContactWall(np.zeros(4, int))  # one chain, no bonds given: its atoms feel no wall
    assert close.get_potential_energy() == 0.0


def test_within_a_chain_only_pairs_not_bonded_feel_the_wall_at_their_bond_distance():
    atoms, _ = two_hcl(2.4)  # Cl...Cl 2.4 Å: inside the 2.54 Å wall of a Cl-Cl pair
    one_chain, bonds = np.zeros(4, int), {(0, 1), (2, 3)}
    wall = ContactWall(one_chain, bonds)
    atoms.calc = wall
    energy = atoms.get_potential_energy()
    assert energy == pytest.approx(0.5 * 20.0 * (2 * 1.02 + 0.5 - atoms.get_distance(1, 2, mic=True)) ** 2)
    # H-Cl at 1.27 Å is a reference bond: it feels nothing however short
    assert wall.r0(np.array([1]), np.array([17]), True)[0] == pytest.approx(0.31 + 1.02 + 0.5)
    forces = atoms.get_forces()
    assert np.abs(forces[[0, 3]]).max() == 0.0 and forces[1, 0] < 0 < forces[2, 0]  # the Cl atoms pushed apart


def test_a_reference_bond_is_held_short_of_breaking_with_exact_forces():
    atoms, _ = two_hcl(3.0)
    atoms.positions[0, 0] = -0.33  # H0-Cl1 stretched to 1.60 Å, past the 1.53 Å limit of an H-Cl bond
    chain, bonds = np.array([0, 0, 1, 1]), {(0, 1), (2, 3)}
    atoms.calc = ContactWall(chain, bonds)
    stretch = atoms.get_distance(0, 1) - (0.31 + 1.02 + 0.3 - 0.1)
    assert atoms.get_potential_energy() == pytest.approx(0.5 * 20.0 * stretch**2)
    forces = atoms.get_forces()
    assert forces[0, 0] > 0 > forces[1, 0]  # pulled back together
    h = 1e-6
    for a, c in ((0, 0), (0, 1), (1, 0)):
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[a, c] += h
        minus.positions[a, c] -= h
        plus.calc, minus.calc = ContactWall(chain, bonds), ContactWall(chain, bonds)
        fd = -(plus.get_potential_energy() - minus.get_potential_energy()) / (2 * h)
        assert forces[a, c] == pytest.approx(fd, abs=1e-6)
    relaxed, _ = two_hcl(3.0)  # bonds at 1.27 Å feel nothing
    relaxed.calc = ContactWall(chain, bonds)
    assert relaxed.get_potential_energy() == 0.0


def test_only_the_nearest_image_of_a_bonded_pair_is_the_bond():
    # in a 4 Å cell the image of the H-Cl bond partner lies 2.73 Å away, inside the wall's reach
    atoms = Atoms("HCl", positions=[[0, 0, 0], [1.27, 0, 0]], cell=[4.0, 10.0, 10.0], pbc=True)
    atoms.calc = ContactWall(np.array([0, 0]), {(0, 1)})
    assert atoms.get_potential_energy() == 0.0
    atoms.positions[1, 0] = 1.60  # the bond itself stretched past 1.53 Å: held
    atoms.calc = ContactWall(np.array([0, 0]), {(0, 1)})
    assert atoms.get_potential_energy() == pytest.approx(0.5 * 20.0 * 0.07**2)
