"""Stress in training: the loss's gradient is exact, a short fit lowers the stress error on a
periodic set, and frames without a stress train exactly as before."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.calculators.morse import MorsePotential

from equipot.data.graph import AtomicGraph, collate
from equipot.data.store import Frame, FrameStore
from equipot.train.losses import energy_force_loss
from tests.conftest import make_model, molecule


def periodic_frames(n: int, seed: int = 0) -> list[Atoms]:
    """Boxes of 8 carbon atoms at random positions (none closer than 1.2 Å) and several
    densities, labelled with a Morse pair potential (energy, forces, stress)."""
    rng = np.random.default_rng(seed)
    frames = []
    while len(frames) < n:
        side = rng.uniform(3.6, 4.4)
        atoms = Atoms("C8", positions=rng.uniform(0, side, (8, 3)), cell=np.eye(3) * side, pbc=True)
        if atoms.get_all_distances(mic=True)[np.triu_indices(8, 1)].min() < 1.2:
            continue
        atoms.calc = MorsePotential(epsilon=0.5, r0=1.6, rho0=4.0)
        atoms.get_stress()
        frames.append(atoms)
    return frames


def batch_of(frames, cutoff: float) -> AtomicGraph:
    return collate([AtomicGraph.from_atoms(a, cutoff, targets=True) for a in frames]).to(dtype=torch.float64)


def stress_loss(model, batch, weight: float = 1.0):
    pred = model(batch, compute_forces=True, compute_stress=True, create_graph=True)
    loss, parts = energy_force_loss(
        pred,
        batch.energy,
        batch.forces,
        batch.atoms_per_graph(),
        energy_weight=0.0,
        force_weight=0.0,
        stress=batch.stress,
        stress_weight=weight,
    )
    return loss, parts


def test_stress_loss_gradient_is_exact():
    model = make_model(species=("H", "C", "O"))
    batch = batch_of(periodic_frames(2), model.cutoff)
    loss, parts = stress_loss(model, batch)
    assert "stress_loss" in parts and float(loss.detach()) > 0
    param = model.network.head.parameters().__next__()
    (grad,) = torch.autograd.grad(loss, param)
    h = 1e-6
    for index in [(0,) * param.dim(), tuple(s - 1 for s in param.shape)]:
        with torch.no_grad():
            param[index] += h
        up = float(stress_loss(model, batch)[0].detach())
        with torch.no_grad():
            param[index] -= 2 * h
        down = float(stress_loss(model, batch)[0].detach())
        with torch.no_grad():
            param[index] += h
        assert float(grad[index]) == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-9)


def test_frames_without_stress_train_exactly_as_before():
    model = make_model(species=("H", "C", "O"))
    ethanol = molecule("ethanol")
    ethanol.calc = MorsePotential()
    ethanol.get_forces()
    mol_batch = batch_of([ethanol, ethanol], model.cutoff)
    assert mol_batch.stress is None
    pred = model(mol_batch, compute_forces=True, create_graph=True)
    args = (pred, mol_batch.energy, mol_batch.forces, mol_batch.atoms_per_graph())
    plain, _ = energy_force_loss(*args)
    with_weight, parts = energy_force_loss(*args, stress=mol_batch.stress, stress_weight=10.0)
    assert torch.equal(plain, with_weight) and "stress_loss" not in parts
    # a batch mixing a molecule and a cell: only the cell's stress counts, and every gradient is finite
    mixed = batch_of([ethanol, periodic_frames(1)[0]], model.cutoff)
    assert torch.isnan(mixed.stress[0]).all() and torch.isfinite(mixed.stress[1]).all()
    loss, parts = stress_loss(model, mixed)
    grads = torch.autograd.grad(loss, [p for p in model.parameters() if p.requires_grad], allow_unused=True)
    assert torch.isfinite(loss) and all(g is None or torch.isfinite(g).all() for g in grads)


def test_short_fit_lowers_the_stress_error(tmp_path):
    from equipot.train import TrainConfig, Trainer
    from equipot.train.metrics import evaluate_store

    store = FrameStore.create(
        tmp_path / "cells.h5", level_of_theory="Morse", code="ase", code_version="test", created_with="pytest"
    )
    store.append([Frame.from_atoms(a, k) for k, a in enumerate(periodic_frames(24, seed=1))])
    store.close()
    assert FrameStore(tmp_path / "cells.h5")[0].stress.shape == (6,)
    errors = {}
    for weight in (0.0, 10.0):
        config = TrainConfig(
            data=str(tmp_path / "cells.h5"),
            out=str(tmp_path / f"w{weight}"),
            train_size=20,
            val_size=2,
            test_size=2,
            epochs=12,
            lr=1e-2,
            batch_size=4,
            stress_weight=weight,
            model={"preset": "small", "irreps_node": "16x0e+8x1o", "num_blocks": 1, "cutoff": 3.5},
            progress=False,
            dtype="float64",
            seed=0,
        )
        trainer = Trainer(config)
        trainer.fit()
        errors[weight] = evaluate_store(trainer.ema, str(tmp_path / "cells.h5"), list(range(20)))["stress_mae"]
        # the run's validation log has a stress column where the loss has a stress term
        logged = (tmp_path / f"w{weight}" / "metrics.csv").read_text().splitlines()[0].split(",")
        assert ("val_stress_mae" in logged) == bool(weight)
    assert errors[10.0] < 0.7 * errors[0.0]
