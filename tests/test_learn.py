"""Active learning with GFN2-xTB (tblite) on water: selection rules, a full loop (select, label,
append with provenance, fine-tune), a killed-and-resumed loop equal to an uninterrupted one."""

import json

import numpy as np
import pytest
from ase import Atoms
from ase.io import write

from equipot.data.store import Frame, FrameStore
from equipot.learn import ActiveLearner, LearnConfig
from equipot.learn.select import Candidate, calibrated_lower, distance_change, select
from tests.conftest import TINY


def water(shift=0.0):
    return Atoms("OH2", positions=[[0, 0, 0], [0.96 + shift, 0, 0], [-0.24, 0.93, 0]])


# ---------------------------------------------------------------------------------- selection


def test_distance_change_ignores_rigid_motion():
    a = water().positions
    rotated = a @ np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1.0]]).T + 3.0
    assert distance_change(a, rotated) == pytest.approx(0.0, abs=1e-12)
    stretched = water(0.3).positions
    # one of three distances changes by 0.3 Å (the H-H distance a little too)
    assert 0.15 < distance_change(a, stretched) < 0.3


def test_select_window_order_dedup_and_per_run_cap():
    z = water().numbers

    def cand(u, source="a", shift=0.0):
        return Candidate(z, water(shift).positions, u, source, 0.0)

    cands = [
        cand(0.01),
        cand(0.2, shift=0.0),
        cand(0.3, shift=0.01),
        cand(5.0),
        cand(0.25, shift=0.4),
        cand(0.1, "b", 0.2),
        cand(0.15, "b", 0.6),
    ]
    # window [0.05, 1): 5 frames; 0.3 first; 0.25 (far from it); 0.2 is 0.01 Å from 0.3's frame: a duplicate
    assert select(cands, lower=0.05, upper=1.0, max_frames=10, min_change=0.05) == [2, 4, 6, 5]
    assert select(cands, lower=0.05, upper=1.0, max_frames=10, max_per_run=1) == [2, 6]
    assert select(cands, lower=0.05, upper=1.0, max_frames=2) == [2, 4]
    assert select(cands, lower=0.5, upper=1.0, max_frames=10) == []
    with pytest.raises(ValueError, match="lower < upper"):
        select(cands, lower=1.0, upper=0.5, max_frames=1)


def test_select_random_order_draws_from_the_whole_window():
    """DP-GEN's order: every frame of the window is as likely to be taken first, whatever its u;
    the caps still hold, and a seed repeats its draw."""
    z = water().numbers
    cands = [
        Candidate(z, water(0.1 * k).positions, u, "a", 0.0) for k, u in enumerate([0.01, 0.9, 0.1, 0.5, 2.0, 0.06])
    ]
    window = {1, 2, 3, 5}
    firsts = [select(cands, lower=0.05, upper=1.0, max_frames=1, order="random", seed=s)[0] for s in range(200)]
    assert set(firsts) == window
    counts = np.bincount(firsts, minlength=6)[sorted(window)]
    assert counts.min() > 30  # 50 expected each: no preference for high u
    assert sorted(select(cands, lower=0.05, upper=1.0, max_frames=10, order="random", seed=3)) == sorted(window)
    assert select(cands, lower=0.05, upper=1.0, max_frames=2, order="random", seed=7) == select(
        cands, lower=0.05, upper=1.0, max_frames=2, order="random", seed=7
    )
    assert len(select(cands, lower=0.05, upper=1.0, max_frames=10, order="random", max_per_run=2)) == 2
    with pytest.raises(ValueError, match="order"):
        select(cands, lower=0.05, upper=1.0, max_frames=1, order="farthest")


# ---------------------------------------------------------------------------------- the loop


@pytest.fixture
def water_setup(tmp_path):
    """A store of 12 GFN2-xTB water frames (random distortions, with velocities like frames of
    sampled MD) and a water start file."""
    pytest.importorskip("tblite")
    from equipot.data.reference import gfn2_calculator

    rng = np.random.default_rng(0)
    calc = gfn2_calculator()
    store = FrameStore.create(
        tmp_path / "start.h5", level_of_theory="GFN2-xTB", code="tblite", code_version="x", created_with="test"
    )
    for i in range(12):
        atoms = water()
        atoms.positions += rng.normal(scale=0.05, size=(3, 3))
        atoms.set_velocities(rng.normal(scale=0.01, size=(3, 3)))  # as sampled MD frames have
        atoms.calc = calc
        atoms.get_forces()
        store.append(Frame.from_atoms(atoms, frame_id=i))
    store.close()
    write(tmp_path / "water.xyz", water())
    return tmp_path


