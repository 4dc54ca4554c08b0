"""MD driver over ASE's integrators, with stability monitors, a CSV log, a trajectory and a report.

Works with any ASE calculator attached to ``atoms`` (equipot's ``EquiformerCalculator`` or
ASE's own); nothing here imports the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms, units

from equipot.dynamics.analysis import energy_drift
from equipot.dynamics.loop import Loop, RestartRun, restore_atoms, restore_dynamics
from equipot.dynamics.options import Integrator, Outputs, Restarts, grouped
from equipot.dynamics.results import Failure, MDResult  # noqa: F401 (Failure: re-exported for callers of run_md)
from equipot.dynamics.steps import n_steps
from equipot.errors import EquipotError, StructureError

ENSEMBLES = ("nvt", "nve", "bussi", "nose-hoover")


def make_integrator(
    atoms: Atoms,
    ensemble: str,
    timestep_fs: float,
    temperature_K: float,
    friction_per_fs: float,
    rng: np.random.Generator,
    thermostat_time_fs: float = 100.0,
):
    """The ASE integrator for ``ensemble``: "nvt" Langevin (friction 1/fs), "nve" velocity
    Verlet, "bussi" stochastic velocity rescaling and "nose-hoover" a Nose-Hoover chain (both
    with relaxation time ``thermostat_time_fs``)."""
    dt = timestep_fs * units.fs
    if ensemble == "nvt":
        from ase.md.langevin import Langevin

        # fixcm=True is deprecated (and mis-samples small systems); run_md attaches FixCom instead
        return Langevin(
            atoms, dt, temperature_K=temperature_K, friction=friction_per_fs / units.fs, fixcm=False, rng=rng
        )
    if ensemble == "nve":
        from ase.md.verlet import VelocityVerlet

        return VelocityVerlet(atoms, dt)
    if ensemble == "bussi":
        try:
            from ase.md.bussi import Bussi
        except ImportError as err:
            raise EquipotError("ensemble 'bussi' needs ase.md.bussi (ASE >= 3.23)") from err
        return Bussi(atoms, dt, temperature_K=temperature_K, taut=thermostat_time_fs * units.fs, rng=rng)
    if ensemble == "nose-hoover":
        try:
            from ase.md.nose_hoover_chain import NoseHooverChainNVT
        except ImportError as err:
            raise EquipotError("ensemble 'nose-hoover' needs ase.md.nose_hoover_chain (ASE >= 3.24)") from err
        return NoseHooverChainNVT(atoms, dt, temperature_K=temperature_K, tdamp=thermostat_time_fs * units.fs)
    raise EquipotError(f"ensemble must be one of {', '.join(ENSEMBLES)}; got {ensemble!r}")


def initialise_velocities(atoms: Atoms, temperature_K: float, rng: np.random.Generator, exact: bool = True) -> None:
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


def run_md(
    atoms: Atoms,
    *,
    temperature_K: float,
    steps: int | None = None,
    duration_ps: float | None = None,
    seed: int = 0,
    monitors: Sequence | None = None,
    check_every: int = 10,
    max_wall_s: float | None = None,
    integrator: Integrator | None = None,
    outputs: Outputs | None = None,
    restarts: Restarts | None = None,
    **options,
) -> MDResult:
    """Run MD on ``atoms`` (calculator attached) for ``steps`` or ``duration_ps``, or until a
    monitor (``default_monitors`` when None; ``[]`` for none) reports a failure.

    The settings come in three groups (``equipot.dynamics.options``): ``integrator`` (ensemble,
    timestep, thermostat, fixed centre of mass, starting velocities), ``outputs`` (report
    folder, trajectory, log, reference frames, progress bar) and ``restarts``. Any of their
    fields may instead be given as a keyword: ``ensemble="nve"``, ``timestep_fs=1.0``,
    ``report_dir=OUT``, ``traj_every=50``, ``restart_every=1000``, ``resume=True``, ...

    Units: temperature K, timestep fs, Langevin friction 1/fs, thermostat time fs. The run
    starts from seeded Maxwell-Boltzmann velocities unless ``init_velocities=False``; monitors
    run every ``check_every`` steps; ``max_wall_s`` ends the run (not a failure) after that
    much wall time, and ``result.time_ps`` says how far it got.

    With ``restart_every`` the run saves its state (``equipot.dynamics.restart``) that often;
    ``resume=True`` continues from it, with the same arguments as the run that wrote it
    (``steps`` may be larger, to extend it): positions, momenta, integrator, random generator
    and monitors come from the state, and the log and trajectory are cut back to where it was
    saved and appended to, so the run goes on exactly as if it had never stopped.
    """
    from equipot.dynamics.monitors import default_monitors

    integrator, outputs, restarts = grouped(integrator, outputs, restarts, options)
    total = n_steps(steps, duration_ps, integrator.timestep_fs)
    every = dict(traj=outputs.traj_every, log=outputs.log_every, check=check_every)
    _check_arguments(atoms, integrator.ensemble, temperature_K, every)
    monitors = default_monitors(temperature_K) if monitors is None else list(monitors)
    if not restarts.resume:
        check_start(atoms)
    report, traj_path, log_path = outputs.paths()
    saved = restarts.open(report)
    with _FixedCentre(atoms, integrator.fix_com):
        loop = _integrate(atoms, integrator, temperature_K, seed, monitors, total, saved, every)
        step, failure, wall, rows = loop.run(
            traj_path, log_path, outputs.progress, max_wall_s, f"MD {integrator.ensemble}"
        )
    settings = run_settings(
        atoms, monitors, integrator, temperature_K=temperature_K, steps=total, steps_done=step, seed=seed, every=every
    )
    settings.update(calculator=type(atoms.calc).__name__, resumed_at_step=saved.resumed.step if saved.resumed else None)
    result = _result(settings, failure, wall, rows, loop.paths)
    _finish(result, settings, rows, report, traj_path, outputs.reference)
    return result


class _FixedCentre:
    """``FixCom`` attached for the run (when ``on``); the atoms' own constraints restored
    afterwards, whatever happens."""

    def __init__(self, atoms: Atoms, on: bool) -> None:
        self.atoms, self.on, self.saved = atoms, on, list(atoms.constraints)

    def __enter__(self) -> None:
        from ase.constraints import FixCom

        if self.on:
            self.atoms.set_constraint(self.saved + [FixCom()])

    def __exit__(self, *exc) -> None:
        self.atoms.set_constraint(self.saved)


def _integrate(
    atoms: Atoms,
    integrator: Integrator,
    temperature_K: float,
    seed: int,
    monitors: list,
    total: int,
    saved: RestartRun,
    every: dict[str, int],
) -> Loop:
    """A ``Loop`` ready to run: velocities (fresh or restored), the ASE integrator and the
    monitors, started or restored."""
    rng = np.random.default_rng(seed)
    if saved.resumed is not None:
        restore_atoms(saved.resumed, atoms)
    elif integrator.init_velocities:
        initialise_velocities(atoms, temperature_K, rng, exact=integrator.exact_temperature)
    dyn = make_integrator(
        atoms,
        integrator.ensemble,
        integrator.timestep_fs,
        temperature_K,
        integrator.friction_per_fs,
        rng,
        integrator.thermostat_time_fs,
    )
    _start_monitors(saved, dyn, rng, monitors, atoms, temperature_K)
    return Loop(atoms, dyn, rng, monitors, total, integrator.timestep_fs, saved, every)


def _start_monitors(restarts, dyn, rng: np.random.Generator, monitors: list, atoms: Atoms, temperature_K: float):
    """Monitors (and the integrator and generator) from the resumed state, or started afresh."""
    if restarts.resumed is not None:
        restore_dynamics(restarts.resumed, dyn, rng, monitors)
    else:
        for monitor in monitors:
            monitor.start(atoms, temperature_K)


def run_settings(
    atoms: Atoms,
    monitors,
    integrator: Integrator,
    *,
    temperature_K: float,
    steps: int,
    steps_done: int,
    seed: int,
    every: dict[str, int],
    **extra,
) -> dict:
    """The ``settings`` of a run's ``report.json``, one schema for single runs and replicas:
    the integrator's (only the thermostat parameter its ensemble uses), the system's, the
    monitors' names and the intervals (``every``: traj, log, check); ``extra`` adds the front
    end's own (replicas, model, ...)."""
    ensemble = integrator.ensemble
    return dict(
        ensemble=ensemble,
        temperature_K=temperature_K,
        timestep_fs=integrator.timestep_fs,
        friction_per_fs=integrator.friction_per_fs if ensemble == "nvt" else None,
        thermostat_time_fs=integrator.thermostat_time_fs if ensemble in ("bussi", "nose-hoover") else None,
        fix_com=integrator.fix_com,
        steps=steps,
        steps_done=steps_done,
        seed=seed,
        n_atoms=len(atoms),
        formula=atoms.get_chemical_formula(),
        monitors=[getattr(m, "name", type(m).__name__) for m in monitors],
        check_every=every["check"],
        log_every=every["log"],
        traj_every=every["traj"],
        **extra,
    )


