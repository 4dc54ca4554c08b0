"""Physics contract 3: energy and forces continuous as an atom crosses the cutoff."""

import numpy as np
import pytest
import torch
from ase import Atoms

from equipot import AtomicGraph
from equipot.nn.attention import envelope_softmax
from equipot.nn.radial import PolynomialEnvelope
from tests.conftest import make_model


def scan(model, atoms, mover, direction, distances):
    energies, forces = [], []
    for d in distances:
        a = atoms.copy()
        a.positions[mover] = a.positions[0] + d * direction
        out = model(AtomicGraph.from_atoms(a, model.cutoff))
        energies.append(out["energy"].item())
        forces.append(out["forces"].detach().numpy())
    return np.array(energies), np.array(forces)


@pytest.mark.parametrize("others,option", [(0, {}), (3, {}), (0, {"learned_null": True})])
def test_atom_crossing_cutoff(others, option):
    """A hydrogen walks out of the cutoff sphere of atom 0 in 1e-3 Å steps.

    With others=0 it is atom 0's only neighbour (the attention weight must still go to 0,
    with a fixed or a learned null logit); with others=3 the attention normalisation also has
    other neighbours.
    """
    model = make_model(**option)
    cutoff = model.cutoff
    rng = np.random.default_rng(0)
    positions = [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]  # atom 1 is the mover
    positions += (rng.normal(size=(others, 3)) * 0.6 + [-1.2, 0, 0]).tolist()
    atoms = Atoms("CH" + "O" * others, positions=positions)
    direction = np.array([1.0, 0.0, 0.0])
    step = 1e-3
    distances = cutoff + np.arange(-40, 41) * step
    e, f = scan(model, atoms, 1, direction, distances)
    de = np.abs(np.diff(e))
    df = np.abs(np.diff(f, axis=0)).max(axis=(1, 2))
    # Beyond the cutoff the mover does not interact: the energy is flat and its force zero.
    beyond = distances > cutoff
    assert np.ptp(e[beyond]) < 1e-12
    assert np.abs(f[beyond][:, 1]).max() < 1e-12
    # Approaching the cutoff the interaction vanishes smoothly: the envelope behaves like
    # (1 - r/c)^3, so with 40 steps of 1e-3 Å the energy changes are tiny and shrinking.
    assert de.max() < 1e-6
    assert df.max() < 1e-4
    crossing = np.searchsorted(distances, cutoff)
    assert de[crossing - 1] <= de[crossing - 30] + 1e-15
    # And the atom does interact well inside the cutoff.
    e_inside, _ = scan(model, atoms, 1, direction, [cutoff - 1.0, cutoff - 0.5])
    assert abs(e_inside[0] - e[-1]) > 1e-5


def test_envelope_values():
    env = PolynomialEnvelope(5.0, 6)
    r = torch.tensor([0.0, 2.5, 4.999, 5.0, 6.0], dtype=torch.float64, requires_grad=True)
    u = env(r)
    assert u[0].item() == pytest.approx(1.0)
    assert 0 < u[1].item() < 1
    assert u[2].item() < 1e-7 and u[3].item() == 0 and u[4].item() == 0
    (grad,) = torch.autograd.grad(u.sum(), r)
    assert abs(grad[2].item()) < 1e-4 and grad[3].item() == 0


def test_envelope_softmax_entering_neighbour_has_no_effect():
    """Adding an edge with envelope 0 leaves every attention weight exactly unchanged."""
    logits = torch.tensor([[0.3], [2.0], [5.0]], dtype=torch.float64)
    env = torch.tensor([1.0, 0.5, 0.0], dtype=torch.float64)
    dst = torch.tensor([0, 0, 0])
    with_edge = envelope_softmax(logits, env, dst, 1)
    without = envelope_softmax(logits[:2], env[:2], dst[:2], 1)
    assert with_edge[2].item() == 0.0
    torch.testing.assert_close(with_edge[:2], without)
    # Weights are a proper (sub-)distribution: a null neighbour takes the rest.
    expected = env[:2, None] * logits[:2].exp() / (1 + (env[:2, None] * logits[:2].exp()).sum())
    torch.testing.assert_close(without, expected)
    # A learned null logit b weighs the null neighbour by exp(b), and a large one (beyond the
    # edges' logits) does not overflow.
    for b in (-1.5, 40.0):
        null = torch.tensor([b], dtype=torch.float64)
        got = envelope_softmax(logits, env, dst, 1, null)
        expected = env[:, None] * logits.exp() / (null.exp() + (env[:, None] * logits.exp()).sum())
        torch.testing.assert_close(got, expected)


def test_extra_edges_beyond_cutoff_change_nothing(aspirin):
    """Edges just outside the cutoff (as a Verlet skin adds) contribute exactly zero."""
    model = make_model()
    tight = AtomicGraph.from_atoms(aspirin, model.cutoff)
    loose = AtomicGraph.from_atoms(aspirin, model.cutoff + 1.0)
    assert loose.edge_index.shape[1] > tight.edge_index.shape[1]
    a, b = model(tight), model(loose)
    assert abs(a["energy"].item() - b["energy"].item()) < 1e-11
    torch.testing.assert_close(a["forces"], b["forces"], atol=1e-11, rtol=0)