def config(tmp_path, out, **changes):
    settings = dict(
        data=str(tmp_path / "start.h5"),
        structures=[str(tmp_path / "water.xyz")],
        out=str(tmp_path / out),
        temperatures=[400.0],
        reference="gfn2",
        committee=2,
        train={
            "model": {"preset": "small", **TINY},
            "epochs": 2,
            "batch_size": 4,
            "train_size": 0.8,
            "val_size": 0.2,
            "test_size": 0.0,
            "num_threads": 1,
        },
        finetune={"epochs": 1, "lr": 1e-3, "warmup_epochs": 0.0},
        replicas=2,
        duration_ps=0.05,
        sample_every=10,
        lower=0.0,
        upper=100.0,
        max_frames=3,
        max_per_run=2,
        min_change=0.0,
        max_rounds=2,
        label_budget=5,
        test_data=str(tmp_path / "start.h5"),
    )
    return LearnConfig.from_dict({**settings, **changes})


def read_store(path):
    with FrameStore(path) as store:
        frames = [store[i] for i in range(len(store))]
        return frames, store.read_table("provenance")


def test_a_loop_selects_labels_appends_and_fine_tunes(water_setup):
    tmp = water_setup
    state = ActiveLearner(config(tmp, "run", keep_splits=True)).run(progress=False)
    assert [r["labelled"] for r in state["rounds"]] == [3, 2]  # the budget of 5 caps round 1 at 2
    assert state["finished"] and state["stopped_because"] == "max_rounds reached"
    frames, prov = read_store(tmp / "run" / "data.h5")
    assert len(frames) == 12 + 5
    np.testing.assert_array_equal(prov["frame"], np.arange(12, 17))
    np.testing.assert_array_equal(prov["round"], [0, 0, 0, 1, 1])
    assert all(s.startswith("water_400K_r") for s in prov["source"])
    # at most max_per_run=2 frames from one replica in a round
    for k in (0, 1):
        sources = list(prov["source"][prov["round"] == k])
        assert max(sources.count(s) for s in sources) <= 2
    # labels are GFN2-xTB's own numbers for those positions, not the committee's
    from equipot.data.reference import gfn2_calculator

    atoms = Atoms(numbers=frames[-1].numbers, positions=frames[-1].positions)
    atoms.calc = gfn2_calculator()
    assert frames[-1].energy == pytest.approx(atoms.get_potential_energy(), abs=1e-8)
    np.testing.assert_allclose(frames[-1].forces, atoms.get_forces(), rtol=0, atol=1e-4)  # float32 store, SCF tolerance
    # the explored frames moved away from the start, and the chosen ones were the most uncertain
    cands = np.load(tmp / "run" / "round_0" / "candidates.npz")
    meta = json.loads(str(cands["meta"]))
    u = np.array(meta["uncertainty"])
    assert len(u) == 2 * 10 and np.all(u > 0)
    # the most uncertain frames, at most two of one replica (max_per_run)
    order = np.argsort(-u)
    expected, per_run = [], {}
    for i in order:
        source = meta["source"][i]
        if per_run.get(source, 0) < 2 and len(expected) < 3:
            expected.append(u[i])
            per_run[source] = per_run.get(source, 0) + 1
    np.testing.assert_allclose(prov["uncertainty"][:3], expected)
    # round 1's committee was fine-tuned from round 0's, on the grown store
    final = state["final_models"]
    assert final == [str(tmp / "run" / "round_2" / f"model_{m}" / "best.pt") for m in range(2)]
    from equipot.checkpoint import read_checkpoint

    tuned = read_checkpoint(tmp / "run" / "round_1" / "model_0" / "best.pt")["metadata"]
    assert tuned["init_from"] == str(tmp / "run" / "round_0" / "model_0" / "best.pt")
    assert (
        tuned["train_frames"]
        > read_checkpoint(tmp / "run" / "round_0" / "model_0" / "best.pt")["metadata"]["train_frames"]
    )
    # keep_splits: each committee keeps the split its parent had and splits the new frames alone:
    # no fine-tuned model validates on a frame its parent trained on
    from equipot.data.splits import training_splits

    parent = training_splits(read_checkpoint(tmp / "run" / "round_0" / "model_0" / "best.pt")["metadata"], 12)
    child = training_splits(tuned, 15)
    last = training_splits(read_checkpoint(tmp / "run" / "round_2" / "model_0" / "best.pt")["metadata"], 17)
    for earlier, later, n in ((parent, child, 12), (child, last, 15)):
        assert not set(later["val"].tolist()) & set(earlier["train"].tolist())
        assert np.array_equal(later["train"][later["train"] < n], earlier["train"])
    assert state["rounds"][0]["test"]["force_mae"] > 0
    for test in (state["rounds"][0]["test"], state["final_test"]):
        assert abs(test["energy_bias"]) <= test["energy_mae"]  # |mean error| <= mean |error|
    assert (tmp / "run" / "round_1" / "report.png").stat().st_size > 1000
    assert "| 1 | 2 |" in (tmp / "run" / "round_1" / "report.md").read_text()


