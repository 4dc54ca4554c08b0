"""Trainer: losses and metrics by hand, force-only objective, overfitting, exact resume."""

import numpy as np
import pytest
import torch

from equipot import load_model
from equipot.checkpoint import lineage_metadata
from equipot.data.store import FrameStore
from equipot.train import TrainConfig, Trainer, energy_force_loss, error_metrics
from equipot.train.data import GraphDataset, composition_and_energies, least_squares_reference_energies
from tests.conftest import TINY, write_morse_store


@pytest.fixture
def morse_store(tmp_path):
    """24 rattled ethanol frames labelled with a Morse pair potential."""
    return write_morse_store(tmp_path / "ethanol_morse.h5", 24)


def config(store, out, **kw):
    base = dict(
        data=str(store),
        out=str(out),
        train_size=16,
        val_size=4,
        test_size=4,
        epochs=4,
        batch_size=4,
        lr=5e-3,
        model={"preset": "small", **TINY, "cutoff": 4.0},
        progress=False,
        warmup_epochs=0.5,
    )
    return TrainConfig(**{**base, **kw})


def test_loss_by_hand():
    pred = {"energy": torch.tensor([1.0, 2.0]), "forces": torch.tensor([[1.0, 0, 0], [0, 0, 0], [0, 2.0, 0]])}
    energy = torch.tensor([0.0, 0.0])
    forces = torch.zeros(3, 3)
    n = torch.tensor([1, 2])
    loss, parts = energy_force_loss(pred, energy, forces, n, energy_weight=2.0, force_weight=10.0)
    # energy per atom errors 1 and 1 -> MSE 1; force errors 1 and 2 over 9 components -> 5/9
    assert float(parts["energy_loss"]) == pytest.approx(1.0)
    assert float(parts["force_loss"]) == pytest.approx(5 / 9)
    assert float(loss) == pytest.approx(2.0 + 10 * 5 / 9)


def test_huber_bounds_the_offset_a_few_outliers_pull_in():
    """A shared energy offset b fitted to 20 frames at their reference and 2 frames 0.5 eV/atom
    above (the far-off frames an active-learning round labels): the squared loss moves b to the
    mean, 2 * 0.5 / 22 eV/atom, shifting every typical frame; Huber (delta 0.01) moves it by at
    most delta * 2 / 20, since each outlier pulls with at most delta."""
    target = torch.cat([torch.zeros(20), torch.full((2,), 0.5)])
    n = torch.ones(22, dtype=torch.long)
    forces = {"forces": torch.zeros(1, 3)}
    offsets = torch.linspace(-0.01, 0.1, 11001)

    def best_offset(kind):
        losses = [
            float(
                energy_force_loss(
                    {"energy": torch.full((22,), float(b)), **forces},
                    target,
                    torch.zeros(1, 3),
                    n,
                    kind=kind,
                    huber_delta=0.01,
                )[0]
            )
            for b in offsets
        ]
        return float(offsets[int(np.argmin(losses))])

    assert best_offset("mse") == pytest.approx(1.0 / 22, abs=2e-5)
    assert best_offset("huber") == pytest.approx(0.01 * 2 / 20, abs=2e-5)


def test_force_only_ignores_energies():
    pred = {"energy": torch.tensor([1.0], requires_grad=True), "forces": torch.ones(2, 3, requires_grad=True)}
    a, _ = energy_force_loss(pred, torch.tensor([5.0]), torch.zeros(2, 3), torch.tensor([2]), force_only=True)
    b, _ = energy_force_loss(pred, torch.tensor([-99.0]), torch.zeros(2, 3), torch.tensor([2]), force_only=True)
    assert a.item() == b.item()
    (grad,) = torch.autograd.grad(a, pred["energy"], allow_unused=True)
    assert grad is None