def _finish(result: MDResult, settings: dict, rows, report: Path | None, traj_path, reference) -> None:
    """The h(r) error against ``reference`` (when there is one and a trajectory to compare)
    and the report files in ``report``."""
    if reference is not None and traj_path is not None and result.steps_done > 0:
        from equipot.data.readers import load_positions
        from equipot.dynamics.analysis import distance_histogram_error

        result.hr_error = distance_histogram_error(load_positions(traj_path), load_positions(reference))
    if report is not None:
        from equipot.dynamics.report import write_report

        write_report(report, settings, result, rows, traj_path=traj_path, reference=reference)


def _check_arguments(atoms: Atoms, ensemble: str, temperature_K: float, every: dict[str, int]) -> None:
    """Clear errors for a run that cannot start (the step count is checked by ``n_steps``)."""
    if ensemble not in ENSEMBLES:
        raise EquipotError(f"ensemble must be one of {', '.join(ENSEMBLES)}; got {ensemble!r}")
    if temperature_K < 0:
        raise EquipotError(f"temperature_K must be >= 0, got {temperature_K}")
    for name, value in every.items():
        if int(value) < 1:
            raise EquipotError(f"{name}_every must be a positive number of steps, got {value}")
    if atoms.calc is None:
        raise EquipotError("attach a calculator to atoms first (atoms.calc = ...)")