def test_killed_and_resumed_loop_gives_the_same_store(water_setup, monkeypatch):
    tmp = water_setup
    ActiveLearner(config(tmp, "whole")).run(progress=False)
    from equipot.data.reference import gfn2_calculator

    real = gfn2_calculator()
    calls = {"n": 0}
    original = type(real).calculate

    def dying(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:  # round 1's second label
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(real), "calculate", dying)
    with pytest.raises(KeyboardInterrupt):
        ActiveLearner(config(tmp, "pieces"), reference=real).run(progress=False)
    monkeypatch.setattr(type(real), "calculate", original)
    assert len(read_store(tmp / "pieces" / "data.h5")[0]) == 12 + 4
    state = ActiveLearner(config(tmp, "pieces")).run(progress=False)
    assert [r["labelled"] for r in state["rounds"]] == [3, 2]
    (a, pa), (b, pb) = read_store(tmp / "whole" / "data.h5"), read_store(tmp / "pieces" / "data.h5")
    assert len(a) == len(b) == 17
    for fa, fb in zip(a, b):
        np.testing.assert_allclose(fb.positions, fa.positions, rtol=0, atol=1e-9)
        assert fb.energy == pytest.approx(fa.energy, abs=1e-8)
    for key in ("frame", "round", "source"):
        np.testing.assert_array_equal(pb[key], pa[key])


def test_settings_are_checked(water_setup):
    tmp = water_setup
    with pytest.raises(ValueError, match="lower < upper"):
        config(tmp, "x", lower=1.0, upper=0.5)
    with pytest.raises(ValueError, match="lower: auto"):
        config(tmp, "x", lower="high")
    with pytest.raises(ValueError, match="lower_quantile"):
        config(tmp, "x", lower="auto", lower_quantile=1.5)
    with pytest.raises(ValueError, match="unknown learn config key"):
        config(tmp, "x", temperature=300)
    with pytest.raises(ValueError, match="fraction of the growing store"):
        config(tmp, "x", train={"train_size": 100})
    with pytest.raises(ValueError, match="may not set 'data'"):
        config(tmp, "x", train={"data": "other.h5"})
    ActiveLearner(config(tmp, "y", max_rounds=1, label_budget=0, initial_frames=8)).run(progress=False)
    assert len(read_store(tmp / "y" / "data.h5")[0]) == 8
    with pytest.raises(ValueError, match="other settings"):
        ActiveLearner(config(tmp, "y", max_rounds=3))


def test_auto_lower_threshold_is_the_committees_quantile_on_its_validation_frames(water_setup):
    from equipot.checkpoint import load_model
    from equipot.learn.select import committee_uncertainty

    tmp = water_setup
    state = ActiveLearner(config(tmp, "auto", lower="auto", lower_quantile=0.5, max_rounds=1)).run(progress=False)
    row = state["rounds"][0]
    # recomputed here: the round-0 committee on the validation frames of the split it trained with
    # (round 1's fine-tuning has since drawn a new split of the grown store; the round names them)
    selected = json.loads((tmp / "auto" / "round_0" / "selected.json").read_text())
    val, chosen = selected["calibration_frames"], selected["indices"]
    assert 0 < len(val) < 12 and max(val) < 12  # validation frames of the 12 starting frames
    with FrameStore(tmp / "auto" / "data.h5") as store:
        atoms = [store[i].to_atoms() for i in val]
    committee = [load_model(m, dtype="float32") for m in row["models"]]
    expected = np.quantile(committee_uncertainty(committee, atoms), 0.5)
    assert row["lower"] == pytest.approx(expected, rel=1e-5) and row["lower"] > 0
    u = np.array(json.loads(str(np.load(tmp / "auto" / "round_0" / "candidates.npz")["meta"]))["uncertainty"])
    assert row["in_window"] == int(((u >= row["lower"]) & (u < 100.0)).sum())
    assert all(u[i] >= row["lower"] for i in chosen) and len(chosen) <= 3
    assert bool(chosen) == bool(row["in_window"])
    # frames the loop labelled never calibrate, even in the validation split: they were picked for
    # the committee's disagreement and would push the quantile up round by round
    from equipot.data.splits import save_splits, splits_path

    learner = ActiveLearner(config(tmp, "auto", lower="auto", lower_quantile=0.5, max_rounds=1))
    n = len(read_store(tmp / "auto" / "data.h5")[0])
    assert n > 12
    save_splits(splits_path(tmp / "auto" / "data.h5"), {"train": np.arange(0), "val": np.arange(n)}, seed=0)
    lower, frames = calibrated_lower(learner.config, learner.store_path, learner.state["initial_frames"], row["models"])
    assert frames == list(range(12))
    with FrameStore(tmp / "auto" / "data.h5") as store:
        atoms = [store[i].to_atoms() for i in range(12)]
    assert lower == pytest.approx(np.quantile(committee_uncertainty(committee, atoms), 0.5), rel=1e-5)
    with pytest.raises(ValueError, match="raise upper"):
        ActiveLearner(config(tmp, "auto_low", lower="auto", upper=1e-6, max_rounds=1)).run(progress=False)


