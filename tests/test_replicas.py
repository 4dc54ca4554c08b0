"""Batched replica dynamics: matches ASE's integrator, conserves energy, thermostats, monitors."""

import numpy as np
import pytest
from ase import units
from ase.md.verlet import VelocityVerlet

from equipot import EquiformerCalculator
from equipot.dynamics.monitors import Monitor
from equipot.dynamics.replicas import ReplicaDynamics
from tests.conftest import make_model


def gentle_model():
    model = make_model()
    model.scale.fill_(0.3)  # see test_dynamics_core: unit-scale random forces are unphysical
    return model


def test_nve_replica_matches_ase_velocity_verlet(ethanol):
    model = gentle_model()
    replicas = ReplicaDynamics(model, [ethanol, ethanol], temperature_K=300, ensemble="nve", seed=3)
    atoms = replicas.replica_atoms(1)
    atoms.calc = EquiformerCalculator(model, skin=0.0)
    dyn = VelocityVerlet(atoms, timestep=0.5 * units.fs)
    for _ in range(20):
        replicas.step()
        dyn.run(1)
    np.testing.assert_allclose(replicas.replica_atoms(1).positions, atoms.positions, atol=1e-9)
    np.testing.assert_allclose(replicas.replica_atoms(1).get_velocities(), atoms.get_velocities(), atol=1e-9)


def test_nve_conserves_energy_for_every_replica(aspirin, ethanol):
    replicas = ReplicaDynamics(gentle_model(), [aspirin, ethanol, aspirin], temperature_K=300, ensemble="nve", seed=1)
    result = replicas.run(steps=200, log_every=5, progress=False)
    sizes = np.array([21, 9, 21])
    drift = np.polyfit(result.log_time_ps, result.energies, 1)[0] * 1000 / sizes  # meV/atom/ps
    assert np.all(np.abs(drift) < 0.5), drift
    assert all(f is None for f in result.failures)
    # replicas 0 and 2 start from the same geometry but different velocities
    assert not np.allclose(replicas.replica_atoms(0).positions, replicas.replica_atoms(2).positions)


def test_langevin_reaches_target_temperature(ethanol):
    replicas = ReplicaDynamics(
        gentle_model(), [ethanol] * 16, temperature_K=500, ensemble="nvt", friction_per_fs=0.1, seed=2
    )
    replicas.run(steps=150, progress=False)
    temps = []
    for _ in range(10):
        replicas.run(steps=5, progress=False)
        temps.append(2 * replicas.kinetic_energy().numpy() / (3 * len(ethanol) * units.kB))
    assert np.mean(temps) == pytest.approx(500, rel=0.15)


class FailsDoomed(Monitor):
    """Test monitor: fails a replica whose ``atoms.info`` has "doomed", from step ``step`` on."""

    name = "test"

    def __init__(self, step: int) -> None:
        self.step = step

    def check(self, atoms, step, time_ps):
        return "boom" if step >= self.step and atoms.info.get("doomed") else None


def doomed_copy(atoms):
    doomed = atoms.copy()
    doomed.info["doomed"] = True
    return doomed


def test_failed_replica_is_dropped_and_timed(ethanol):
    doomed = doomed_copy(ethanol)
    replicas = ReplicaDynamics(
        gentle_model(), [ethanol, doomed], temperature_K=300, monitors=[FailsDoomed(20)], check_every=10
    )
    result = replicas.run(steps=40, progress=False)
    assert result.failures[0] is None
    assert result.failures[1].step == 20 and result.failures[1].time_ps == pytest.approx(0.01)
    assert result.stable_times_ps == pytest.approx([0.02, 0.01])
    assert np.isnan(result.energies[-1, 1]) and np.isfinite(result.energies[-1, 0])


