"""The evaluation layer under the calculator and replicas: a committee's outputs are each model's
own, worker groups change nothing, committees must agree on species and cutoff."""

import numpy as np
import pytest
import torch

from equipot.data.graph import AtomicGraph, collate
from equipot.evaluator import Evaluator
from tests.conftest import make_model, molecule


def batch(cutoff):
    return collate([AtomicGraph.from_atoms(molecule(m), cutoff) for m in ("ethanol", "aspirin", "ethanol")])


def test_committee_outputs_are_each_models_own_in_any_worker_split():
    models = [make_model(seed=0), make_model(seed=1)]
    graph = batch(models[0].cutoff)
    alone = [m(graph) for m in models]
    for workers in (1, 2, 3):
        out = Evaluator(models, workers=workers)(graph)
        assert len(out) == 2
        for o, ref in zip(out, alone):
            torch.testing.assert_close(o["forces"], ref["forces"].detach(), atol=1e-12, rtol=0)
            torch.testing.assert_close(o["energy"], ref["energy"].detach(), atol=1e-12, rtol=0)
    assert not torch.allclose(alone[0]["forces"], alone[1]["forces"])  # two different models
    assert "2 models" in repr(Evaluator(models, workers=1))


def test_committee_must_share_species_and_cutoff():
    with pytest.raises(ValueError, match="share species"):
        Evaluator([make_model(), make_model(species=("H", "C", "O"))])
    with pytest.raises(ValueError, match="share species"):
        Evaluator([make_model(), make_model(cutoff=4.0)])
    with pytest.raises(ValueError, match="workers"):
        Evaluator(make_model(), workers=0)


def test_neighbour_cache_is_reused_until_atoms_move_half_a_skin():
    ev = Evaluator(make_model(), skin=0.5, workers=1)
    atoms = molecule("ethanol")
    calls = []

    def build(cutoff):
        calls.append(cutoff)
        g = AtomicGraph.from_atoms(atoms, cutoff)
        return g.edge_index, g.shifts, g.shifts

    pos = torch.as_tensor(atoms.positions)
    args = dict(
        numbers=torch.as_tensor(atoms.numbers),
        cell=torch.zeros(1, 3, 3),
        pbc=torch.zeros(1, 3, dtype=torch.bool),
        batch=torch.zeros(len(atoms), dtype=torch.long),
    )
    ev.graph(positions=pos, build=build, **args)
    ev.graph(positions=pos + 0.2, build=build, **args)  # every atom 0.35 Å away, more than skin/2: rebuilt
    assert len(calls) == 2 and calls[0] == pytest.approx(ev.cutoff + 0.5)
    ev.graph(positions=pos + 0.21, build=build, **args)  # 0.017 Å from the last build: kept
    assert len(calls) == 2
    assert np.isclose(calls[-1], ev.cutoff + 0.5)
