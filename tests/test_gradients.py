"""Physics contract 2 and 4: forces = -dE/dx, stress = strain derivative, extensivity."""

import numpy as np
import pytest
import torch
from ase.build import bulk

from equipot import AtomicGraph, EquiformerCalculator, collate
from tests.conftest import make_model


def energy(model, atoms):
    return model(AtomicGraph.from_atoms(atoms, model.cutoff), compute_forces=False)["energy"].item()


def test_forces_match_central_differences(aspirin):
    model = make_model()
    forces = model(AtomicGraph.from_atoms(aspirin, model.cutoff))["forces"].detach().numpy()
    h = 1e-4
    rng = np.random.default_rng(0)
    for atom in rng.choice(len(aspirin), 6, replace=False):
        for axis in range(3):
            plus, minus = aspirin.copy(), aspirin.copy()
            plus.positions[atom, axis] += h
            minus.positions[atom, axis] -= h
            fd = -(energy(model, plus) - energy(model, minus)) / (2 * h)
            assert abs(fd - forces[atom, axis]) < 1e-6 + 1e-5 * abs(fd)


def periodic_carbon():
    atoms = bulk("C", "diamond", a=3.6)
    atoms.cell = atoms.cell.array @ np.array([[1.0, 0.08, 0.0], [0.0, 0.95, 0.1], [0.05, 0.0, 1.05]])
    atoms.rattle(0.05, seed=3)
    return atoms


def test_supercell_is_extensive():
    model = make_model(species=["C"])
    cell = periodic_carbon()
    e1 = energy(model, cell)
    for reps in [(2, 1, 1), (2, 2, 3)]:
        n = np.prod(reps)
        assert energy(model, cell.repeat(reps)) == pytest.approx(n * e1, rel=1e-10, abs=1e-9)


def test_stress_matches_strain_finite_differences():
    model = make_model(species=["C"])
    atoms = periodic_carbon()
    atoms.calc = EquiformerCalculator(model, skin=0.0)
    stress = atoms.get_stress(voigt=False)
    h = 1e-5
    volume = atoms.get_volume()
    for i in range(3):
        for j in range(3):
            eps = np.zeros((3, 3))
            eps[i, j] = eps[j, i] = h / 2 if i != j else h
            de = []
            for sign in (1, -1):
                strained = atoms.copy()
                strained.set_cell(atoms.cell.array @ (np.eye(3) + sign * eps), scale_atoms=True)
                de.append(energy(model, strained))
            fd = (de[0] - de[1]) / (2 * h) / volume
            assert abs(fd - stress[i, j]) < 1e-7 + 1e-5 * abs(fd), (i, j)
    assert np.abs(stress).max() > 1e-4  # not trivially zero


def test_batch_equals_separate_structures(aspirin, ethanol):
    model = make_model()
    graphs = [AtomicGraph.from_atoms(a, model.cutoff) for a in (aspirin, ethanol, aspirin)]
    batch = model(collate(graphs))
    for k, g in enumerate(graphs):
        single = model(g)
        assert batch["energy"][k].item() == pytest.approx(single["energy"].item(), abs=1e-10)
    forces_sep = torch.cat([model(g)["forces"] for g in graphs])
    torch.testing.assert_close(batch["forces"], forces_sep, atol=1e-10, rtol=0)


def test_activation_checkpointing_changes_nothing(aspirin):
    model = make_model()
    g = AtomicGraph.from_atoms(aspirin, model.cutoff)
    plain = model(g)
    model.checkpoint_blocks = True
    ckpt = model(g)
    assert ckpt["energy"].item() == pytest.approx(plain["energy"].item(), abs=1e-12)
    torch.testing.assert_close(ckpt["forces"], plain["forces"], atol=1e-12, rtol=0)


def test_edge_chunking_changes_nothing(aspirin):
    """Attention over runs of ~7 edges (many runs) gives the same energies, forces and stress as
    all edges at once, with and without block checkpointing, in a batch and without gradients."""
    model = make_model(species=["H", "C", "N", "O"])
    carbon = periodic_carbon().repeat((2, 1, 1))
    crystal = AtomicGraph.from_atoms(carbon, model.cutoff)
    batch = collate([AtomicGraph.from_atoms(aspirin, model.cutoff), crystal])
    assert batch.edge_index.shape[1] > 50 * 7
    plain = [model(crystal, compute_stress=True), model(batch)]
    model.edge_chunk_size = 7
    for blocks in (False, True):
        model.checkpoint_blocks = blocks
        chunked = [model(crystal, compute_stress=True), model(batch)]
        for ref, new in zip(plain, chunked):
            for key in ref:
                torch.testing.assert_close(new[key], ref[key], atol=1e-11, rtol=0)
    with torch.no_grad():
        energy_only = model(batch, compute_forces=False)["energy"]
    torch.testing.assert_close(energy_only, plain[1]["energy"], atol=1e-11, rtol=0)

    def force_loss_gradient() -> list[torch.Tensor]:  # what force training differentiates
        model.zero_grad()
        (model(batch, create_graph=True)["forces"] ** 2).sum().backward()
        return [p.grad.clone() for p in model.parameters() if p.grad is not None]

    chunked_grads = force_loss_gradient()
    model.edge_chunk_size, model.checkpoint_blocks = None, False
    for new, ref in zip(chunked_grads, force_loss_gradient(), strict=True):
        torch.testing.assert_close(new, ref, atol=1e-10, rtol=1e-9)
    model.edge_chunk_size = 7
    with pytest.raises(ValueError, match="edge_chunk_size"):
        model.edge_chunk_size = 0


def test_last_layer_scalars_only_changes_nothing(aspirin):
    """The last attention layer computes only the value paths to 0e (nothing reads its L>0
    outputs): energies, forces, stress and the force-training gradient equal those of the full
    layer, also with edge chunks."""
    model = make_model(species=["H", "C", "N", "O"])
    blocks = model.network.blocks
    last = blocks[-1].attention
    assert last.scalars_only and not any(b.attention.scalars_only for b in blocks[:-1])
    batch = collate(
        [AtomicGraph.from_atoms(aspirin, model.cutoff), AtomicGraph.from_atoms(periodic_carbon(), model.cutoff)]
    )

    def run() -> tuple[dict, list[torch.Tensor]]:
        out = model(batch, compute_stress=True)
        model.zero_grad()
        (model(batch, create_graph=True)["forces"] ** 2).sum().backward()
        grads = [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in model.parameters()]
        return out, grads

    pruned, pruned_grads = run()
    unused_pruned = sum(p.grad is None for p in model.parameters())
    model.edge_chunk_size = 7
    chunked, _ = run()
    model.edge_chunk_size = None
    last.scalars_only = False
    full, full_grads = run()
    # the value paths to L>0 that the pruned layer skips are parameters its energy never used
    assert unused_pruned > sum(p.grad is None for p in model.parameters())
    for key in full:
        # (a molecule has no stress: NaN in all three)
        torch.testing.assert_close(pruned[key], full[key], atol=1e-12, rtol=0, equal_nan=True)
        torch.testing.assert_close(chunked[key], full[key], atol=1e-11, rtol=0, equal_nan=True)
    for new, ref in zip(pruned_grads, full_grads, strict=True):
        torch.testing.assert_close(new, ref, atol=1e-10, rtol=1e-9)