def test_metrics_by_hand():
    m = error_metrics([1.0, 2.0], [1.001, 1.998], np.zeros((2, 3)), np.full((2, 3), 0.003), [1, 2])
    assert m["energy_mae"] == pytest.approx(1.5)  # meV
    assert m["energy_per_atom_mae"] == pytest.approx((1.0 + 1.0) / 2)
    assert m["force_mae"] == pytest.approx(3.0) and m["force_rmse"] == pytest.approx(3.0)


def test_merged_evaluations_equal_the_whole_set():
    from equipot.train.metrics import error_metrics, merge_evaluations

    rng = np.random.default_rng(0)
    n_atoms = np.array([3, 5, 4, 2])
    arrays = (rng.normal(size=4), rng.normal(size=4), rng.normal(size=(14, 3)), rng.normal(size=(14, 3)), n_atoms)
    whole = error_metrics(*arrays)
    # frames 0-1 (8 atoms) on one rank, 2-3 on another, and an empty slice, with their mean losses
    e, e_ref, f, f_ref = arrays[:4]
    merged = merge_evaluations(
        [
            {"arrays": (e[:2], e_ref[:2], f[:8], f_ref[:8], n_atoms[:2]), "loss": 1.0},
            {"arrays": (e[2:], e_ref[2:], f[8:], f_ref[8:], n_atoms[2:]), "loss": 4.0},
            {"arrays": (np.zeros(0), np.zeros(0), np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0)), "loss": 0.0},
        ]
    )
    for key, value in whole.items():
        assert merged[key] == pytest.approx(value, rel=1e-12), key
    assert merged["loss"] == pytest.approx(2.5)  # mean over the four structures


def test_least_squares_reference_energies(tmp_path):
    """Frames with varying composition and energies sum(E0[z]) recover E0 exactly."""
    from ase import Atoms

    e0 = {"H": -13.6, "C": -1029.0, "O": -2041.5}
    store = FrameStore.create(
        tmp_path / "x.h5", level_of_theory="synthetic", code="none", code_version="0", created_with="pytest"
    )
    rng = np.random.default_rng(1)
    for _ in range(12):
        symbols = "".join(rng.choice(["H", "C", "O"], size=rng.integers(2, 8)))
        atoms = Atoms(symbols, positions=rng.normal(size=(len(symbols), 3)) * 3)
        atoms.info["energy"] = sum(e0[s] for s in atoms.get_chemical_symbols())
        atoms.arrays["forces"] = np.zeros((len(atoms), 3))
        store.append(atoms)
    store.close()
    species = ["H", "C", "O"]
    fitted = least_squares_reference_energies(
        *composition_and_energies(GraphDataset(tmp_path / "x.h5", 4.0), species), species
    )
    for s in e0:
        assert fitted[s] == pytest.approx(e0[s], abs=1e-8)


def test_tiny_model_overfits(morse_store, tmp_path):
    trainer = Trainer(
        config(morse_store, tmp_path / "run", epochs=40, lr=1e-2, train_size=4, val_size=4, batch_size=4, ema_decay=0.0)
    )
    before = trainer.evaluate(trainer.train_set, trainer.model)["force_mae"]
    trainer.fit()
    after = trainer.evaluate(trainer.train_set, trainer.model)["force_mae"]
    assert after < before / 5, (before, after)


def test_resume_equals_uninterrupted(morse_store, tmp_path):
    straight = Trainer(config(morse_store, tmp_path / "a"))
    straight.fit()
    first = Trainer(config(morse_store, tmp_path / "b"))
    first.fit(stop_after=2)  # as if killed after epoch 2
    resumed = Trainer(config(morse_store, tmp_path / "b"), resume=True)
    assert resumed.epoch == 2
    resumed.fit()
    for (name, p), q in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(p, q), name
    for p, q in zip(straight.ema.parameters(), resumed.ema.parameters()):
        assert torch.equal(p, q)