def test_random_baseline_takes_pool_frames_with_their_labels(water_setup):
    from equipot.learn.baseline import RandomLabels

    tmp = water_setup
    loop = ActiveLearner(config(tmp, "loop", max_rounds=1))
    loop.run(progress=False)
    round0 = loop.state["rounds"][0]["models"]
    state = RandomLabels(
        config(tmp, "random", models=round0, max_rounds=2, max_frames=4, label_budget=6), pool=str(tmp / "start.h5")
    ).run(progress=False)
    assert [r["labelled"] for r in state["rounds"]] == [4, 2]
    frames, prov = read_store(tmp / "random" / "data.h5")
    pool, _ = read_store(tmp / "start.h5")
    picked = [int(s.split(":")[1]) for s in prov["source"]]
    assert len(set(picked)) == 6  # no pool frame twice
    for frame, i in zip(frames[12:], picked):
        np.testing.assert_allclose(frame.positions, pool[i].positions)
        assert frame.energy == pytest.approx(pool[i].energy)
    assert state["rounds"][1]["test"]["force_mae"] > 0
    report = (tmp / "random" / "round_1" / "report.md").read_text()
    assert "No exploration: frames drawn at random from 12 frames" in report and "nan" not in report
    assert "| 1 | 2 | - | - |" in report


def test_documented_config_reads():
    from pathlib import Path

    for name in ("ethanol", "salicylic"):
        c = LearnConfig.from_yaml(Path(__file__).parents[1] / "docs" / "learn" / f"{name}.yaml")
        assert c.reference == "gfn2" and c.initial_frames == 100 and c.committee_size == 3
        assert (Path(__file__).parents[1] / c.data).is_file()
        assert c.structures == [name]


def test_config_overrides_from_the_command_line():
    """``--set KEY=VALUE`` (bench/active_learning.py, equipot train): values read as YAML, keys checked."""
    from pathlib import Path

    from equipot.cli import parse_overrides

    path = Path(__file__).parents[1] / "docs" / "learn" / "ethanol.yaml"
    assert parse_overrides(["lower=0.05", "select_order=random"]) == {"lower": 0.05, "select_order": "random"}
    c = LearnConfig.from_yaml(path, parse_overrides(["lower=0.05", "select_order=random"]))
    assert c.lower == 0.05 and c.select_order == "random" and c.lower_quantile == 0.95
    assert LearnConfig.from_yaml(path).lower == "auto"
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_overrides(["lower"])
    with pytest.raises(ValueError, match="unknown learn config key"):
        LearnConfig.from_yaml(path, parse_overrides(["lowr=0.1"]))


def test_cli_runs_a_config_and_resumes_a_finished_loop(water_setup, capsys):
    import yaml

    from equipot.cli import main

    tmp = water_setup
    settings = config(tmp, "cli", max_rounds=1, label_budget=2, max_frames=2).to_dict()
    path = tmp / "learn.yaml"
    path.write_text(yaml.safe_dump(settings))
    assert main(["learn", str(path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "round 0: 20 frames explored, 2 labelled, 2/2 replicas stable" in out
    assert "stopped: max_rounds reached" in out
    assert main(["learn", str(path), "--no-progress"]) == 0  # finished: nothing is redone
    assert len(read_store(tmp / "cli" / "data.h5")[0]) == 14
    path.write_text(yaml.safe_dump({**settings, "lower": 0.5, "upper": 0.1}))
    assert main(["learn", str(path)]) == 2
    assert "lower < upper" in capsys.readouterr().err
