"""The compiled-kernel path: forces and stress assembled from dE/d(edge vector) equal the
autograd ones (positions and strain) to float64 rounding; artifacts are named per model,
dtype and weights; small structures take the eager kernel. Building a real artifact takes
minutes: that test is opt-in (slow)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import bulk, molecule

from equipot import AtomicGraph
from equipot.compiled import CompiledKernel, _kernel, artifact_path
from equipot.data.graph import collate
from equipot.potential import edge_vectors
from tests.conftest import make_model


class EagerStandIn:
    """What an artifact computes, by the eager kernel: exercises everything around it."""

    def __init__(self, model) -> None:
        self.run, self.calls = _kernel(model), 0

    def __call__(self, species, vectors, edge_index, weights=None):
        self.calls += 1
        return self.run(species, vectors, edge_index, vectors.new_ones(len(species)) if weights is None else weights)


def batch(model):
    crystal = bulk("C", "diamond", a=3.57).repeat((2, 1, 1))
    crystal.rattle(0.05, seed=1)
    crystal.set_cell(crystal.cell.array @ np.array([[1, 0.03, 0], [0, 1, 0], [0.02, 0, 1]]), scale_atoms=True)
    ch4 = molecule("CH4")
    ch4.rattle(0.05, seed=2)
    return collate([AtomicGraph.from_atoms(a, model.cutoff) for a in (crystal, ch4)])


def test_edge_gradients_give_the_autograd_forces_and_stress():
    model = make_model(species=("H", "C"))
    graph = batch(model)
    reference = model(graph, compute_stress=True)
    stand_in = EagerStandIn(model)
    model.compile()
    model.compiled_kernel = lambda: stand_in
    out = model(graph, compute_stress=True)
    assert stand_in.calls == 1
    for key in ("energy", "node_energy", "forces"):
        torch.testing.assert_close(out[key], reference[key], atol=1e-10, rtol=0)
    torch.testing.assert_close(out["stress"][0], reference["stress"][0], atol=1e-12, rtol=0)
    assert torch.isnan(out["stress"][1]).all()  # the molecule has no volume
    # force training keeps the eager network, and a lone atom (no edges) too
    model(graph, create_graph=True)
    single = AtomicGraph.from_atoms(molecule("H"), model.cutoff)
    model(single)
    assert stand_in.calls == 1


def test_engine_pair_gradients_through_the_kernel_leave_out_ghost_energies():
    model = make_model(species=("H", "C"))
    graph = batch(model)
    vectors = edge_vectors(graph, graph.positions, graph.cell)
    owned = 6  # of 9 atoms; the rest act as an engine's ghosts: they pass messages, their energies are not summed
    reference = model.pair_gradients(graph.numbers, vectors, graph.edge_index, owned=owned)
    model.compile()
    stand_in = EagerStandIn(model)
    model.compiled_kernel = lambda: stand_in
    energies, grad = model.pair_gradients(graph.numbers, vectors, graph.edge_index, owned=owned)
    assert stand_in.calls == 1
    torch.testing.assert_close(energies, reference[0], atol=1e-12, rtol=0)
    torch.testing.assert_close(grad, reference[1], atol=1e-12, rtol=0)
    everything = model.pair_gradients(graph.numbers, vectors, graph.edge_index)[1]
    assert (everything - grad).abs().max() > 1e-3  # the ghosts' energies did count there


def test_a_weight_changed_in_place_asks_for_the_new_weights_artifact(tmp_path, monkeypatch):
    monkeypatch.setenv("EQUIPOT_CACHE_DIR", str(tmp_path))
    model = make_model()
    loaded = []
    monkeypatch.setattr(CompiledKernel, "for_model", classmethod(lambda cls, m, **kw: loaded.append(artifact_path(m))))
    model.compile()
    model.compiled_kernel()
    model.compiled_kernel()
    assert len(loaded) == 1  # cached while nothing changes
    model.set_reference_energies({"H": -13.6})
    model.compiled_kernel()
    assert len(loaded) == 2 and loaded[1] != loaded[0]


def test_artifact_names_follow_weights_and_dtype(tmp_path, monkeypatch):
    monkeypatch.setenv("EQUIPOT_CACHE_DIR", str(tmp_path))
    model = make_model()
    path = artifact_path(model)
    assert path.parent == tmp_path / "compiled" and "float64" in path.name
    assert artifact_path(make_model()) == path  # same weights, same artifact
    assert artifact_path(make_model(seed=1)) != path
    assert artifact_path(make_model(dtype=torch.float32)) != path
    with pytest.raises(ValueError, match="equipot compile"):
        CompiledKernel.for_model(model, build_if_missing=False)


@pytest.mark.slow
def test_built_artifact_matches_eager_and_is_reused(tmp_path, monkeypatch, aspirin):
    """Compiles the tiny test model (minutes), then a second model object loads the artifact
    without building: equal energies and forces as the edge count changes."""
    monkeypatch.setenv("EQUIPOT_CACHE_DIR", str(tmp_path))
    eager, compiled = make_model(), make_model()
    compiled.compile()
    rng = np.random.default_rng(0)
    edges = set()
    for _ in range(3):
        atoms = aspirin.copy()
        atoms.positions += rng.normal(scale=0.3, size=atoms.positions.shape)
        graph = AtomicGraph.from_atoms(atoms, eager.cutoff)
        edges.add(graph.edge_index.shape[1])
        a, b = eager(graph), compiled(graph)
        torch.testing.assert_close(b["energy"], a["energy"], atol=1e-9, rtol=0)
        torch.testing.assert_close(b["forces"], a["forces"].detach(), atol=1e-9, rtol=0)
    assert len(edges) > 1
    again = make_model()
    again.compile(build=False)  # an error if it had to build
    graph = AtomicGraph.from_atoms(aspirin, again.cutoff)
    torch.testing.assert_close(again(graph)["forces"], eager(graph)["forces"].detach(), atol=1e-9, rtol=0)


def labelled_batch(model, molecules, seed=0):
    """Molecules with random energy and force labels, collated as the trainer batches them."""
    from ase.calculators.singlepoint import SinglePointCalculator

    rng, graphs = np.random.default_rng(seed), []
    for atoms in molecules:
        atoms = atoms.copy()
        atoms.rattle(0.05, seed=int(rng.integers(1000)))
        forces = rng.normal(size=(len(atoms), 3))
        atoms.calc = SinglePointCalculator(atoms, energy=float(rng.normal()), forces=forces)
        graphs.append(AtomicGraph.from_atoms(atoms, model.cutoff, targets=True))
    return collate(graphs)


@pytest.mark.parametrize("force_only", [False, True])
def test_compiled_training_step_gives_the_eager_loss_and_gradients(aspirin, ethanol, force_only):
    """The traced step (run eagerly here: what the artifact computes) against the trainer's
    loss and backward, to float64 rounding; weights the loss never reaches keep grad None."""
    from equipot.train.compiled_step import CompiledStep, step_function
    from equipot.train.config import TrainConfig
    from equipot.train.losses import energy_force_loss

    model = make_model().train()
    config = TrainConfig(data="x.h5", batch_size=2, energy_weight=30.0, force_only=force_only)
    batch = labelled_batch(model, [aspirin, ethanol])
    pred = model(batch, create_graph=True)
    loss, _ = energy_force_loss(
        pred, batch.energy, batch.forces, batch.atoms_per_graph(), energy_weight=30.0, force_only=force_only
    )
    loss.backward()
    eager = [None if p.grad is None else p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)

    step = CompiledStep(model, config, batch, runner=step_function(model, config))
    assert step.accepts(batch) and not step.accepts(labelled_batch(model, [aspirin]))
    value = step(model, batch)
    assert float(value) == pytest.approx(float(loss.detach()), abs=1e-12)
    for p, g in zip(model.parameters(), eager):
        if g is None:
            assert p.grad is None
        else:
            torch.testing.assert_close(p.grad, g, atol=1e-12, rtol=1e-10)
    assert any(g is None for g in eager)  # the last layer's non-scalar paths


@pytest.mark.slow
def test_built_training_step_matches_eager(tmp_path, monkeypatch, aspirin, ethanol):
    """Compiles the tiny model's training step (minutes), then runs it on batches of other
    sizes in atoms and edges: loss and gradients as the eager step's."""
    from equipot.train.compiled_step import CompiledStep, step_function
    from equipot.train.config import TrainConfig

    monkeypatch.setenv("EQUIPOT_CACHE_DIR", str(tmp_path))
    model = make_model().train()
    config = TrainConfig(data="x.h5", batch_size=2)
    step = CompiledStep(model, config, labelled_batch(model, [aspirin, ethanol]))
    eager = CompiledStep(model, config, labelled_batch(model, [aspirin, ethanol]), runner=step_function(model, config))
    for seed, molecules in enumerate([[ethanol, ethanol], [aspirin, aspirin]]):
        batch = labelled_batch(model, molecules, seed=seed + 1)
        a = float(eager(model, batch))
        reference = [p.grad for p in model.parameters()]
        b = float(step(model, batch))
        assert b == pytest.approx(a, abs=1e-9)
        for p, g in zip(model.parameters(), reference):
            if g is not None:
                torch.testing.assert_close(p.grad, g, atol=1e-9, rtol=1e-7)


