"""Neighbour lists: matscipy, the pure-torch radius graph and torch-cluster agree."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from ase.neighborlist import neighbor_list as ase_neighbor_list

from equipot import AtomicGraph, collate
from equipot.data.neighbors import has_torch_cluster, neighbor_list, radius_graph


def edge_set(src, dst, shifts=None):
    if shifts is None:
        return set(zip(np.asarray(src).tolist(), np.asarray(dst).tolist()))
    return set(
        zip(np.asarray(src).tolist(), np.asarray(dst).tolist(), map(tuple, np.round(shifts).astype(int).tolist()))
    )


def test_molecule_matches_brute_force(aspirin):
    src, dst, shifts = neighbor_list(aspirin.positions, 3.0)
    assert not shifts.any()
    d = np.linalg.norm(aspirin.positions[:, None] - aspirin.positions[None], axis=-1)
    i, j = np.nonzero((d < 3.0) & ~np.eye(len(aspirin), dtype=bool))
    assert edge_set(src, dst) == edge_set(j, i)
    vec = aspirin.positions[src] - aspirin.positions[dst]
    assert np.linalg.norm(vec, axis=1).max() < 3.0


@pytest.mark.parametrize("cutoff", [2.5, 5.0])
def test_periodic_matches_ase(cutoff):
    atoms = bulk("Si", "diamond", a=5.43)
    atoms.cell = atoms.cell.array @ np.array([[1, 0.2, 0], [0, 1, 0.1], [0, 0, 1]])
    atoms.rattle(0.1, seed=1)
    src, dst, shifts = neighbor_list(atoms.positions, cutoff, atoms.cell.array, atoms.pbc)
    i, j, S = ase_neighbor_list("ijS", atoms, cutoff)
    assert edge_set(src, dst, shifts) == edge_set(j, i, S)
    vec = atoms.positions[src] - atoms.positions[dst] + shifts @ atoms.cell.array
    assert np.linalg.norm(vec, axis=1).max() < cutoff


def test_partially_periodic_slab():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 2, 1))
    atoms.pbc = [True, True, False]
    atoms.cell[2, 2] = 20.0
    src, dst, shifts = neighbor_list(atoms.positions, 4.0, atoms.cell.array, atoms.pbc)
    i, j, S = ase_neighbor_list("ijS", atoms, 4.0)
    assert edge_set(src, dst, shifts) == edge_set(j, i, S)
    assert not shifts[:, 2].any()


def test_degenerate_periodic_cell_is_clear_error():
    atoms = Atoms("H2", positions=[[0, 0, 0], [0.7, 0, 0]], pbc=True)
    with pytest.raises(ValueError, match="degenerate cell"):
        neighbor_list(atoms.positions, 3.0, atoms.cell.array, atoms.pbc)


def test_nan_positions_are_clear_error():
    with pytest.raises(ValueError, match="NaN"):
        neighbor_list(np.array([[0.0, 0, 0], [np.nan, 0, 0]]), 3.0)


@pytest.mark.parametrize(
    "use_cluster",
    [
        False,
        pytest.param(True, marks=pytest.mark.skipif(not has_torch_cluster(), reason="torch-cluster not installed")),
    ],
)
def test_radius_graph_matches_matscipy_on_a_batch(aspirin, ethanol, use_cluster):
    cutoff = 4.0
    graphs = [AtomicGraph.from_atoms(a, cutoff) for a in (aspirin, ethanol, aspirin[:5])]
    batch = collate(graphs)
    edges = radius_graph(batch.positions, cutoff, batch.batch, use_torch_cluster=use_cluster)
    assert edges.dtype == torch.long and edges.shape[0] == 2
    assert edge_set(*edges.numpy()) == edge_set(*batch.edge_index.numpy())


def test_isolated_atoms_have_no_edges():
    atoms = Atoms("HO", positions=[[0, 0, 0], [10, 0, 0]])
    src, dst, _ = neighbor_list(atoms.positions, 5.0)
    assert len(src) == 0
    edges = radius_graph(torch.tensor(atoms.positions), 5.0, use_torch_cluster=False)
    assert edges.shape == (2, 0)


def test_radius_graph_equal_size_replicas(aspirin):
    """The batched fast path (all molecules the same size) gives the matscipy edges."""
    rng = np.random.default_rng(0)
    frames = []
    for _ in range(4):
        a = aspirin.copy()
        a.positions += rng.normal(scale=0.2, size=a.positions.shape)
        frames.append(a)
    batch = collate([AtomicGraph.from_atoms(a, 4.0) for a in frames])
    edges = radius_graph(batch.positions, 4.0, batch.batch, use_torch_cluster=False)
    assert edge_set(*edges.numpy()) == edge_set(*batch.edge_index.numpy())
