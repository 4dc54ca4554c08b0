"""Restartable MD: a run killed after N steps and resumed equals an uninterrupted run of 2N
steps (positions, log, trajectory), for every ensemble, with ASE and equipot calculators."""

import csv

import numpy as np
import pytest
from ase.calculators.emt import EMT
from ase.cluster import Icosahedron
from ase.io import read

from equipot.calculator import EquiformerCalculator
from equipot.dynamics.md import run_md
from equipot.dynamics.monitors import BondStability, Monitor, TemperatureBlowup
from equipot.dynamics.restart import RestartState, load_state, save_state
from tests.conftest import make_model, molecule


class Kill(Monitor):
    """Stands in for a killed process: raises at ``step`` (None: never)."""

    name = "kill"

    def __init__(self, step=None):
        self.step = step

    def check(self, atoms, step, time_ps):
        if self.step is not None and step >= self.step:
            raise KeyboardInterrupt
        return None


def cu_cluster():
    atoms = Icosahedron("Cu", 2)
    atoms.calc = EMT()
    return atoms


def read_rows(path):
    with open(path, newline="") as fh:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def run_in_pieces(make_atoms, tmp_path, total, kill_at, restart_every, **kw):
    """(uninterrupted atoms, resumed atoms, their report dirs): the second killed at ``kill_at``
    and resumed from its last restart."""
    whole_dir, pieces_dir = tmp_path / "whole", tmp_path / "pieces"
    whole = make_atoms()
    run_md(
        whole,
        steps=total,
        monitors=[Kill(), BondStability(2.0)],
        report_dir=whole_dir,
        progress=False,
        restart_every=restart_every,
        **kw,
    )
    first = make_atoms()
    with pytest.raises(KeyboardInterrupt):
        run_md(
            first,
            steps=total,
            monitors=[Kill(kill_at), BondStability(2.0)],
            report_dir=pieces_dir,
            progress=False,
            restart_every=restart_every,
            **kw,
        )
    resumed = make_atoms()
    result = run_md(
        resumed,
        steps=total,
        monitors=[Kill(), BondStability(2.0)],
        report_dir=pieces_dir,
        progress=False,
        restart_every=restart_every,
        resume=True,
        **kw,
    )
    assert result.steps_done == total and not result.stopped_early
    return whole, resumed, whole_dir, pieces_dir


def assert_same_run(whole, resumed, whole_dir, pieces_dir, tol=1e-12):
    np.testing.assert_allclose(resumed.positions, whole.positions, rtol=0, atol=tol)
    np.testing.assert_allclose(resumed.get_momenta(), whole.get_momenta(), rtol=0, atol=tol)
    a, b = read_rows(whole_dir / "md.csv"), read_rows(pieces_dir / "md.csv")
    assert [r["time_ps"] for r in a] == [r["time_ps"] for r in b]  # no row lost or repeated
    np.testing.assert_allclose([r["etot_eV"] for r in b], [r["etot_eV"] for r in a], rtol=0, atol=tol)
    fa = read(whole_dir / "trajectory.extxyz", index=":")
    fb = read(pieces_dir / "trajectory.extxyz", index=":")
    assert len(fa) == len(fb)
    np.testing.assert_allclose(fb[-1].positions, fa[-1].positions, rtol=0, atol=1e-6)  # extxyz keeps 8 digits


@pytest.mark.parametrize("ensemble", ["nvt", "nve", "bussi", "nose-hoover"])
def test_killed_and_resumed_equals_uninterrupted(tmp_path, ensemble):
    whole, resumed, wd, pd = run_in_pieces(
        cu_cluster,
        tmp_path,
        total=80,
        kill_at=50,
        restart_every=40,
        ensemble=ensemble,
        temperature_K=500,
        timestep_fs=2.0,
        traj_every=10,
    )
    assert_same_run(whole, resumed, wd, pd)
    assert load_state(pd / "restart.npz").step == 80


def test_equipot_model_resumes_to_1e12(tmp_path):
    """float64 Equiformer, Langevin: the resumed trajectory is the uninterrupted one."""
    model = make_model()

    def ethanol():
        atoms = molecule("ethanol")
        atoms.calc = EquiformerCalculator(model)
        return atoms

    whole, resumed, wd, pd = run_in_pieces(
        ethanol, tmp_path, total=40, kill_at=30, restart_every=20, temperature_K=300, timestep_fs=0.5
    )
    assert_same_run(whole, resumed, wd, pd)


def test_monitor_state_comes_from_the_start_not_the_resume_frame(tmp_path):
    atoms = cu_cluster()
    monitors = [BondStability(2.0), TemperatureBlowup(factor=4.0)]
    run_md(
        atoms,
        temperature_K=500,
        timestep_fs=2.0,
        steps=20,
        monitors=monitors,
        report_dir=tmp_path,
        restart_every=20,
        progress=False,
    )
    state = load_state(tmp_path)
    np.testing.assert_array_equal(state.monitors[0]["reference"], monitors[0].reference)
    assert state.monitors[1] == {"max_K": 2000.0}
    fresh = [BondStability(2.0), TemperatureBlowup(factor=4.0)]
    run_md(
        cu_cluster(),
        temperature_K=500,
        timestep_fs=2.0,
        steps=30,
        monitors=fresh,
        report_dir=tmp_path,
        restart_every=20,
        resume=True,
        progress=False,
    )
    np.testing.assert_array_equal(fresh[0].reference, monitors[0].reference)  # lengths of step 0, not step 20