def check_start(atoms: Atoms) -> None:
    """Errors before work: the structure is one a potential can evaluate (finite positions,
    no overlapping atoms, a cell with volume) and the calculator gives it a finite energy and
    forces. Whatever the calculator raises here (an element the model does not know, a missing
    package) propagates: it is the input's fault, not a blow-up, and no file is written yet."""
    from equipot.data.neighbors import check_structure

    check_structure(atoms.positions, atoms.cell.array if atoms.pbc.any() else None, atoms.pbc)
    energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    if not (np.isfinite(energy) and np.isfinite(forces).all()):
        raise StructureError(
            f"the calculator gives a non-finite energy ({energy}) or forces for the starting structure"
        )


def _result(settings: dict, failure, wall: float, rows: list[dict], paths) -> MDResult:
    """The run's ``MDResult`` from its settings, failure (or None), wall time and log rows.

    ns/day counts only the steps this call ran (not those before a resume); the NVE drift is
    fitted to the logged total energy.
    """
    dt_ps = settings["timestep_fs"] / 1000.0
    step = settings["steps_done"]
    ran_ps = (step - (settings["resumed_at_step"] or 0)) * dt_ps
    result = MDResult(
        steps_done=step,
        time_ps=step * dt_ps,
        wall_s=wall,
        failures=[failure],
        ns_per_day=ran_ps * 1e-3 / wall * 86400 if wall > 0 else float("nan"),
        paths=paths,
    )
    if settings["ensemble"] == "nve" and len(rows) >= 2:
        result.drift = energy_drift([r["time_ps"] for r in rows], [r["etot_eV"] for r in rows], settings["n_atoms"])
    return result
