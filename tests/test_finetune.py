"""Fine-tuning onto elements a checkpoint never saw (equipot.train.finetune.extend_species)."""

import numpy as np
import pytest
import torch
from ase.build import molecule as ase_molecule
from ase.calculators.morse import MorsePotential
from ase.calculators.singlepoint import SinglePointCalculator

from equipot import EquiformerCalculator, load_model
from equipot.data.store import FrameStore
from equipot.errors import EquipotError
from equipot.train import TrainConfig, Trainer
from equipot.train.finetune import extend_species
from tests.conftest import TINY, make_model, molecule, write_morse_store


def _energy_forces(model, atoms):
    atoms = atoms.copy()
    atoms.calc = EquiformerCalculator(model)
    return atoms.get_potential_energy(), atoms.get_forces()


def test_added_elements_leave_the_known_ones_exactly_as_they_were():
    base = make_model(species=("H", "C", "O"))
    base.set_reference_energies({"H": -13.1, "C": -1030.0, "O": -2040.5})
    grown = extend_species(base, ["N", "S"], seed=3)
    assert grown.species == ["H", "C", "O", "N", "S"]
    assert grown.reference_energies.tolist() == [-13.1, -1030.0, -2040.5, 0.0, 0.0]
    assert grown.repulsion.z.tolist() == [1, 6, 8, 7, 16]
    ethanol = molecule("ethanol")
    e0, f0 = _energy_forces(base, ethanol)
    e1, f1 = _energy_forces(grown, ethanol)
    assert e1 == pytest.approx(e0, abs=1e-10) and np.allclose(f1, f0, atol=1e-10, rtol=0)
    # the new elements take part: an N in place of an O changes energy and forces
    swapped = ethanol.copy()
    swapped.numbers[swapped.numbers == 8] = 7
    e2, f2 = _energy_forces(grown, swapped)
    assert np.isfinite(f2).all() and abs(e2 - e1) > 1e-3
    # seeded: the same seed draws the same rows, another seed others
    row = "network.atom_embedding.linear.weights.0"
    again, other = extend_species(base, ["N", "S"], seed=3), extend_species(base, ["N", "S"], seed=4)
    assert torch.equal(again.state_dict()[row], grown.state_dict()[row])
    assert not torch.equal(other.state_dict()[row][3:], grown.state_dict()[row][3:])
    with pytest.raises(EquipotError, match="none it knows"):
        extend_species(base, ["N", "C"])
    with pytest.raises(EquipotError, match="each new element once"):
        extend_species(base, ["N", "N"])


def _acetonitrile_store(path, frames=12):
    store = FrameStore.create(path, level_of_theory="Morse", code="ase", code_version="test", created_with="pytest")
    for k in range(frames):
        atoms = ase_molecule("CH3CN")
        atoms.positions += np.random.default_rng(k).normal(scale=0.05, size=atoms.positions.shape)
        atoms.calc = MorsePotential(epsilon=1.0, r0=1.3, rho0=4.0, rcut1=3.5, rcut2=4.5)
        atoms.get_forces()
        store.append(atoms)
    store.close()
    return path


SETTINGS = dict(
    batch_size=4, lr=5e-3, warmup_epochs=0.5, progress=False, dtype="float64", train_size=8, val_size=2, test_size=2
)


def _trained_base(tmp_path):
    """The fine-tunes' starting point: a tiny model of H, C, O trained one epoch on Morse ethanol
    frames (tmp_path/base/best.pt), and the training settings of the runs."""
    base_store = write_morse_store(tmp_path / "ethanol.h5", 12)
    model = {"preset": "small", **TINY, "cutoff": 4.0}
    Trainer(TrainConfig(data=str(base_store), out=str(tmp_path / "base"), epochs=1, model=model, **SETTINGS)).fit()
    return SETTINGS, load_model(tmp_path / "base" / "best.pt")