def test_resume_errors_are_clear(tmp_path):
    with pytest.raises(ValueError, match="no restart state"):
        run_md(cu_cluster(), temperature_K=300, steps=10, report_dir=tmp_path, resume=True, progress=False)
    with pytest.raises(ValueError, match="restart_path or report_dir"):
        run_md(cu_cluster(), temperature_K=300, steps=10, restart_every=5, progress=False)
    with pytest.raises(ValueError, match="extxyz"):
        run_md(
            cu_cluster(),
            temperature_K=300,
            steps=10,
            restart_every=5,
            report_dir=tmp_path,
            traj_path=tmp_path / "t.traj",
            progress=False,
        )
    run_md(cu_cluster(), temperature_K=300, steps=10, restart_every=5, report_dir=tmp_path, monitors=[], progress=False)
    other = Icosahedron("Cu", 3)
    other.calc = EMT()
    with pytest.raises(ValueError, match="atoms"):
        run_md(other, temperature_K=300, steps=20, report_dir=tmp_path, resume=True, monitors=[], progress=False)
    with pytest.raises(ValueError, match="monitors"):
        run_md(
            cu_cluster(),
            temperature_K=300,
            steps=20,
            report_dir=tmp_path,
            resume=True,
            monitors=[BondStability(2.0)],
            progress=False,
        )
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not an equipot restart"):
        load_state(tmp_path / "junk.npz")


def test_state_file_is_replaced_atomically(tmp_path):
    path = tmp_path / "r.npz"
    save_state(path, RestartState({"x": np.arange(3.0)}, {"step": 1}, [{"a": np.ones(2), "b": None}]))
    state = load_state(path)
    assert state.step == 1 and state.monitors[0]["b"] is None
    np.testing.assert_array_equal(state.monitors[0]["a"], np.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["r.npz"]  # no temporary file left behind


def test_replicas_killed_and_resumed_equal_uninterrupted(tmp_path):
    """Batched Langevin replicas with monitors and recorded frames, saved every 10 steps."""
    from equipot.dynamics.replicas import ReplicaDynamics

    model = make_model()
    systems = [molecule("ethanol"), molecule("ethanol")]

    def make():
        return ReplicaDynamics(
            model, systems, temperature_K=400, seed=3, monitors=[BondStability(2.0)], check_every=5, workers=1
        )

    kw = dict(steps=30, record_every=5, log_every=5, progress=False, restart_every=10)
    uninterrupted = make()
    whole = uninterrupted.run(restart_path=tmp_path / "a.npz", **kw)
    killed = make()
    killed.run(**{**kw, "steps": 25}, restart_path=tmp_path / "b.npz")  # stops at 25, last state at 20
    again = make()
    again.resume(tmp_path / "b.npz")
    assert again.steps_done == 20
    resumed = again.run(restart_path=tmp_path / "b.npz", **kw)
    assert resumed.steps == whole.steps == 30
    np.testing.assert_allclose(again.positions.numpy(), uninterrupted.positions.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(resumed.energies, whole.energies, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(resumed.log_time_ps, whole.log_time_ps)
    for a, b in zip(resumed.positions, whole.positions):
        assert a.shape == b.shape == (6, 9, 3)
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="other replicas"):
        ReplicaDynamics(model, [molecule("ethanol")], temperature_K=400).resume(tmp_path / "b.npz")


def test_md_cli_resume_continues_and_extends(tmp_path, monkeypatch, capsys):
    from equipot.cli import main
    from equipot.dynamics import cli as md_cli
    from tests.test_dynamics_md import Springs

    monkeypatch.setattr(md_cli, "_make_calculator", lambda args: Springs.around(molecule("ethanol")))
    out = tmp_path / "run"
    common = ["--model", "toy", "--temperature", "300", "--no-progress", "--log-every", "5", "--traj-every", "5"]
    assert main(["md", "ethanol", *common, "--duration", "40steps", "--restart-every", "20", "--out", str(out)]) == 0
    whole = read(out / "trajectory.extxyz", index=":")
    assert (
        main(
            [
                "md",
                "ethanol",
                *common,
                "--duration",
                "20steps",
                "--restart-every",
                "20",
                "--out",
                str(tmp_path / "half"),
            ]
        )
        == 0
    )
    # the saved settings are the run's own: only --duration comes from this command line
    assert main(["md", "--resume", str(tmp_path / "half"), "--duration", "40steps", "--no-progress"]) == 0
    half = read(tmp_path / "half" / "trajectory.extxyz", index=":")
    assert len(half) == len(whole) == 9
    np.testing.assert_allclose(half[-1].positions, whole[-1].positions, atol=1e-6)
    assert len(read_rows(tmp_path / "half" / "md.csv")) == 9
    capsys.readouterr()
    assert main(["md", "--resume", str(tmp_path / "nothing")]) == 2
    assert "run.json" in capsys.readouterr().err


def test_md_cli_replicas_resume(tmp_path):
    from equipot.cli import main

    common = [
        "md",
        "ethanol",
        "--model",
        "md17-gfn2",
        "--replicas",
        "2",
        "--traj-every",
        "5",
        "--no-progress",
        "--restart-every",
        "10",
    ]
    assert main([*common, "--duration", "20steps", "--out", str(tmp_path / "whole")]) == 0
    assert main([*common, "--duration", "10steps", "--out", str(tmp_path / "half")]) == 0
    assert main(["md", "--resume", str(tmp_path / "half"), "--duration", "20steps", "--no-progress"]) == 0
    for k in range(2):
        a = read(tmp_path / "whole" / f"replica_{k}.extxyz", index=":")
        b = read(tmp_path / "half" / f"replica_{k}.extxyz", index=":")
        assert len(a) == len(b) == 4  # steps 5, 10, 15, 20
        np.testing.assert_allclose(b[-1].positions, a[-1].positions, atol=1e-6)
