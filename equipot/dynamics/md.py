"""MD driver over ASE's integrators, with stability monitors, a CSV log, a trajectory and a report.

Works with any ASE calculator attached to ``atoms`` (equipot's ``EquiformerCalculator`` or
ASE's own); nothing here imports the model.
"""

from __future__ import annotations

import csv
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from ase import Atoms, units

from equipot.dynamics.analysis import energy_drift
from equipot.dynamics.steps import n_steps

ENSEMBLES = ("nvt", "nve", "bussi", "nose-hoover")
LOG_COLUMNS = ["time_ps", "epot_eV", "ekin_eV", "etot_eV", "temperature_K"]


@dataclass
class Failure:
    """Why and when a run stopped: the monitor's name, its reason, the step and time (ps)."""

    monitor: str
    reason: str
    step: int
    time_ps: float


@dataclass
class MDResult:
    """Outcome of ``run_md``. Times in ps, wall time in s; ``drift`` (NVE only) is
    ``energy_drift``'s dict (meV/atom/ps, meV/atom); ``paths`` names the files written;
    ``hr_error`` is Fu et al.'s h(r) error against the reference, when one was given."""

    steps_done: int
    time_ps: float
    stopped_early: bool
    failure: Failure | None
    time_to_failure_ps: float | None
    wall_s: float
    ns_per_day: float
    drift: dict[str, float] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)
    hr_error: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_integrator(atoms: Atoms, ensemble: str, timestep_fs: float, temperature_K: float,
                    friction_per_fs: float, rng: np.random.Generator, thermostat_time_fs: float = 100.0):
    """The ASE integrator for ``ensemble``: "nvt" Langevin (friction 1/fs), "nve" velocity
    Verlet, "bussi" stochastic velocity rescaling and "nose-hoover" a Nose-Hoover chain (both
    with relaxation time ``thermostat_time_fs``)."""
    dt = timestep_fs * units.fs
    if ensemble == "nvt":
        from ase.md.langevin import Langevin

        # fixcm=True is deprecated (and mis-samples small systems); run_md attaches FixCom instead
        return Langevin(atoms, dt, temperature_K=temperature_K, friction=friction_per_fs / units.fs,
                        fixcm=False, rng=rng)
    if ensemble == "nve":
        from ase.md.verlet import VelocityVerlet

        return VelocityVerlet(atoms, dt)
    if ensemble == "bussi":
        try:
            from ase.md.bussi import Bussi
        except ImportError as err:
            raise ValueError("ensemble 'bussi' needs ase.md.bussi (ASE >= 3.23)") from err
        return Bussi(atoms, dt, temperature_K=temperature_K, taut=thermostat_time_fs * units.fs, rng=rng)
    if ensemble == "nose-hoover":
        try:
            from ase.md.nose_hoover_chain import NoseHooverChainNVT
        except ImportError as err:
            raise ValueError("ensemble 'nose-hoover' needs ase.md.nose_hoover_chain (ASE >= 3.24)") from err
        return NoseHooverChainNVT(atoms, dt, temperature_K=temperature_K, tdamp=thermostat_time_fs * units.fs)
    raise ValueError(f"ensemble must be one of {', '.join(ENSEMBLES)}; got {ensemble!r}")


def initialise_velocities(atoms: Atoms, temperature_K: float, rng: np.random.Generator,
                          exact: bool = True) -> None:
    """Maxwell-Boltzmann velocities at ``temperature_K``, no centre-of-mass motion, no rotation
    (non-periodic systems), then (``exact``) rescaled so the instantaneous temperature is the
    target: a small molecule's random draw is otherwise tens of percent off."""
    from ase.md import velocitydistribution as vd

    if hasattr(vd, "thermalize_momenta"):  # ASE >= 3.29 deprecates MaxwellBoltzmannDistribution
        vd.thermalize_momenta(atoms, temperature_K, rng=rng)
    else:
        vd.MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=rng)
    Stationary, ZeroRotation = vd.Stationary, vd.ZeroRotation
    Stationary(atoms)
    if not atoms.pbc.any() and len(atoms) > 2:
        ZeroRotation(atoms)  # a diatomic's ZeroRotation divides by a singular inertia tensor
    t_now = atoms.get_temperature()
    if exact and t_now > 0 and temperature_K > 0:
        atoms.set_velocities(atoms.get_velocities() * np.sqrt(temperature_K / t_now))


