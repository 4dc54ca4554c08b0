"""MD driver over ASE's integrators, with monitors, logs, trajectory and report."""

from __future__ import annotations

import csv
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from ase import Atoms, units

from equipot.dynamics.analysis import energy_drift


@dataclass
class Failure:
    monitor: str
    reason: str
    step: int
    time_ps: float


@dataclass
class MDResult:
    steps_done: int
    time_ps: float
    wall_s: float
    ns_per_day: float
    failure: Failure | None = None
    drift: dict = field(default_factory=dict)
    paths: dict = field(default_factory=dict)

    @property
    def stopped_early(self) -> bool:
        return self.failure is not None

    @property
    def time_to_failure_ps(self) -> float | None:
        return self.failure.time_ps if self.failure else None


def make_integrator(atoms: Atoms, ensemble: str, timestep_fs: float, temperature_K: float,
                    friction_per_fs: float, rng: np.random.Generator):
    dt = timestep_fs * units.fs
    if ensemble == "nvt":
        from ase.md.langevin import Langevin

        # fixcm=True is deprecated and mis-samples small systems; FixCom does it properly
        return Langevin(atoms, dt, temperature_K=temperature_K, friction=friction_per_fs / units.fs,
                        fixcm=False, rng=rng)
    if ensemble == "nve":
        from ase.md.verlet import VelocityVerlet

        return VelocityVerlet(atoms, dt)
    if ensemble == "bussi":
        from ase.md.bussi import Bussi

        return Bussi(atoms, dt, temperature_K=temperature_K, taut=100 * units.fs, rng=rng)
    if ensemble == "nose-hoover":
        from ase.md.nose_hoover_chain import NoseHooverChainNVT

        return NoseHooverChainNVT(atoms, dt, temperature_K=temperature_K, tdamp=100 * units.fs)
    raise ValueError(f"ensemble must be nvt, nve, bussi or nose-hoover, got {ensemble!r}")


def run_md(
    atoms: Atoms,
    *,
    ensemble: str = "nvt",
    temperature_K: float = 300.0,
    timestep_fs: float = 0.5,
    friction_per_fs: float = 0.01,
    steps: int | None = None,
    duration_ps: float | None = None,
    seed: int = 0,
    monitors: Sequence | None = None,
    check_every: int = 10,
    log_every: int = 10,
    traj_every: int = 100,
    out_dir: str | Path | None = None,
    fix_com: bool = True,
    progress: bool = True,
) -> MDResult:
    """Run MD on ``atoms`` (with its calculator attached) until ``steps``/``duration_ps`` or a
    monitor stops it. Maxwell–Boltzmann start with centre-of-mass motion and rotation removed.
    With ``out_dir``: ``md.csv`` log (time, potential, kinetic, total energy, temperature),
    ``trajectory.extxyz`` every ``traj_every`` steps, ``report.json`` and ``report.png``."""
    from ase.constraints import FixCom
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary, ZeroRotation
    from tqdm.auto import tqdm

    from equipot.dynamics.monitors import default_monitors

    if (steps is None) == (duration_ps is None):
        raise ValueError("give exactly one of steps or duration_ps")
    if steps is None:
        steps = int(round(duration_ps * 1000 / timestep_fs))
    if atoms.calc is None:
        raise ValueError("attach a calculator to atoms first")
    monitors = default_monitors(temperature_K) if monitors is None else list(monitors)
    rng = np.random.default_rng(seed)
    if fix_com and not atoms.pbc.any():
        atoms.set_constraint(FixCom())
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=rng)
    Stationary(atoms)
    if not atoms.pbc.any():
        ZeroRotation(atoms)
    dyn = make_integrator(atoms, ensemble, timestep_fs, temperature_K, friction_per_fs, rng)

    out = Path(out_dir) if out_dir else None
    rows: list[dict] = []
    traj = None
    if out:
        out.mkdir(parents=True, exist_ok=True)
        traj = out / "trajectory.extxyz"
        traj.unlink(missing_ok=True)
    failure: Failure | None = None
    t0 = time.perf_counter()
    bar = tqdm(total=steps, disable=not progress, unit="step", desc=f"MD {ensemble}")
    step = 0
    for step in range(1, steps + 1):
        dyn.run(1)
        time_ps = step * timestep_fs / 1000
        if step % log_every == 0 or step == steps:
            epot, ekin = atoms.get_potential_energy(), atoms.get_kinetic_energy()
            rows.append({"time_ps": time_ps, "epot_eV": epot, "ekin_eV": ekin, "etot_eV": epot + ekin,
                         "temperature_K": atoms.get_temperature()})
            elapsed = time.perf_counter() - t0
            bar.set_postfix(ps=f"{time_ps:.3f}", ns_day=f"{time_ps * 1e-3 / elapsed * 86400:.3g}")
        if traj and step % traj_every == 0:
            from ase.io import write

            write(traj, atoms, format="extxyz", append=True)
        if step % check_every == 0 or step == steps:
            for monitor in monitors:
                reason = monitor.check(atoms, step, time_ps)
                if reason:
                    failure = Failure(getattr(monitor, "name", type(monitor).__name__), reason, step, time_ps)
                    break
        bar.update()
        if failure:
            break
    bar.close()
    wall = time.perf_counter() - t0
    done_ps = step * timestep_fs / 1000
    result = MDResult(steps_done=step, time_ps=done_ps, wall_s=wall,
                      ns_per_day=done_ps * 1e-3 / wall * 86400 if wall > 0 else float("nan"), failure=failure)
    if ensemble == "nve" and rows:
        result.drift = energy_drift([r["time_ps"] for r in rows], [r["etot_eV"] for r in rows], len(atoms))
    if out:
        from equipot.dynamics.report import write_report

        with open(out / "md.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["time_ps", "epot_eV", "ekin_eV", "etot_eV", "temperature_K"])
            writer.writeheader()
            writer.writerows(rows)
        settings = dict(ensemble=ensemble, temperature_K=temperature_K, timestep_fs=timestep_fs,
                        friction_per_fs=friction_per_fs, steps=steps, seed=seed, n_atoms=len(atoms),
                        formula=atoms.get_chemical_formula(), monitors=[getattr(m, "name", "?") for m in monitors])
        result.paths = {"log": str(out / "md.csv"), "trajectory": str(traj), "report": str(out / "report.json"),
                        "plot": str(out / "report.png")}
        write_report(out, settings, result, rows, traj)
    return result


def result_dict(result: MDResult) -> dict:
    d = asdict(result)
    d["stopped_early"] = result.stopped_early
    d["time_to_failure_ps"] = result.time_to_failure_ps
    return d