def test_checkpoints_load_and_record_objective(morse_store, tmp_path):
    trainer = Trainer(config(morse_store, tmp_path / "run", epochs=1, force_only=True))
    trainer.fit()
    for name in ("best.pt", "last.pt"):
        raw = torch.load(tmp_path / "run" / name, weights_only=True)
        assert raw["metadata"]["objective"] == "forces"
        load_model(tmp_path / "run" / name)
    assert (tmp_path / "run" / "metrics.csv").read_text().count("\n") == 2
    assert (tmp_path / "run" / "learning_curve.png").stat().st_size > 1000
    assert (tmp_path / "run" / "parity_val.png").stat().st_size > 1000
    # force-only still fits E0 so energies stay meaningful
    assert trainer.stats["reference_energies"]["C"] != 0.0


def test_eval_uses_the_checkpoints_own_split(morse_store, tmp_path, capsys):
    """A second run with another split seed leaves the saved split alone, and ``equipot eval
    --split test`` scores each checkpoint on the test frames of its own run, not the saved file's."""
    from equipot.cli import main
    from equipot.data.splits import load_splits, make_splits, splits_path
    from equipot.train.cli_eval import split_indices

    Trainer(config(morse_store, tmp_path / "a", epochs=1)).fit()
    first = load_splits(splits_path(morse_store))
    with pytest.warns(UserWarning, match="different split"):
        Trainer(config(morse_store, tmp_path / "b", epochs=1, split_seed=7)).fit()
    for k in first:  # the file still holds the first run's split
        assert np.array_equal(load_splits(splits_path(morse_store))[k], first[k])
    own = make_splits(24, {"train": 16, "val": 4, "test": 4}, seed=7)
    assert not np.array_equal(own["test"], first["test"])
    model_b = load_model(tmp_path / "b" / "best.pt")
    indices, source = split_indices(model_b, str(morse_store), "test")
    assert np.array_equal(indices, own["test"]) and "checkpoint" in source
    assert main(["eval", str(tmp_path / "b" / "best.pt"), str(morse_store), "--split", "test"]) == 0
    assert "4 frames; from the checkpoint's training split" in capsys.readouterr().out
    # a file the model never saw: the split saved next to it, or a clear error
    other = write_morse_store(tmp_path / "other.h5", 10, seed=3)
    with pytest.raises(ValueError, match="records no split of other.h5"):
        split_indices(model_b, str(other), "test")


def test_training_on_several_files_splits_each(tmp_path):
    """A list (or glob) of stores trains on their union; each file gets its own saved split."""
    from equipot.data.splits import load_splits, splits_path

    a = write_morse_store(tmp_path / "a_1.h5", 12)
    b = write_morse_store(tmp_path / "a_2.h5", 12, seed=5)
    trainer = Trainer(
        config(str(tmp_path / "a_*.h5"), tmp_path / "run", train_size=8, val_size=2, test_size=2, epochs=1)
    )
    assert trainer.data_paths == [str(a), str(b)]
    assert len(trainer.train_set) == 16 and len(trainer.val_set) == 4
    for path in (a, b):
        assert len(load_splits(splits_path(path))["train"]) == 8
    # frames of the second file come from that file
    np.testing.assert_allclose(
        trainer.train_set.frame(8).positions, FrameStore(b)[int(trainer.splits[str(b)]["train"][0])].positions
    )
    trainer.fit()
    assert load_model(tmp_path / "run" / "best.pt").metadata["data"] == [str(a), str(b)]
    with pytest.raises(ValueError, match="no frame stores match"):
        Trainer(config(str(tmp_path / "none_*.h5"), tmp_path / "run2"))