def test_fine_tune_onto_a_new_element(tmp_path):
    """init_from a model of H, C, O on data with N: the run adds N, starts with the known
    elements' forces unchanged and E0 fitted to the new data (the training residuals sum to
    zero for each element), trains, and its checkpoint loads with N."""
    settings, base = _trained_base(tmp_path)
    tuned = Trainer(
        TrainConfig(
            data=str(_acetonitrile_store(tmp_path / "mecn.h5")),
            out=str(tmp_path / "tuned"),
            epochs=1,
            init_from=str(tmp_path / "base" / "best.pt"),
            **settings,
        )
    )
    assert tuned.model.species == base.species + ["N"]
    ethanol = molecule("ethanol")
    assert np.allclose(_energy_forces(tuned.model, ethanol)[1], _energy_forces(base, ethanol)[1], atol=1e-10, rtol=0)
    species, counts, energies = tuned._composition
    predicted = np.array(
        [_energy_forces(tuned.model, tuned.train_set.frame(k).to_atoms())[0] for k in range(len(tuned.train_set))]
    )
    assert np.abs(counts.T @ (energies - predicted)).max() < 1e-6  # least squares: residuals orthogonal
    assert abs(np.mean(energies - predicted)) < 1e-7
    tuned.fit()
    reloaded = load_model(tmp_path / "tuned" / "best.pt")
    assert reloaded.species == ["H", "C", "O", "N"] and reloaded.metadata["init_from"].endswith("best.pt")


def test_fine_tune_onto_another_level_of_theory_starts_on_its_energy_scale(tmp_path):
    """Labels of another method (here the same Morse forces with energies offset by a per-element
    constant, as total energies of two electronic-structure methods differ): the fine-tune moves
    E0 by the least-squares residual fit before its first step, leaving the forces as they were."""
    settings, base = _trained_base(tmp_path)
    offset = {1: -13.6, 6: -1025.0, 8: -2035.0}  # eV per atom of H, C, O
    shifted = FrameStore.create(
        tmp_path / "shifted.h5", level_of_theory="Morse+offset", code="ase", code_version="test", created_with="pytest"
    )
    rng = np.random.default_rng(7)
    for _ in range(12):
        atoms = ase_molecule("CH3CH2OH")
        atoms.positions += rng.normal(scale=0.08, size=atoms.positions.shape)
        atoms.calc = MorsePotential(epsilon=1.0, r0=1.3, rho0=4.0, rcut1=3.5, rcut2=4.5)
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = SinglePointCalculator(
            atoms, energy=energy + sum(offset[int(z)] for z in atoms.numbers), forces=forces
        )
        shifted.append(atoms)
    shifted.close()
    tuned = Trainer(
        TrainConfig(
            data=str(tmp_path / "shifted.h5"),
            out=str(tmp_path / "tuned"),
            epochs=1,
            init_from=str(tmp_path / "base" / "best.pt"),
            **settings,
        )
    )
    ethanol = molecule("ethanol")
    e_base, f_base = _energy_forces(base, ethanol)
    e_tuned, f_tuned = _energy_forces(tuned.model, ethanol)
    assert np.allclose(f_tuned, f_base, atol=1e-10, rtol=0)
    # one composition (C2H6O): E0 moves by the offset of C2H6O plus the base model's mean
    # residual on the training frames' Morse energies (the labels less the offset), nothing else
    c2h6o = 2 * offset[6] + 6 * offset[1] + offset[8]
    frames = [tuned.train_set.frame(k).to_atoms() for k in range(len(tuned.train_set))]
    base_residual = np.mean([a.get_potential_energy() - c2h6o - _energy_forces(base, a)[0] for a in frames])
    assert e_tuned - e_base == pytest.approx(c2h6o + base_residual, abs=1e-6)
    predicted = np.array([_energy_forces(tuned.model, a)[0] for a in frames])
    assert abs(np.mean([a.get_potential_energy() for a in frames] - predicted)) < 1e-7
