"""Physics contract 1: E(3) and permutation invariance of the energy, equivariance of forces."""

import numpy as np
import pytest
import torch
from ase.build import bulk
from scipy.spatial.transform import Rotation

from equipot import AtomicGraph, EquiformerConfig, Potential
from tests.conftest import make_model


def energy_forces(model, atoms):
    g = AtomicGraph.from_atoms(atoms, model.cutoff)
    out = model(g)
    return out["energy"].item(), out["forces"].detach().numpy()


def transformed(atoms, matrix=None, translation=None, perm=None):
    matrix = np.eye(3) if matrix is None else matrix
    translation = np.zeros(3) if translation is None else translation
    new = atoms.copy()
    new.positions = atoms.positions @ matrix.T + translation
    if atoms.pbc.any():
        new.cell = atoms.cell.array @ matrix.T
    if perm is not None:
        new = new[perm]
    return new


@pytest.mark.parametrize("lmax_irreps", ["16x0e+8x1o", "16x0e+8x1o+4x2e", "16x0e+8x1o+4x2e+2x3o"])
def test_rotation_reflection_translation(lmax_irreps, aspirin):
    model = make_model(irreps_node=lmax_irreps)
    e0, f0 = energy_forces(model, aspirin)
    rng = np.random.default_rng(0)
    for k in range(3):
        rot = Rotation.random(random_state=k).as_matrix()
        for matrix in (rot, -rot):  # -rot is an improper rotation (a reflection)
            shift = rng.normal(size=3) * 5
            e, f = energy_forces(model, transformed(aspirin, matrix, shift))
            assert abs(e - e0) < 1e-9 * max(1.0, abs(e0))
            np.testing.assert_allclose(f, f0 @ matrix.T, atol=1e-9)


# the architecture options docs/accuracy.md ablates, each away from the paper's network
OPTIONS = [dict(residual_scale=0.1), dict(norm_high_l=False), dict(learned_null=True), dict(subtract_isolated=False)]


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: next(iter(o)))
def test_architecture_options_keep_the_contract(option, aspirin):
    """Each option: E(3) invariance, forces = -dE/dx, float32 close to float64."""
    model = make_model(**option)
    e0, f0 = energy_forces(model, aspirin)
    base_e, _ = energy_forces(make_model(), aspirin)
    assert abs(e0 - base_e) > 1e-6  # the option changes the network
    rot = Rotation.random(random_state=3).as_matrix()
    for matrix in (rot, -rot):
        e, f = energy_forces(model, transformed(aspirin, matrix, np.array([1.0, -2.0, 0.5])))
        assert abs(e - e0) < 1e-9 * max(1.0, abs(e0))
        np.testing.assert_allclose(f, f0 @ matrix.T, atol=1e-9)
    h, atom = 1e-4, 5
    for axis in range(3):
        plus, minus = aspirin.copy(), aspirin.copy()
        plus.positions[atom, axis] += h
        minus.positions[atom, axis] -= h
        fd = -(energy_forces(model, plus)[0] - energy_forces(model, minus)[0]) / (2 * h)
        assert abs(fd - f0[atom, axis]) < 1e-6 + 1e-5 * abs(fd)
    out = model.to(torch.float32)(AtomicGraph.from_atoms(aspirin, model.cutoff, dtype=torch.float32))
    assert abs(out["energy"].item() - e0) < 1e-4 * max(1.0, abs(e0))
    np.testing.assert_allclose(out["forces"].detach().numpy(), f0, atol=1e-4 * np.abs(f0).max())


def test_mirror_image_has_same_energy(aspirin):
    """E(3), not just SE(3): the official code labels vectors 'e' and fails this."""
    model = make_model()
    mirror = aspirin.copy()
    mirror.positions[:, 0] *= -1
    e0, f0 = energy_forces(model, aspirin)
    e1, f1 = energy_forces(model, mirror)
    assert abs(e1 - e0) < 1e-9
    np.testing.assert_allclose(f1, f0 * np.array([-1, 1, 1]), atol=1e-9)


def test_permutation_of_like_atoms(aspirin):
    model = make_model()
    e0, f0 = energy_forces(model, aspirin)
    perm = np.random.default_rng(1).permutation(len(aspirin))
    e, f = energy_forces(model, aspirin[perm])
    assert abs(e - e0) < 1e-9
    np.testing.assert_allclose(f, f0[perm], atol=1e-10)


def test_energy_depends_on_geometry(aspirin):
    """Guard against a model that is trivially invariant (constant)."""
    model = make_model()
    e0, f0 = energy_forces(model, aspirin)
    moved = aspirin.copy()
    moved.positions[0] += [0.1, 0.0, 0.0]
    e1, _ = energy_forces(model, moved)
    assert abs(e1 - e0) > 1e-4
    assert np.abs(f0).max() > 1e-3


def test_periodic_cell_rotation():
    atoms = bulk("C", "diamond", a=3.57).repeat((2, 1, 1))
    atoms.cell = atoms.cell.array @ np.array([[1, 0.1, 0], [0, 1, 0.05], [0, 0, 1.1]])
    atoms.rattle(0.05, seed=2)
    model = make_model(species=["C"])
    e0, f0 = energy_forces(model, atoms)
    rot = Rotation.random(random_state=7).as_matrix()
    e, f = energy_forces(model, transformed(atoms, rot))
    assert abs(e - e0) < 1e-9 * max(1, abs(e0))
    np.testing.assert_allclose(f, f0 @ rot.T, atol=1e-9)


def test_default_paper_config_is_equivariant(ethanol):
    """The paper's MD17 configuration itself (128x0e+64x1o+32x2e, 6 blocks, 4 heads)."""
    torch.manual_seed(3)
    model = Potential(EquiformerConfig(species=["H", "C", "O"])).double().eval()
    assert model.config.irreps_node == "128x0e+64x1o+32x2e"
    assert (model.config.num_blocks, model.config.num_heads, model.cutoff) == (6, 4, 5.0)
    e0, f0 = energy_forces(model, ethanol)
    rot = -Rotation.random(random_state=5).as_matrix()
    e, f = energy_forces(model, transformed(ethanol, rot, np.array([1.0, -2.0, 3.0])))
    assert abs(e - e0) < 1e-9
    np.testing.assert_allclose(f, f0 @ rot.T, atol=1e-9)


def test_float32_matches_float64(aspirin):
    m64 = make_model()
    m32 = make_model(dtype=torch.float32)
    e64, f64 = energy_forces(m64, aspirin)
    g = AtomicGraph.from_atoms(aspirin, m32.cutoff, dtype=torch.float32)
    out = m32(g)
    assert out["energy"].dtype == torch.float32
    assert abs(out["energy"].item() - e64) < 1e-4 * max(1, abs(e64))
    # float32 carries ~7 digits; through a deep network forces keep ~4 of them.
    np.testing.assert_allclose(out["forces"].detach().numpy(), f64, atol=1e-4 * np.abs(f64).max())