def test_workers_split_the_call_without_changing_the_dynamics(aspirin, ethanol):
    """Groups of whole replicas computed in parallel threads give the same forces, energies and
    trajectories as one call, also once a replica has been dropped; torch's thread count is
    restored after each call."""
    import torch

    from equipot.evaluator import split_graph

    systems = [aspirin, doomed_copy(ethanol), aspirin, ethanol, ethanol]
    model = gentle_model()
    runs = {}
    threads = torch.get_num_threads()
    for workers in (1, 2, 3):
        replicas = ReplicaDynamics(
            model, systems, temperature_K=400, seed=4, workers=workers, monitors=[FailsDoomed(10)], check_every=10
        )
        result = replicas.run(steps=20, log_every=5, progress=False)
        assert torch.get_num_threads() == threads
        runs[workers] = (replicas.positions.clone(), replicas.forces.clone(), result)
    assert runs[1][2].failures[1].step == 10 and runs[1][2].failures[0] is None
    for workers in (2, 3):
        torch.testing.assert_close(runs[workers][0], runs[1][0], atol=1e-12, rtol=0)
        torch.testing.assert_close(runs[workers][1], runs[1][1], atol=1e-12, rtol=0)
        np.testing.assert_allclose(runs[workers][2].energies, runs[1][2].energies, atol=1e-12, equal_nan=True)

    graph = replicas._graph()
    parts = split_graph(graph, 3)
    assert [p.num_atoms for p in parts] == [21, 21, 18]  # live: aspirin, aspirin, ethanol, ethanol
    assert sum(p.num_atoms for p in parts) == graph.num_atoms
    assert sum(p.edge_index.shape[1] for p in parts) == graph.edge_index.shape[1]
    with pytest.raises(ValueError, match="workers"):
        ReplicaDynamics(model, systems, temperature_K=300, workers=0)


def test_periodic_systems_rejected():
    from ase.build import bulk

    with pytest.raises(ValueError, match="isolated molecules"):
        ReplicaDynamics(make_model(species=["C"]), [bulk("C")], temperature_K=300)


def test_default_monitors_are_per_replica(aspirin, ethanol):
    """Bond lists differ between molecules: each replica's monitors are its own copies."""
    from equipot.dynamics.monitors import default_monitors

    replicas = ReplicaDynamics(
        gentle_model(), [ethanol, aspirin], temperature_K=300, monitors=default_monitors(300), check_every=5
    )
    result = replicas.run(steps=10, progress=False)
    assert result.failures == [None, None]
    bonds = [next(m for m in ms if m.name == "bond").bonds for ms in replicas.monitors]
    assert len(bonds[0]) == 8 and len(bonds[1]) == 21


def test_per_replica_monitors_and_recorded_positions(ethanol):
    """Each replica can have its own monitors (here only replica 1 has an impossible bond
    reference and fails at the first check); positions are recorded while a replica lives."""
    from equipot.dynamics.monitors import BondStability, bond_lengths, bonds_of

    bonds = bonds_of(ethanol)
    wrong = bond_lengths(ethanol.positions, bonds) + 1.0  # every bond 1 Å off its reference
    monitors = [[BondStability()], [BondStability(reference_lengths=wrong, bonds=bonds)]]
    replicas = ReplicaDynamics(
        gentle_model(), [ethanol, ethanol], temperature_K=300, seed=1, monitors=monitors, check_every=5
    )
    result = replicas.run(steps=20, progress=False, record_every=2)
    assert result.failures[0] is None
    assert result.failures[1] is not None and result.failures[1].step == 5
    assert result.positions[0].shape == (10, len(ethanol), 3)
    assert result.positions[1].shape == (2, len(ethanol), 3)  # steps 2 and 4, then it failed
    with pytest.raises(ValueError, match="monitor lists"):
        ReplicaDynamics(gentle_model(), [ethanol] * 3, temperature_K=300, monitors=monitors)


def test_wall_clock_cap_ends_the_run_without_a_failure(ethanol):
    """max_wall_s stops after the step that passes it; time_ps says how far the run got and
    the live replicas' stable time is that run time."""
    replicas = ReplicaDynamics(gentle_model(), [ethanol, ethanol], temperature_K=300, seed=1)
    result = replicas.run(steps=10_000, progress=False, max_wall_s=0.0)
    assert result.steps == 1 and result.time_ps == pytest.approx(0.0005)
    assert result.failures == [None, None]
    assert result.stable_times_ps == [pytest.approx(0.0005)] * 2


