"""The D3(BJ) dispersion term: forces and stress are the exact derivatives of the energy, its
tail reaches past the cutoff as -C6/r^6, a model without it computes what it did, it survives a
checkpoint, and training fits the network to the labels minus dispersion."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import molecule as ase_molecule

from equipot.data.graph import AtomicGraph
from equipot.errors import EquipotError
from tests.conftest import make_model

pytest.importorskip("dftd3")

from equipot.dispersion import D3BJ  # noqa: E402


def methane_box() -> Atoms:
    """Two methane molecules in a 6.5 Å periodic cell (slightly skewed), near contact."""
    a = ase_molecule("CH4")
    b = ase_molecule("CH4")
    b.rotate(40, "x")
    b.translate([3.2, 0.4, 0.3])
    atoms = a + b
    atoms.set_cell([[6.5, 0, 0], [0.3, 6.2, 0], [0.2, -0.4, 6.8]])
    atoms.pbc = True
    atoms.positions += 0.05 * np.random.default_rng(0).normal(size=atoms.positions.shape)
    return atoms


def evaluate(model, atoms: Atoms):
    graph = AtomicGraph.from_atoms(atoms, model.cutoff).to(dtype=torch.float64)
    out = model(graph, compute_forces=True, compute_stress=bool(atoms.pbc.all()))
    return {k: v.detach().numpy() for k, v in out.items()}


def test_spec_parsing_and_errors():
    assert str(D3BJ.from_spec("D3BJ:PBE")) == "d3bj:pbe"
    explicit = D3BJ.from_spec("d3bj:s6=1,s8=0.7875,a1=0.4289,a2=4.4407")
    assert dict(explicit.params) == {"s6": 1.0, "s8": 0.7875, "a1": 0.4289, "a2": 4.4407}
    assert D3BJ.from_spec(str(explicit)) == explicit
    for bad, match in [
        ("d4:pbe", "d3bj:FUNCTIONAL"),
        ("d3bj:", "d3bj:FUNCTIONAL"),
        ("d3bj:s6=1,s8=2", "missing"),
        ("d3bj:s6=1,s8=x,a1=0.4,a2=4", "not a number"),
        ("d3bj:s6=1,s7=1", "not one of"),
    ]:
        with pytest.raises(EquipotError, match=match):
            D3BJ.from_spec(bad)
    with pytest.raises(EquipotError, match="no D3"):
        make_model(species=("H", "C"), dispersion="d3bj:no-such-functional")


def test_forces_and_stress_equal_finite_differences():
    """Network + ZBL + D3 in a periodic cell: forces -dE/dr and stress (1/V) dE/d(strain), by
    central differences of the total energy. The steps are small: D3's pair sum ends sharply
    at 31.75 Å, and a strain of 1e-5 already moves image pairs across that edge (an energy
    jump of ~1e-8 eV, which a difference quotient magnifies)."""
    model = make_model(species=("H", "C"), dispersion="d3bj:pbe")
    atoms = methane_box()
    out = evaluate(model, atoms)
    h = 1e-6
    for i, k in [(0, 0), (3, 2), (6, 1)]:
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[i, k] += h
        minus.positions[i, k] -= h
        fd = -(evaluate(model, plus)["energy"][0] - evaluate(model, minus)["energy"][0]) / (2 * h)
        assert out["forces"][i, k] == pytest.approx(fd, abs=1e-6)
    volume = atoms.get_volume()
    for a, b in [(0, 0), (1, 2), (2, 2)]:
        strain = np.zeros((3, 3))
        strain[a, b] = strain[b, a] = h / 2 if a != b else h
        energies = []
        for sign in (1, -1):
            strained = atoms.copy()
            deformation = np.eye(3) + sign * strain
            strained.set_cell(atoms.cell.array @ deformation, scale_atoms=False)
            strained.positions = atoms.positions @ deformation
            energies.append(evaluate(model, strained)["energy"][0])
        fd = (energies[0] - energies[1]) / (2 * h) / volume
        assert out["stress"][0, a, b] == pytest.approx(fd, abs=1e-8)


def test_tail_reaches_past_the_cutoff_and_the_term_adds_exactly():
    """Two methanes 8 and 16 Å apart, beyond the 5 Å cutoff: the network sees two isolated
    molecules, D3 an attraction falling as r^-6 (and r^-8). With the same weights, the model with the
    term differs from the one without by exactly the D3 energy and forces."""
    plain = make_model(species=("H", "C"))
    with_d3 = make_model(species=("H", "C"), dispersion="d3bj:pbe")
    with_d3.load_state_dict(plain.state_dict())
    d3 = D3BJ.from_spec("d3bj:pbe")
    gaps = []
    for r in (8.0, 16.0):
        pair = ase_molecule("CH4") + ase_molecule("CH4")
        pair.positions[5:] += [r, 0, 0]
        e_plain, e_d3 = evaluate(plain, pair), evaluate(with_d3, pair)
        energy, forces, _, energies = d3(pair.numbers, pair.positions, None, pair.pbc)
        assert e_d3["energy"][0] - e_plain["energy"][0] == pytest.approx(energy, abs=1e-10)
        np.testing.assert_allclose(e_d3["forces"] - e_plain["forces"], forces, atol=1e-10)
        np.testing.assert_allclose(e_d3["node_energy"] - e_plain["node_energy"], energies, atol=1e-12)
        assert energies.sum() == pytest.approx(energy, abs=1e-12)
        apart = d3(pair.numbers[:5], pair.positions[:5], None, pair.pbc).energy * 2
        gaps.append(energy - apart)
    assert gaps[0] < -2e-4 and gaps[1] < 0  # attraction: -0.3 meV at 8 Å, about -C6/r^6 of two methanes
    assert 2**6 < gaps[0] / gaps[1] < 2**7  # r^-6, with some r^-8 (C8) left at 8 Å


def test_checkpoint_keeps_the_term(tmp_path):
    from equipot.checkpoint import load_model, save_checkpoint

    model = make_model(species=("H", "C"), dispersion="d3bj:s6=1,s8=0.7875,a1=0.4289,a2=4.4407")
    save_checkpoint(model, tmp_path / "m.pt")
    loaded = load_model(str(tmp_path / "m.pt"), dtype="float64")
    assert loaded.config.dispersion == model.config.dispersion
    atoms = methane_box()
    np.testing.assert_allclose(evaluate(loaded, atoms)["energy"], evaluate(model, atoms)["energy"], atol=1e-12)
    assert make_model(species=("H", "C")).dispersion is None


def write_d3_store(path, e0: dict[str, float]) -> None:
    """Methane pairs 4-9 Å apart and single ethane molecules, labelled D3(BJ, PBE) plus ``e0``
    per atom."""
    from ase.calculators.singlepoint import SinglePointCalculator

    from equipot.data.store import FrameStore

    d3 = D3BJ.from_spec("d3bj:pbe")
    rng = np.random.default_rng(0)
    store = FrameStore.create(path, level_of_theory="D3", code="dftd3", code_version="t", created_with="t")
    for k in range(24):
        atoms = ase_molecule("CH4") + ase_molecule("CH4") if k % 3 else ase_molecule("C2H6")
        if k % 3:
            atoms.positions[5:] += [rng.uniform(4, 9), 0, 0]
        atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
        energy, forces, _, _ = d3(atoms.numbers, atoms.positions, None, atoms.pbc)
        energy += sum(e0[s] for s in atoms.get_chemical_symbols())
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
        store.append(atoms)
    store.close()


def test_training_fits_reference_energies_to_the_labels_less_dispersion(tmp_path):
    """Labels that are D3 plus a constant per element (methane pairs 4-9 Å apart and single
    molecules of different sizes): a model with the term fits exactly those constants as E0,
    since the rest of every label is what the term adds."""
    from equipot.train.config import TrainConfig
    from equipot.train.trainer import Trainer
    from tests.conftest import TINY

    e0 = {"H": -13.2, "C": -1030.5}
    write_d3_store(tmp_path / "d3.h5", e0)
    model = {"preset": "small", **TINY, "cutoff": 4.0, "dispersion": "d3bj:pbe"}
    config = TrainConfig(
        data=str(tmp_path / "d3.h5"),
        out=str(tmp_path / "run"),
        train_size=16,
        val_size=4,
        test_size=4,
        epochs=1,
        batch_size=4,
        model=model,
        progress=False,
    )
    trainer = Trainer(config)
    fitted = dict(zip(trainer.model.species, trainer.model.reference_energies.tolist()))
    assert fitted == pytest.approx(e0, abs=1e-6)
    assert trainer.model.config.dispersion == "d3bj:pbe"


def test_a_fine_tune_that_adds_the_term_starts_where_the_checkpoint_stood(tmp_path):
    """``init_from`` with ``model: {dispersion: ...}`` keeps the checkpoint's weights, and
    ``swap_dispersion`` takes the least-squares fit of the added dispersion energy off its
    reference energies: on the training frames the energy changes by the term's non-additive
    part only (a residual orthogonal to every element count), and the network is unchanged."""
    from equipot.checkpoint import save_checkpoint
    from equipot.train.config import TrainConfig
    from equipot.train.finetune import swap_dispersion
    from equipot.train.trainer import Trainer

    write_d3_store(tmp_path / "d3.h5", {"H": -13.2, "C": -1030.5})
    base = make_model(species=("H", "C"))
    base.set_reference_energies({"H": -0.5, "C": -1.5})  # small: float32 E0 keeps 1e-7 eV
    save_checkpoint(base, tmp_path / "base.pt")

    def tuned(dispersion):
        config = TrainConfig(
            data=str(tmp_path / "d3.h5"),
            out=str(tmp_path / f"run_{dispersion}"),
            train_size=16,
            val_size=4,
            test_size=4,
            epochs=1,
            init_from=str(tmp_path / "base.pt"),
            model={"dispersion": dispersion},
            progress=False,
        )
        return Trainer(config)

    trainer = tuned("d3bj:pbe")
    assert trainer.model.config.dispersion == "d3bj:pbe"
    for (name, p), q in zip(base.state_dict().items(), trainer.model.state_dict().items()):
        if name != "reference_energies":
            assert torch.equal(p.float(), q[1].cpu()), name
    swapped = swap_dispersion(base, "d3bj:pbe", trainer.train_set, trainer._composition).to(torch.float64)
    base.to(torch.float64)
    counts = trainer._composition[1]
    change = []
    for k in range(len(trainer.train_set)):
        graph = trainer.train_set[k].to(dtype=torch.float64)
        change.append(swapped(graph)["energy"].item() - base(graph)["energy"].item())
    change = np.array(change)
    assert np.abs(change).max() > 1e-3  # the methane pairs' dispersion does not add up per element
    # normal equations of the fit, up to the float32 reference energies the model stores
    assert np.all(np.abs(counts.T @ change) < 1e-3 * (counts.T @ np.abs(change)))
    # asking for the checkpoint's own term (none) keeps it
    same = tuned(None)
    assert same.model.dispersion is None