class _TrajectoryWriter:
    """Frames to an ASE ``.traj`` or an ``.extxyz``/``.xyz`` file, by extension."""

    def __init__(self, path: Path, atoms: Atoms) -> None:
        suffix = path.suffix.lower()
        if suffix not in (".traj", ".extxyz", ".xyz"):
            raise ValueError(f"trajectory must end in .traj, .extxyz or .xyz, got {path.name!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".traj":
            from ase.io.trajectory import Trajectory

            self._traj, self._fh = Trajectory(str(path), "w", atoms), None
        else:
            self._traj, self._fh = None, open(path, "w")

    def write(self, atoms: Atoms) -> None:
        if self._traj is not None:
            self._traj.write(atoms)
        else:
            from ase.io import write

            write(self._fh, atoms, format="extxyz")
            self._fh.flush()  # a run killed mid-way still leaves readable frames

    def close(self) -> None:
        (self._traj or self._fh).close()


def run_md(
    atoms: Atoms,
    *,
    ensemble: str = "nvt",
    temperature_K: float,
    timestep_fs: float = 0.5,
    friction_per_fs: float = 0.01,
    thermostat_time_fs: float = 100.0,
    steps: int | None = None,
    duration_ps: float | None = None,
    seed: int = 0,
    traj_path: str | Path | None = None,
    traj_every: int = 10,
    log_path: str | Path | None = None,
    log_every: int = 10,
    monitors: Sequence | None = None,
    check_every: int = 10,
    progress: bool = True,
    fix_com: bool = True,
    init_velocities: bool = True,
    exact_temperature: bool = True,
    report_dir: str | Path | None = None,
    reference=None,
    max_wall_s: float | None = None,
) -> MDResult:
    """Run MD on ``atoms`` (calculator attached) for ``steps`` or ``duration_ps``, or until a
    monitor (``default_monitors`` when None; ``[]`` for none) reports a failure.

    Units: temperature K, timestep fs, Langevin friction 1/fs, thermostat time fs. Starts
    from Maxwell-Boltzmann velocities (seeded; ``init_velocities=False`` keeps the atoms'
    own). ``fix_com`` attaches ``FixCom`` for the run (the atoms' constraints are restored
    afterwards). ``traj_path`` (.traj or .extxyz) gets a frame every ``traj_every`` steps,
    ``log_path`` a CSV row (time_ps, epot_eV, ekin_eV, etot_eV, temperature_K) every
    ``log_every``; monitors run every ``check_every`` steps. ``report_dir`` writes
    ``report.json`` and ``report.png`` there (and the log and trajectory, unless given
    elsewhere). ``reference`` (frames, (T, n, 3) array or a trajectory file) adds Fu et al.'s
    h(r) error to the report. ``max_wall_s`` ends the run (not a failure) after that much wall
    time; ``result.time_ps`` says how far it got.
    """
    from ase.constraints import FixCom
    from tqdm.auto import tqdm

    from equipot.dynamics.monitors import default_monitors

    if ensemble not in ENSEMBLES:
        raise ValueError(f"ensemble must be one of {', '.join(ENSEMBLES)}; got {ensemble!r}")
    total = n_steps(steps, duration_ps, timestep_fs)
    if temperature_K < 0:
        raise ValueError(f"temperature_K must be >= 0, got {temperature_K}")
    for name, value in (("traj_every", traj_every), ("log_every", log_every), ("check_every", check_every)):
        if int(value) < 1:
            raise ValueError(f"{name} must be a positive number of steps, got {value}")
    if atoms.calc is None:
        raise ValueError("attach a calculator to atoms first (atoms.calc = ...)")
    monitors = default_monitors(temperature_K) if monitors is None else list(monitors)
    report = Path(report_dir) if report_dir is not None else None
    if report is not None:
        report.mkdir(parents=True, exist_ok=True)
        traj_path = traj_path if traj_path is not None else report / "trajectory.extxyz"
        log_path = log_path if log_path is not None else report / "md.csv"

    rng = np.random.default_rng(seed)
    saved_constraints = list(atoms.constraints)
    if fix_com:
        atoms.set_constraint(saved_constraints + [FixCom()])
    if init_velocities:
        initialise_velocities(atoms, temperature_K, rng, exact=exact_temperature)
    dyn = make_integrator(atoms, ensemble, timestep_fs, temperature_K, friction_per_fs, rng, thermostat_time_fs)
    for monitor in monitors:
        monitor.start(atoms, temperature_K)

    dt_ps = timestep_fs / 1000.0
    rows: list[dict[str, float]] = []
    paths: dict[str, str] = {}
    writer = log_fh = log_csv = None
    if traj_path is not None:
        writer = _TrajectoryWriter(Path(traj_path), atoms)
        paths["trajectory"] = str(traj_path)
    if log_path is not None:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        log_fh = open(log_path, "w", newline="")
        log_csv = csv.DictWriter(log_fh, fieldnames=LOG_COLUMNS)
        log_csv.writeheader()
        paths["log"] = str(log_path)

    def record(step: int) -> None:
        epot, ekin = atoms.get_potential_energy(), atoms.get_kinetic_energy()
        row = {"time_ps": step * dt_ps, "epot_eV": epot, "ekin_eV": ekin, "etot_eV": epot + ekin,
               "temperature_K": atoms.get_temperature()}
        rows.append(row)
        if log_csv is not None:
            log_csv.writerow(row)
            log_fh.flush()

    failure: Failure | None = None
    # counted in whole steps and shown in ps (unit_scale): float increments would add up past the total
    bar = tqdm(total=total, disable=not progress, unit="ps", unit_scale=dt_ps, desc=f"MD {ensemble}",
               bar_format="{l_bar}{bar}| {n:.3f}/{total:.3f} ps [{elapsed}<{remaining}{postfix}]")
    t0 = time.perf_counter()
    step = 0
    try:
        try:
            record(0)
        except Exception as err:  # a calculator that cannot even start: report it like a blow-up
            failure = Failure("calculator", f"{type(err).__name__}: {err}", 0, 0.0)
        if writer and failure is None:
            writer.write(atoms)
        while step < total and failure is None:
            # advance to the next step where something happens, in one integrator call
            nxt = min(total, *((step // k + 1) * k for k in (log_every, traj_every, check_every)))
            try:
                dyn.run(nxt - step)
            except Exception as err:  # a model that blows up raises (NaN positions, ...)
                step = int(dyn.nsteps)
                failure = Failure("calculator", f"{type(err).__name__}: {err}", step, step * dt_ps)
                break
            bar.update(nxt - step)
            step = nxt
            if step % log_every == 0 or step == total:
                record(step)
                elapsed = time.perf_counter() - t0
                bar.set_postfix_str(f"{step * dt_ps * 1e-3 / elapsed * 86400:.3g} ns/day" if elapsed > 0 else "")
            if writer and step % traj_every == 0:
                writer.write(atoms)
            if step % check_every == 0 or step == total:
                for monitor in monitors:
                    reason = monitor.check(atoms, step, step * dt_ps)
                    if reason:
                        failure = Failure(monitor.name, reason, step, step * dt_ps)
                        break
            if max_wall_s is not None and time.perf_counter() - t0 > max_wall_s:
                break
    finally:
        bar.close()
        if writer:
            writer.close()
        if log_fh:
            log_fh.close()
        atoms.set_constraint(saved_constraints)
    wall = time.perf_counter() - t0

    time_ps = step * dt_ps
    result = MDResult(
        steps_done=step, time_ps=time_ps, stopped_early=failure is not None, failure=failure,
        time_to_failure_ps=failure.time_ps if failure else None, wall_s=wall,
        ns_per_day=time_ps * 1e-3 / wall * 86400 if wall > 0 else float("nan"), paths=paths,
    )
    if ensemble == "nve" and len(rows) >= 2:
        result.drift = energy_drift([r["time_ps"] for r in rows], [r["etot_eV"] for r in rows], len(atoms))
    if reference is not None and traj_path is not None and step > 0:
        from equipot.dynamics.analysis import distance_histogram_error
        from equipot.data.readers import load_positions

        result.hr_error = distance_histogram_error(load_positions(traj_path), load_positions(reference))
    if report is not None:
        from equipot.dynamics.report import write_report

        settings = dict(ensemble=ensemble, temperature_K=temperature_K, timestep_fs=timestep_fs,
                        friction_per_fs=friction_per_fs if ensemble == "nvt" else None,
                        thermostat_time_fs=thermostat_time_fs if ensemble in ("bussi", "nose-hoover") else None,
                        steps=total, steps_done=step, seed=seed, fix_com=fix_com, n_atoms=len(atoms),
                        formula=atoms.get_chemical_formula(), calculator=type(atoms.calc).__name__,
                        monitors=[getattr(m, "name", type(m).__name__) for m in monitors],
                        check_every=check_every, log_every=log_every, traj_every=traj_every)
        write_report(report, settings, result, rows, traj_path=traj_path, reference=reference)
    return result