def test_time_limit_shortens_the_schedule(morse_store, tmp_path):
    """A budget too small for the planned epochs ends the run early, with the cosine
    schedule shortened to the epochs that fit (learning rate at min_lr at the end)."""
    trainer = Trainer(config(morse_store, tmp_path / "run", epochs=50, time_limit_minutes=1e-6, min_lr=1e-5))
    trainer.fit()
    assert trainer.epoch == 1 and trainer.epochs == 1 and len(trainer.history) == 1
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(1e-5, rel=1e-6)
    resumed = Trainer(
        config(morse_store, tmp_path / "run", epochs=50, time_limit_minutes=1e-6, min_lr=1e-5), resume=True
    )  # the shortened schedule comes back with the run
    assert resumed.epochs == 1 and resumed.schedule.total == resumed.steps_per_epoch
    assert resumed.optimizer.param_groups[0]["lr"] == pytest.approx(1e-5, rel=1e-6)


def test_resumed_run_keeps_its_time_budget(morse_store, tmp_path, capsys):
    """A budgeted run killed and resumed counts the epochs it already trained against its
    budget: it does not start the budget again (which would lengthen the run and raise an
    annealed learning rate), and says what fits even with the per-epoch lines off."""
    settings = dict(epochs=50, time_limit_minutes=20, min_lr=1e-5)
    Trainer(config(morse_store, tmp_path / "run", **settings)).fit(stop_after=2)
    resumed = Trainer(config(morse_store, tmp_path / "run", **settings), resume=True)
    assert resumed.epoch == 2
    for row in resumed.history:  # as if each epoch had taken ten minutes: the budget is spent
        row["seconds"] = 600.0
    capsys.readouterr()
    resumed.fit()
    assert resumed.epoch == 3 and resumed.epochs == 3
    assert resumed.optimizer.param_groups[0]["lr"] == pytest.approx(1e-5, rel=1e-6)
    assert "time limit 20 min" in capsys.readouterr().out


def test_epochs_in_budget_leaves_out_the_first_epoch_and_caps():
    from equipot.train.schedule import epochs_in_budget

    # a slow first epoch (neighbour lists) is not the estimate: 10 s each, 95 s left -> 9 more
    assert epochs_in_budget(95.0, [60.0, 10.0, 10.0], epoch=3, max_epochs=100) == 12
    # the mean of the last three only
    assert epochs_in_budget(100.0, [60.0, 50.0, 20.0, 20.0, 20.0], epoch=5, max_epochs=100) == 10
    assert epochs_in_budget(1000.0, [10.0], epoch=1, max_epochs=20) == 20  # never past max_epochs
    assert epochs_in_budget(-5.0, [10.0, 10.0], epoch=2, max_epochs=20) == 2  # over budget: stop here


def test_warmup_cosine_schedule():
    """Linear warm-up to the base rate, half a cosine down to the floor at ``total``, then flat;
    a resized run follows its new length; without the cosine the factor stays 1."""
    from equipot.train.schedule import WarmupCosine

    schedule = WarmupCosine(warmup=10, total=110, floor=0.01)
    assert schedule(0) == pytest.approx(0.1) and schedule(9) == pytest.approx(1.0)
    assert schedule(10) == pytest.approx(1.0)
    assert schedule(60) == pytest.approx(0.505)  # half-way: the mean of 1 and the floor
    assert schedule(110) == pytest.approx(0.01) and schedule(500) == pytest.approx(0.01)
    schedule.total = 60
    assert schedule(35) == pytest.approx(0.505) and schedule(60) == pytest.approx(0.01)
    assert WarmupCosine(10, 110, 0.01, cosine=False)(80) == 1.0
    with pytest.raises(ValueError, match="warmup"):
        WarmupCosine(0, 10, 0.1)
    with pytest.raises(ValueError, match="min_lr"):
        WarmupCosine(1, 10, 2.0)


