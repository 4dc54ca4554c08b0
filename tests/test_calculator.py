"""The ASE calculator: protocol, caching, committee, bad inputs."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import PropertyNotImplementedError

from equipot import AtomicGraph, EquiformerCalculator, save_checkpoint
from tests.conftest import make_model


def test_results_match_model_and_energies_sum(aspirin):
    model = make_model()
    aspirin.calc = EquiformerCalculator(model)
    e = aspirin.get_potential_energy()
    f = aspirin.get_forces()
    per_atom = aspirin.get_potential_energies()
    out = model(AtomicGraph.from_atoms(aspirin, model.cutoff))
    assert e == pytest.approx(out["energy"].item(), abs=1e-10)
    np.testing.assert_allclose(f, out["forces"].detach().numpy(), atol=1e-10)
    assert per_atom.sum() == pytest.approx(e, abs=1e-10)
    assert aspirin.calc.get_property("free_energy") == pytest.approx(e)


def test_no_recompute_when_nothing_changed(aspirin, monkeypatch):
    calc = EquiformerCalculator(make_model())
    aspirin.calc = calc
    calls = []
    original = calc.model.forward
    monkeypatch.setattr(calc.model, "forward", lambda *a, **k: calls.append(1) or original(*a, **k))
    aspirin.get_potential_energy()
    aspirin.get_forces()
    aspirin.get_potential_energies()
    assert len(calls) == 1
    aspirin.positions[0, 0] += 0.01
    aspirin.get_forces()
    assert len(calls) == 2


def test_verlet_skin_reuse_matches_fresh_list(aspirin):
    model = make_model()
    skinned = EquiformerCalculator(model, skin=1.0)
    fresh = EquiformerCalculator(model, skin=0.0)
    rng = np.random.default_rng(0)
    atoms = aspirin.copy()
    for _ in range(6):  # small moves reuse the list, the later ones force a rebuild
        atoms.positions += rng.normal(scale=0.08, size=atoms.positions.shape)
        skinned.calculate(atoms, ["energy", "forces"])
        fresh.calculate(atoms, ["energy", "forces"])
        assert skinned.results["energy"] == pytest.approx(fresh.results["energy"], abs=1e-10)
        np.testing.assert_allclose(skinned.results["forces"], fresh.results["forces"], atol=1e-10)


def test_checkpoint_path_and_dtype(tmp_path, aspirin):
    model = make_model(dtype=torch.float32)
    path = tmp_path / "model.pt"
    save_checkpoint(model, path)
    e = {}
    for dtype in ("float32", "float64"):
        calc = EquiformerCalculator(str(path), device="cpu", dtype=dtype)
        assert calc.dtype == getattr(torch, dtype)
        atoms = aspirin.copy()
        atoms.calc = calc
        e[dtype] = atoms.get_potential_energy()
    assert e["float32"] == pytest.approx(e["float64"], abs=1e-4)


def test_stress_for_periodic_and_error_for_molecule(aspirin):
    crystal = bulk("C", "diamond", a=3.6)
    crystal.calc = EquiformerCalculator(make_model(species=["C"]))
    assert crystal.get_stress().shape == (6,)
    aspirin.calc = EquiformerCalculator(make_model())
    with pytest.raises(PropertyNotImplementedError, match="periodic"):
        aspirin.get_stress()
    with pytest.raises(ValueError, match="periodic"):
        aspirin.get_stress()


def test_unknown_element_is_clear_error():
    atoms = Atoms("CH3Cl", positions=np.random.default_rng(0).normal(size=(5, 3)) * 1.5)
    atoms.calc = EquiformerCalculator(make_model())
    with pytest.raises(ValueError, match=r"Cl.*not trained"):
        atoms.get_potential_energy()


def test_nan_positions_are_clear_error(ethanol):
    ethanol.positions[3, 1] = np.nan
    ethanol.calc = EquiformerCalculator(make_model())
    with pytest.raises(ValueError, match="NaN"):
        ethanol.get_potential_energy()
    ethanol.positions[3, 1] = np.inf
    with pytest.raises(ValueError, match="inf"):
        ethanol.get_forces()


def test_isolated_atom_gets_reference_energy():
    model = make_model()
    model.set_reference_energies({"O": -432.1, "H": -13.6})
    calc = EquiformerCalculator(model)
    for symbol, e0 in [("O", -432.1), ("H", -13.6)]:
        atom = Atoms(symbol, positions=[[1.0, 2.0, 3.0]])
        atom.calc = calc
        assert atom.get_potential_energy() == pytest.approx(e0, abs=1e-12)
        assert np.all(atom.get_forces() == 0)
    # Two atoms farther apart than the cutoff: the sum of the two reference energies.
    pair = Atoms("OH", positions=[[0, 0, 0], [model.cutoff + 0.1, 0, 0]])
    pair.calc = calc
    assert pair.get_potential_energy() == pytest.approx(-432.1 - 13.6, abs=1e-12)


def test_without_isolated_subtraction_separated_atoms_still_add_up():
    """subtract_isolated=False: an isolated atom is no longer at E0, but far-apart atoms add."""
    model = make_model(subtract_isolated=False)
    model.set_reference_energies({"O": -432.1, "H": -13.6})
    calc = EquiformerCalculator(model)
    alone = {}
    for symbol, e0 in [("O", -432.1), ("H", -13.6)]:
        atom = Atoms(symbol, positions=[[1.0, 2.0, 3.0]])
        atom.calc = calc
        alone[symbol] = atom.get_potential_energy()
        assert abs(alone[symbol] - e0) > 1e-6
    pair = Atoms("OH", positions=[[0, 0, 0], [model.cutoff + 0.1, 0, 0]])
    pair.calc = calc
    assert pair.get_potential_energy() == pytest.approx(alone["O"] + alone["H"], abs=1e-10)


def test_committee_mean_and_disagreement(ethanol):
    models = [make_model(seed=s) for s in range(3)]
    committee = EquiformerCalculator(models)
    committee.calculate(ethanol, ["energy", "forces"])
    singles = []
    for m in models:
        calc = EquiformerCalculator(m)
        calc.calculate(ethanol, ["energy", "forces"])
        singles.append(calc.results)
    forces = np.stack([r["forces"] for r in singles])
    assert committee.results["energy"] == pytest.approx(np.mean([r["energy"] for r in singles]))
    np.testing.assert_allclose(committee.results["forces"], forces.mean(0), atol=1e-12)
    expected = np.sqrt(((forces - forces.mean(0)) ** 2).sum(-1).mean(0))
    np.testing.assert_allclose(committee.results["force_uncertainty"], expected, atol=1e-12)
    assert committee.results["force_uncertainty"].shape == (len(ethanol),)
    assert committee.results["force_uncertainty"].min() > 0


def test_committee_must_share_species():
    with pytest.raises(ValueError, match="species"):
        EquiformerCalculator([make_model(), make_model(species=["H", "C"])])


@pytest.mark.slow
def test_compiled_model_matches_eager(aspirin):
    """torch.compile (minutes on 2 cores: opt-in) must not change energies, forces or stress,
    including when the number of edges changes between calls (dynamic shapes)."""
    eager = EquiformerCalculator(make_model(), skin=0.0)
    compiled = EquiformerCalculator(make_model(), skin=0.0, compile=True)
    rng = np.random.default_rng(1)
    edges = set()
    for _ in range(3):
        atoms = aspirin.copy()
        atoms.positions += rng.normal(scale=0.3, size=atoms.positions.shape)
        eager.calculate(atoms, ["energy", "forces"])
        compiled.calculate(atoms, ["energy", "forces"])
        edges.add(AtomicGraph.from_atoms(atoms, compiled.cutoff).edge_index.shape[1])
        assert compiled.results["energy"] == pytest.approx(eager.results["energy"], abs=1e-9)
        np.testing.assert_allclose(compiled.results["forces"], eager.results["forces"], atol=1e-9)
    assert len(edges) > 1
    # force training (create_graph) falls back to the eager network: double backward works
    model = compiled.model
    out = model(AtomicGraph.from_atoms(aspirin, model.cutoff), create_graph=True)
    out["forces"].pow(2).sum().backward()
    assert all(p.grad is not None for p in model.network.blocks[0].parameters())