@pytest.mark.slow
def test_compiled_replicas_follow_the_eager_ones(aspirin, ethanol):
    """ReplicaDynamics(compile=True) (minutes of compiling: opt-in) steps the same float64 NVE
    trajectories as the eager network, for molecules of different sizes in one batch."""
    runs = []
    for compile in (False, True):
        replicas = ReplicaDynamics(
            gentle_model(), [aspirin, ethanol], temperature_K=300, ensemble="nve", seed=4, compile=compile
        )
        start = replicas.replica_atoms(0).positions.copy()
        replicas.run(steps=20, progress=False)
        runs.append(replicas)
    assert np.abs(runs[0].replica_atoms(0).positions - start).max() > 1e-3  # the atoms moved
    for k in range(2):
        eager, compiled = runs[0].replica_atoms(k), runs[1].replica_atoms(k)
        np.testing.assert_allclose(compiled.positions, eager.positions, atol=1e-9, rtol=0)
        np.testing.assert_allclose(compiled.get_velocities(), eager.get_velocities(), atol=1e-9, rtol=0)


def test_md_cli_replicas_with_shipped_model(tmp_path, capsys):
    """``equipot md aspirin --replicas 2``: independent copies, batched, each with its own
    trajectory, drift and monitors; a reference blown up by 20 % makes the contact monitor stop
    every copy at its first check, and the report says so per replica."""
    import csv
    import json

    from ase.io import read, write

    from equipot.cli import main
    from equipot.data.readers import read_structure

    out = tmp_path / "nve"
    common = [
        "md",
        "aspirin",
        "--model",
        "aspirin-gfn2-small",
        "--replicas",
        "2",
        "--duration",
        "20steps",
        "--traj-every",
        "5",
        "--log-every",
        "5",
        "--no-progress",
    ]
    assert main(common + ["--ensemble", "nve", "--temperature", "300", "--out", str(out)]) == 0
    for name in ("md.csv", "report.json", "report.png", "replica_0.extxyz", "replica_1.extxyz"):
        assert (out / name).is_file(), name
    report = json.loads((out / "report.json").read_text())
    assert report["settings"]["replicas"] == 2 and report["settings"]["steps_done"] == 20
    rows = report["replicas"]
    assert [r["monitor"] for r in rows] == [None, None] and [r["time_ps"] for r in rows] == [0.01, 0.01]
    for r in rows:  # 10 fs of NVE with the trained model: the total energy stays put
        assert r["drift"]["max_abs_dev_meV_per_atom"] < 1.0
    frames = [read(out / f"replica_{k}.extxyz", index=":") for k in range(2)]
    assert [len(f) for f in frames] == [4, 4]
    assert np.abs(frames[0][-1].positions - frames[1][-1].positions).max() > 1e-3  # independent starts
    assert len(list(csv.reader(open(out / "md.csv")))) == 1 + 4
    assert "2 replicas" in capsys.readouterr().out

    aspirin = read_structure("aspirin")
    centre = aspirin.positions.mean(axis=0)
    blown = aspirin.copy()
    blown.positions = centre + 1.2 * (aspirin.positions - centre)
    write(tmp_path / "ref.extxyz", [blown, blown])
    watched = tmp_path / "watched"
    assert (
        main(
            common
            + ["--temperature", "10", "--reference", str(tmp_path / "ref.extxyz"), "--contacts", "--out", str(watched)]
        )
        == 0
    )
    rows = json.loads((watched / "report.json").read_text())["replicas"]
    assert [r["monitor"] for r in rows] == ["contact", "contact"]
    assert [r["time_ps"] for r in rows] == [0.005, 0.005]  # the first check, step 10
    assert all(r["hr_error"] > 0 for r in rows)
    assert "stopped at 0.005 ps (contact" in capsys.readouterr().out

    for bad in (["--ensemble", "bussi"], ["--uncertainty", "0.1"], ["--replicas", "0"]):
        assert main(common + bad + ["--out", str(tmp_path / "bad")]) == 2
        assert "--replicas" in capsys.readouterr().err