def test_time_budget_ignores_a_slow_first_epoch_and_can_lengthen(morse_store, tmp_path):
    """The first epoch also builds the neighbour lists: once later epochs are timed, the budget
    is re-planned from them, lengthening a run that the first epoch had cut short (never past
    the configured epochs, and only in the first half of the budget)."""
    from equipot.train.run_state import fit_time_budget

    trainer = Trainer(config(morse_store, tmp_path / "run", epochs=50, time_limit_minutes=20))
    trainer.epoch = 1
    fit_time_budget(trainer, 300.0, [300.0])  # 900 s left, 300 s per epoch: three more
    assert trainer.epochs == 4
    trainer.epoch = 2
    fit_time_budget(trainer, 360.0, [300.0, 60.0])  # 840 s left at 60 s per epoch: fourteen more
    assert trainer.epochs == 16
    fit_time_budget(trainer, 0.0, [1.0, 1.0])  # plenty of time: the configured 50, no more
    assert trainer.epochs == 50
    trainer.epoch, trainer.epochs = 30, 40  # past half of the budget: shorten only
    fit_time_budget(trainer, 700.0, [1.0, 1.0])
    assert trainer.epochs == 40
    fit_time_budget(trainer, 1190.0, [1.0, 5.0])  # 10 s left at 5 s per epoch
    assert trainer.epochs == 32


def test_species_given_in_the_model_config(morse_store, tmp_path):
    """Species listed in the config (elements beyond the data's, for a later fine-tune) are used."""
    trainer = Trainer(
        config(
            morse_store,
            tmp_path / "run",
            model={"preset": "small", **TINY, "cutoff": 4.0, "species": ["H", "C", "N", "O", "Cl"]},
        )
    )
    assert trainer.model.config.species == ["H", "C", "N", "O", "Cl"]
    assert trainer.model.config.cutoff == 4.0


def test_force_only_refits_the_energy_scale(morse_store, tmp_path):
    """Forces cannot see a constant per-element energy; after each force-only epoch E0 is
    refitted on the training energies, so the validation energy error is that of the model's
    energy *differences*, not of an arbitrary offset."""
    trainer = Trainer(config(morse_store, tmp_path / "run", epochs=2, force_only=True))
    trainer.model.reference_energies.add_(50.0)  # a model that drifted far off the energy scale
    trainer.ema.reference_energies.add_(50.0)
    trainer.fit()
    val = trainer.evaluate(trainer.train_set)
    mean_error = float(np.mean(val["arrays"][0] - val["arrays"][1]))
    assert abs(mean_error) < 1e-3  # eV; least squares with a shared composition leaves zero mean error
    # without the refit the 50 eV/atom offset alone would give 450 eV on these 9-atom frames
    assert val["energy_mae"] < 45_000.0  # meV
    saved = load_model(tmp_path / "run" / "best.pt")
    np.testing.assert_allclose(
        saved.reference_energies.numpy(), trainer.ema.reference_energies.cpu().numpy(), rtol=1e-6
    )


def test_saved_splits_of_other_sizes_are_kept_and_named_once(tmp_path):
    """A run whose sizes differ from the splits saved next to its files (a fine-tune with
    counts) draws its own, leaves the saved files alone, and says so in one warning."""
    import warnings

    from equipot.data.splits import splits_path

    stores = [write_morse_store(tmp_path / f"m{k}.h5", 24, seed=k) for k in range(3)]
    paths = [str(p) for p in stores]
    Trainer(config(stores[0], tmp_path / "a", data=paths, epochs=0))
    saved = [splits_path(p).read_text() for p in stores]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer = Trainer(config(stores[0], tmp_path / "b", data=paths, train_size=10, epochs=0))
    about = [w for w in caught if "different split" in str(w.message)]
    assert len(about) == 1 and "3 of the 3 data files" in str(about[0].message)
    assert [splits_path(p).read_text() for p in stores] == saved
    assert all(len(split["train"]) == 10 for split in trainer.splits.values())


