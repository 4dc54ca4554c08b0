"""run_md over ASE integrators with ASE calculators (EMT, a harmonic toy): NVE drift, Langevin
reproducibility and temperature, early stopping, files written, and the ``equipot md`` CLI."""

import csv
import json

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from ase.cluster import Icosahedron
from ase.constraints import FixAtoms
from ase.io import read

from equipot.cli import main
from equipot.dynamics import cli as md_cli
from equipot.dynamics.md import run_md
from equipot.dynamics.monitors import Monitor, bonds_of
from tests.conftest import molecule


class Springs(Calculator):
    """Harmonic bonds: E = sum k/2 (r - r0)^2 over ``bonds``, k in eV/Å^2, r0 in Å."""

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, bonds, rest, k=10.0):
        super().__init__()
        self.bonds, self.rest, self.k = np.asarray(bonds), np.asarray(rest, float), k

    @classmethod
    def around(cls, atoms, k=10.0):
        """Springs on the bonds of ``atoms`` at their present lengths (a minimum)."""
        bonds = bonds_of(atoms)
        d = atoms.positions[bonds[:, 1]] - atoms.positions[bonds[:, 0]]
        return cls(bonds, np.linalg.norm(d, axis=1), k)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        i, j = self.bonds.T
        d = self.atoms.positions[j] - self.atoms.positions[i]
        r = np.linalg.norm(d, axis=1)
        f = (-self.k * (r - self.rest) / r)[:, None] * d  # force on j
        forces = np.zeros((len(self.atoms), 3))
        np.add.at(forces, j, f)
        np.add.at(forces, i, -f)
        energy = 0.5 * self.k * ((r - self.rest) ** 2).sum()
        self.results = {"energy": energy, "free_energy": energy, "forces": forces}