def test_trainer_with_compile_takes_the_compiled_step_and_trains_the_same(tmp_path, monkeypatch):
    """``compile: true`` routes full batches through the compiled step (its eager stand-in here:
    no minutes of compiling) and leaves the weights as eager training does, to rounding."""
    from equipot.train import Trainer
    from equipot.train import compiled_step as module
    from tests.conftest import write_morse_store
    from tests.test_train import config

    store = write_morse_store(tmp_path / "morse.h5", 22)
    calls = []

    class StandIn(module.CompiledStep):
        def __init__(self, model, cfg, batch, **kw):
            super().__init__(model, cfg, batch, runner=module.step_function(model, cfg))

        def __call__(self, model, batch):
            calls.append(batch.num_graphs)
            return super().__call__(model, batch)

    monkeypatch.setattr(module, "CompiledStep", StandIn)
    runs = {}
    for compile in (False, True):
        trainer = Trainer(
            config(store, tmp_path / f"run{compile}", epochs=2, train_size=14, dtype="float64", compile=compile)
        )
        trainer.fit()
        runs[compile] = trainer.model
    # 14 frames in batches of 4: three full batches per epoch compiled, the last (2 frames) eager
    assert calls == [4, 4, 4] * 2
    for p, q in zip(runs[False].parameters(), runs[True].parameters()):
        torch.testing.assert_close(q, p, atol=1e-9, rtol=1e-7)