def test_fine_tune_starts_from_the_checkpoint(morse_store, tmp_path):
    """init_from takes weights and scale from a checkpoint (the model config is ignored), and
    its E0 moved by the least-squares fit of the training residuals: on frames of one
    composition the energy shifts by one constant and the forces stay the checkpoint's."""
    Trainer(config(morse_store, tmp_path / "base", epochs=2)).fit()
    base = load_model(tmp_path / "base" / "best.pt", dtype="float32")
    with pytest.warns(UserWarning, match="model keys preset do not apply"):
        tuned_config = config(
            morse_store,
            tmp_path / "tuned",
            epochs=1,
            model={"preset": "medium"},
            init_from=str(tmp_path / "base" / "best.pt"),
        )
    assert tuned_config.model == {}  # the run records what it trains, not the ignored preset
    tuned = Trainer(tuned_config)
    assert tuned.model.config.to_dict() == base.config.to_dict()
    for (name, p), q in zip(base.state_dict().items(), tuned.model.state_dict().values()):
        if name != "reference_energies":
            assert torch.equal(p, q.cpu()), name
    shifts = []
    for k in range(len(tuned.val_set)):
        graph = tuned.val_set[k].to(dtype=torch.float32)
        a, b = base(graph), tuned.model(graph)
        assert torch.allclose(a["forces"], b["forces"].cpu(), atol=1e-6, rtol=0)
        shifts.append(float((b["energy"] - a["energy"]).detach()))
    assert max(shifts) - min(shifts) < 1e-3  # one composition (ethanol): one constant
    species, counts, energies = tuned._composition
    graphs = [tuned.train_set[k].to(dtype=torch.float32) for k in range(len(tuned.train_set))]
    predicted = np.array([float(tuned.model(graph)["energy"].detach()) for graph in graphs])
    assert abs(np.mean(energies - predicted)) < 1e-3  # the residuals' mean is fitted away
    tuned.fit()
    tuned_model = load_model(tmp_path / "tuned" / "best.pt")
    assert tuned_model.metadata["init_from"] == str(tmp_path / "base" / "best.pt")
    lineage = lineage_metadata(tuned_model)  # the fine-tune, then the checkpoint it started from
    assert [m["train_config"]["out"] for m in lineage] == [str(tmp_path / "tuned"), str(tmp_path / "base")]


def test_weight_decay_shrinks_matrices_and_spares_biases_and_norms(tiny_model):
    """With zero gradients an AdamW step is the decay alone: every matrix shrinks by
    ``1 - lr * weight_decay``, the one-dimensional parameters (biases, norm scales, Bessel
    frequencies) do not move; the two groups hold every trainable parameter once."""
    from equipot.train.optim import decay_groups

    groups = decay_groups(tiny_model, 0.1)
    assert sum(len(g["params"]) for g in groups) == sum(1 for p in tiny_model.parameters() if p.requires_grad)
    assert groups[0]["params"] and groups[1]["params"]
    assert all(p.ndim >= 2 for p in groups[0]["params"]) and all(p.ndim < 2 for p in groups[1]["params"])
    before = [p.detach().clone() for p in tiny_model.parameters()]
    optimizer = torch.optim.AdamW(groups, lr=0.01)
    for p in tiny_model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    for p, p0 in zip(tiny_model.parameters(), before):
        expected = p0 * (1 - 0.01 * 0.1) if p.ndim >= 2 else p0
        torch.testing.assert_close(p.detach(), expected, rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="non-negative"):
        decay_groups(tiny_model, -1.0)


def test_numbers_written_without_a_decimal_point_are_numbers(tmp_path):
    """YAML reads ``5e-3`` as a string; the config turns it into the number a user meant, in a
    file and in ``--set`` overrides, and says which field is wrong when it is no number."""
    path = tmp_path / "run.yaml"
    path.write_text("data: x.h5\nlr: 5e-3\nweight_decay: 1e-6\nepochs: 1e2\n")
    cfg = TrainConfig.from_yaml(path, overrides={"min_lr": "2e-5", "time_limit_minutes": "30"})
    assert (cfg.lr, cfg.weight_decay, cfg.min_lr, cfg.time_limit_minutes) == (5e-3, 1e-6, 2e-5, 30.0)
    assert cfg.epochs == 100 and isinstance(cfg.epochs, int)
    with pytest.raises(ValueError, match="'lr' must be a number"):
        TrainConfig.from_dict({"data": "x.h5", "lr": "fast"})
    with pytest.raises(ValueError, match="'epochs' must be an integer"):
        TrainConfig.from_dict({"data": "x.h5", "epochs": "2.5"})