class Explodes(Calculator):
    implemented_properties = ["energy", "forces"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        raise ValueError("positions are not finite")


class ExplodesLater(EMT):
    """EMT for the first ``calls`` evaluations, then NaN forces (or ``error`` raised)."""

    def __init__(self, calls: int, error: Exception | None = None) -> None:
        super().__init__()
        self.calls, self.error = calls, error

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.calls -= 1
        if self.calls < 0:
            if self.error is not None:
                raise self.error
            self.results["forces"] = np.full_like(self.results["forces"], np.nan)


def cu_cluster():
    atoms = Icosahedron("Cu", 2)  # 13 atoms
    atoms.calc = EMT()
    return atoms


def water_springs():
    atoms = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    atoms.calc = Springs.around(atoms, k=30.0)
    return atoms


def test_nve_drift_of_harmonic_toy_is_zero(tmp_path):
    atoms = water_springs()
    result = run_md(
        atoms,
        ensemble="nve",
        temperature_K=300,
        timestep_fs=0.25,
        steps=2000,
        monitors=[],
        log_every=5,
        log_path=tmp_path / "nve.csv",
        progress=False,
    )
    assert not result.stopped_early and result.steps_done == 2000 and result.time_ps == pytest.approx(0.5)
    drift = result.drift
    assert abs(drift["slope_meV_per_atom_per_ps"]) < 0.05, drift
    assert drift["fluctuation_meV_per_atom"] < 0.5 and drift["max_abs_dev_meV_per_atom"] < 1.5, drift
    rows = list(csv.DictReader(open(tmp_path / "nve.csv")))
    assert list(rows[0]) == ["time_ps", "epot_eV", "ekin_eV", "etot_eV", "temperature_K"]
    assert len(rows) == 401 and float(rows[-1]["time_ps"]) == pytest.approx(0.5)
    # the molecule vibrated: kinetic and potential energy exchanged
    assert np.ptp([float(r["epot_eV"]) for r in rows]) > 0.01


def test_start_is_at_exact_temperature_without_drift(tmp_path):
    atoms = cu_cluster()
    run_md(atoms, ensemble="nve", temperature_K=400, steps=1, monitors=[], progress=False, log_path=tmp_path / "md.csv")
    first = next(csv.DictReader(open(tmp_path / "md.csv")))
    assert float(first["time_ps"]) == 0 and float(first["temperature_K"]) == pytest.approx(400, rel=1e-9)
    assert np.abs(atoms.get_momenta().sum(0)).max() < 1e-10
    assert atoms.constraints == []  # FixCom was for the run only


def test_langevin_is_reproducible_with_seed():
    runs = []
    for seed in (7, 7, 8):
        atoms = cu_cluster()
        run_md(atoms, temperature_K=500, timestep_fs=2.0, steps=40, seed=seed, progress=False)
        runs.append(atoms.positions.copy())
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.allclose(runs[0], runs[2])


@pytest.mark.parametrize("ensemble, steps", [("nvt", 1500), ("bussi", 600), ("nose-hoover", 600)])
def test_thermostat_reaches_target_temperature(tmp_path, ensemble, steps):
    atoms = cu_cluster()
    log = tmp_path / "md.csv"
    result = run_md(
        atoms,
        ensemble=ensemble,
        temperature_K=600,
        timestep_fs=4.0,
        friction_per_fs=0.05,
        thermostat_time_fs=40.0,
        steps=steps,
        seed=1,
        log_path=log,
        log_every=5,
        progress=False,
        monitors=[],
    )  # a hot 13-atom Cu cluster rearranges: the molecular bond test does not apply
    assert not result.stopped_early, result.failure
    temps = np.array([float(r["temperature_K"]) for r in csv.DictReader(open(log))])
    mean = temps[len(temps) // 3 :].mean()  # after equilibration (half the kinetic energy goes to potential)
    assert mean == pytest.approx(600, rel=0.2), mean
    assert np.allclose(atoms.get_momenta().sum(0), 0, atol=1e-8)  # FixCom kept the centre still


def test_monitor_stops_run_and_report_records_it(tmp_path):
    class FailAt(Monitor):
        name = "test"

        def check(self, atoms, step, time_ps):
            return "planned" if step >= 30 else None

    atoms = cu_cluster()
    result = run_md(
        atoms,
        temperature_K=300,
        steps=100,
        monitors=[FailAt()],
        check_every=10,
        traj_every=10,
        report_dir=tmp_path,
        progress=False,
    )
    assert result.stopped_early and result.failure.step == 30 and result.steps_done == 30
    assert result.time_to_failure_ps == pytest.approx(0.015)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["failure"] == {
        "monitor": "test",
        "reason": "planned",
        "step": 30,
        "time_ps": pytest.approx(0.015),
        "replica": None,
    }
    assert report["result"]["stopped_early"] is True and report["settings"]["calculator"] == "EMT"
    assert len(read(tmp_path / "trajectory.extxyz", index=":")) == 4  # steps 0, 10, 20, 30
    assert (tmp_path / "report.png").stat().st_size > 1000
    assert set(result.paths) == {"trajectory", "log", "report", "plot"}


def test_only_a_blow_up_is_a_failure_and_constraints_are_restored(tmp_path):
    atoms = cu_cluster()
    atoms.set_constraint(FixAtoms([0]))
    atoms.calc = Explodes()  # cannot evaluate even the start: the error propagates, nothing written
    with pytest.raises(ValueError, match="not finite"):
        run_md(atoms, temperature_K=300, steps=10, monitors=[], progress=False, report_dir=tmp_path / "a")
    assert not (tmp_path / "a").exists()
    assert len(atoms.constraints) == 1 and isinstance(atoms.constraints[0], FixAtoms)
    atoms.calc = ExplodesLater(calls=6)  # NaN forces after 5 steps: a blow-up, recorded as a failure
    result = run_md(atoms, temperature_K=300, steps=20, monitors=[], progress=False, init_velocities=False)
    assert result.stopped_early and result.failure.monitor == "calculator" and "not finite" in result.failure.reason
    assert 0 < result.steps_done < 20
    assert len(atoms.constraints) == 1 and isinstance(atoms.constraints[0], FixAtoms)
    atoms = cu_cluster()
    atoms.calc = ExplodesLater(calls=6, error=RuntimeError("a bug"))  # not a blow-up: it propagates
    with pytest.raises(RuntimeError, match="a bug"):
        run_md(atoms, temperature_K=300, steps=20, monitors=[], progress=False, init_velocities=False)


def test_grouped_settings_equal_keywords(tmp_path):
    """The ``Integrator``/``Outputs``/``Restarts`` objects and their fields as keywords run the
    same trajectory and write the same files; a keyword of no group is a TypeError."""
    from equipot.dynamics import Integrator, Outputs, Restarts

    flat, grouped = cu_cluster(), cu_cluster()
    run_md(
        flat,
        temperature_K=500,
        steps=30,
        seed=3,
        ensemble="bussi",
        timestep_fs=2.0,
        thermostat_time_fs=20.0,
        log_every=5,
        report_dir=tmp_path / "a",
        restart_every=10,
        progress=False,
    )
    run_md(
        grouped,
        temperature_K=500,
        steps=30,
        seed=3,
        integrator=Integrator("bussi", timestep_fs=2.0, thermostat_time_fs=20.0),
        outputs=Outputs(report_dir=tmp_path / "b", log_every=5, progress=False),
        restarts=Restarts(every=10),
    )
    np.testing.assert_array_equal(flat.positions, grouped.positions)
    assert (tmp_path / "a" / "md.csv").read_text() == (tmp_path / "b" / "md.csv").read_text()
    assert (tmp_path / "b" / "restart.npz").is_file()
    settings = [json.loads((tmp_path / d / "report.json").read_text())["settings"] for d in "ab"]
    assert settings[0] == settings[1] and settings[0]["thermostat_time_fs"] == 20.0
    with pytest.raises(TypeError, match="traj_evry"):
        run_md(cu_cluster(), temperature_K=300, steps=1, traj_evry=5)


def test_traj_format_and_hr_error_against_itself(tmp_path):
    atoms = cu_cluster()
    traj = tmp_path / "run.traj"
    result = run_md(atoms, temperature_K=300, steps=20, traj_path=traj, traj_every=5, progress=False)
    frames = read(traj, index=":")
    assert len(frames) == 5
    again = cu_cluster()
    result = run_md(
        again,
        temperature_K=300,
        steps=20,
        traj_path=tmp_path / "b.extxyz",
        traj_every=5,
        reference=frames,
        progress=False,
    )
    assert result.hr_error == pytest.approx(0.0, abs=1e-12)  # same seed, same trajectory


def test_bad_input_is_a_clear_value_error():
    atoms = cu_cluster()
    with pytest.raises(ValueError, match="ensemble"):
        run_md(atoms, ensemble="npt", temperature_K=300, steps=1)
    with pytest.raises(ValueError, match="exactly one"):
        run_md(atoms, temperature_K=300, steps=1, duration_ps=1.0)
    with pytest.raises(ValueError, match=r"\.traj"):
        run_md(atoms, temperature_K=300, steps=1, traj_path="x.pdb")
    atoms.calc = None
    with pytest.raises(ValueError, match="calculator"):
        run_md(atoms, temperature_K=300, steps=1)


def test_parse_duration():
    assert md_cli.parse_duration("10ps", 0.5) == 20000
    assert md_cli.parse_duration("2000steps", 0.5) == 2000
    assert md_cli.parse_duration("500fs", 0.5) == 1000
    assert md_cli.parse_duration("0.1", 0.5) == 200
    for bad in ("ten ps", "0fs", "2.5steps"):
        with pytest.raises(ValueError):
            md_cli.parse_duration(bad, 0.5)


def test_md_cli_writes_csv_json_png(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(md_cli, "_make_calculator", lambda args: Springs.around(molecule("ethanol")))
    out = tmp_path / "run"
    rc = main(
        [
            "md",
            "ethanol",
            "--model",
            "toy",
            "--duration",
            "20steps",
            "--ensemble",
            "nve",
            "--temperature",
            "300",
            "--out",
            str(out),
            "--no-progress",
            "--traj-every",
            "5",
            "--log-every",
            "5",
        ]
    )
    assert rc == 0
    for name in ("md.csv", "report.json", "report.png", "trajectory.extxyz"):
        assert (out / name).is_file(), name
    report = json.loads((out / "report.json").read_text())
    assert report["result"]["steps_done"] == 20 and report["settings"]["ensemble"] == "nve"
    assert "slope_meV_per_atom_per_ps" in report["drift"]
    assert len(list(csv.DictReader(open(out / "md.csv")))) == 5
    printed = capsys.readouterr().out
    assert "C2H6O" in printed and "stable" in printed
    # a reference trajectory: h(r) error of the run against its own frames is reported
    rc = main(
        [
            "md",
            "ethanol",
            "--model",
            "toy",
            "--duration",
            "20steps",
            "--ensemble",
            "nve",
            "--out",
            str(tmp_path / "again"),
            "--no-progress",
            "--traj-every",
            "5",
            "--reference",
            str(out / "trajectory.extxyz"),
        ]
    )
    assert rc == 0
    assert json.loads((tmp_path / "again" / "report.json").read_text())["hr_error"] == pytest.approx(0.0, abs=1e-9)
    capsys.readouterr()
    assert main(["md", "ethanol"]) == 2  # --model is required
    assert "--model" in capsys.readouterr().err
    with pytest.raises(SystemExit) as version:
        main(["--version"])
    assert version.value.code == 0
    import equipot

    assert capsys.readouterr().out.strip() == f"equipot {equipot.__version__}"
    assert main(["md", "notamolecule", "--model", "toy"]) == 2
    assert "shipped" in capsys.readouterr().err


def test_md_cli_contacts_needs_a_reference_and_stops_a_squeezed_run(tmp_path, monkeypatch, capsys):
    """``--contacts``: the reference here is aspirin blown up by 20 %, so every heavy-atom pair
    more than two bonds apart starts over 0.25 Å closer than the reference ever has it, while
    each bond stays within 0.5 Å of its (stretched) mean: the contact monitor alone fires."""
    from ase.io import write

    aspirin = molecule("aspirin")
    monkeypatch.setattr(md_cli, "_make_calculator", lambda args: Springs.around(molecule("aspirin")))
    assert main(["md", "aspirin", "--model", "toy", "--contacts", "--duration", "20steps"]) == 2
    assert "--reference" in capsys.readouterr().err
    blown = aspirin.copy()
    centre = blown.positions.mean(axis=0)
    blown.positions = centre + 1.2 * (blown.positions - centre)
    write(tmp_path / "ref.extxyz", [blown, blown])
    common = [
        "md",
        "aspirin",
        "--model",
        "toy",
        "--duration",
        "20steps",
        "--ensemble",
        "nve",
        "--temperature",
        "10",
        "--no-progress",
        "--reference",
        str(tmp_path / "ref.extxyz"),
    ]
    assert main(common + ["--out", str(tmp_path / "plain")]) == 0
    assert json.loads((tmp_path / "plain" / "report.json").read_text())["result"]["failure"] is None
    assert main(common + ["--out", str(tmp_path / "watched"), "--contacts"]) == 0
    failure = json.loads((tmp_path / "watched" / "report.json").read_text())["result"]["failure"]
    assert failure["monitor"] == "contact" and "0.25 Å" in failure["reason"]


def test_wall_clock_cap_is_not_a_failure():
    """max_wall_s ends the run at the first stop point after the cap, as a completed run."""
    atoms = cu_cluster()
    result = run_md(
        atoms,
        temperature_K=300,
        timestep_fs=2.0,
        steps=100_000,
        progress=False,
        max_wall_s=0.0,
        log_every=10,
        check_every=10,
    )
    assert result.steps_done == 10 and result.time_ps == pytest.approx(0.02)
    assert not result.stopped_early and result.failure is None


def test_one_result_type_for_one_system_and_a_batch():
    """``MDResult`` of a batch: the earliest failure is ``failure``; the run stopped early
    only when every system failed; ``to_dict`` is plain JSON without the logged arrays."""
    from equipot.dynamics.results import Failure, MDResult

    late, early = (
        Failure("bonds", "stretched", 40, 0.02, replica=0),
        Failure("temperature", "hot", 10, 0.005, replica=2),
    )
    batch = MDResult(
        steps_done=50,
        time_ps=0.025,
        wall_s=1.0,
        failures=[late, None, early],
        energies=np.zeros((5, 3)),
        log_time_ps=np.arange(5.0),
        positions=[np.zeros((2, 3, 3))] * 3,
    )
    assert batch.failure is early and batch.time_to_failure_ps == 0.005 and not batch.stopped_early
    assert batch.stable_times_ps == [0.02, 0.025, 0.005] and batch.steps == 50
    text = json.dumps(batch.to_dict())
    assert '"replica": 2' in text and "energies" not in text
    single = MDResult(steps_done=8, time_ps=0.004, wall_s=1.0, failures=[early])
    assert single.stopped_early and single.to_dict()["failure"]["monitor"] == "temperature"