def test_a_one_group_optimizer_state_resumes_in_the_decay_groups(tiny_model):
    """``last.pt`` of a run whose AdamW held every parameter in one group loads into the
    matrix/1-D groups: each parameter keeps its own Adam moments and step, the learning rate
    is the saved one, the weight decay of each group the new one."""
    from equipot.train.optim import decay_groups, load_grouped_state

    torch.manual_seed(0)
    old = torch.optim.AdamW(tiny_model.parameters(), lr=0.01, weight_decay=0.1)
    for _ in range(2):
        for p in tiny_model.parameters():
            p.grad = torch.randn_like(p)
        old.step()
    old.param_groups[0]["lr"] = 0.003  # as a schedule leaves it
    saved = old.state_dict()
    new = torch.optim.AdamW(decay_groups(tiny_model, 0.02), lr=0.01)
    load_grouped_state(new, tiny_model, saved)
    assert [g["lr"] for g in new.param_groups] == [0.003, 0.003]
    assert [g["weight_decay"] for g in new.param_groups] == [0.02, 0.0]
    for p in tiny_model.parameters():
        torch.testing.assert_close(new.state[p]["exp_avg"], old.state[p]["exp_avg"], rtol=0, atol=0)
        torch.testing.assert_close(new.state[p]["exp_avg_sq"], old.state[p]["exp_avg_sq"], rtol=0, atol=0)
        assert float(new.state[p]["step"]) == 2.0
    two_groups = new.state_dict()
    again = torch.optim.AdamW(decay_groups(tiny_model, 0.02), lr=0.01)
    load_grouped_state(again, tiny_model, two_groups)
    assert again.state_dict()["state"].keys() == two_groups["state"].keys()


@pytest.mark.parametrize("scheduler", ["cosine", "plateau"])
def test_a_one_group_last_pt_resumes_exactly(morse_store, tmp_path, scheduler):
    """A ``last.pt`` whose optimizer and schedulers were saved for one parameter group (every
    parameter decayed alike) resumes into the matrix/1-D groups and continues as the run that
    was never stopped: same weights, both groups on the schedule."""
    from equipot.train.optim import decay_groups

    settings = dict(scheduler=scheduler, weight_decay=1e-2)
    straight = Trainer(config(morse_store, tmp_path / "a", **settings))
    straight.fit()
    first = Trainer(config(morse_store, tmp_path / "b", **settings))
    first.fit(stop_after=2)
    raw = torch.load(tmp_path / "b" / "last.pt", weights_only=True)
    state = raw["training_state"]
    index = {id(p): i for i, p in enumerate(first.model.parameters())}
    grouped = [p for g in decay_groups(first.model, 1e-2) for p in g["params"]]
    saved = state["optimizer"]
    state["optimizer"] = {
        "state": {index[id(p)]: saved["state"][k] for k, p in enumerate(grouped) if k in saved["state"]},
        "param_groups": [{**saved["param_groups"][0], "params": list(range(len(grouped)))}],
    }
    for key in ("scheduler", "plateau"):
        if state[key] is not None:
            state[key] = {k: v[:1] if isinstance(v, list) else v for k, v in state[key].items()}
    torch.save(raw, tmp_path / "b" / "last.pt")
    resumed = Trainer(config(morse_store, tmp_path / "b", **settings), resume=True)
    resumed.fit()
    for (name, p), q in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(p, q), name
    assert [g["lr"] for g in resumed.optimizer.param_groups] == [g["lr"] for g in straight.optimizer.param_groups]
