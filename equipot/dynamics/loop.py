"""The stepping of ``run_md``: integrator calls between the steps where something happens (a
log row, a frame, a monitor check, a restart state), the progress bar, the output files, and
the restart state a run saves and resumes from."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from ase import Atoms

from equipot.dynamics.outputs import LogWriter, TrajectoryWriter
from equipot.dynamics.results import Failure
from equipot.errors import EquipotError, StructureError

if TYPE_CHECKING:
    from equipot.dynamics.restart import RestartState


@dataclass
class RestartRun:
    """Where and how often a run saves its state, and the state it resumes from (or None)."""

    every: int | None
    path: Path | None
    resumed: "RestartState | None" = None


def restore_atoms(state, atoms: Atoms) -> None:
    """Positions and momenta of a saved state, into a structure like the one that wrote it."""
    positions, momenta = state.arrays["positions"], state.arrays["momenta"]
    if positions.shape != atoms.positions.shape:
        raise EquipotError(f"the restart state has {len(positions)} atoms, the structure {len(atoms)}")
    if not np.array_equal(state.arrays["numbers"], atoms.numbers):
        raise EquipotError("the restart state is of other elements than this structure")
    atoms.positions = positions  # bypasses the constraints, which the saved arrays already obey
    atoms.arrays["momenta"] = momenta.copy()


def restore_dynamics(state, dyn, rng: np.random.Generator, monitors: list) -> None:
    """The integrator's variables, the random generator and the monitors of a saved state."""
    from equipot.dynamics.restart import set_generator_state, set_integrator_state, set_monitor_states

    set_integrator_state(dyn, state.arrays, state.meta["integrator"])
    set_generator_state(rng, state.meta["rng"])
    set_monitor_states(monitors, state.monitors)


class Loop:
    """The stepping of ``run_md``: integrator calls between the steps where something happens
    (a log row, a frame, a check, a restart), a progress bar, and the files."""

    def __init__(
        self, atoms, dyn, rng, monitors, total: int, timestep_fs: float, restarts: RestartRun, every: dict[str, int]
    ) -> None:
        self.atoms, self.dyn, self.rng, self.monitors = atoms, dyn, rng, monitors
        self.total, self.dt_ps, self.restarts = total, timestep_fs / 1000.0, restarts
        self.every = dict(every, restart=restarts.every or total + 1)
        self.paths: dict[str, str] = {}
        self.writer = self.log = None

    def record(self, step: int) -> None:
        atoms = self.atoms
        epot, ekin = atoms.get_potential_energy(), atoms.get_kinetic_energy()
        self.log.write(
            {
                "time_ps": step * self.dt_ps,
                "epot_eV": epot,
                "ekin_eV": ekin,
                "etot_eV": epot + ekin,
                "temperature_K": atoms.get_temperature(),
            }
        )

    def save(self, step: int) -> None:
        from equipot.dynamics.restart import RestartState, generator_state, integrator_state, monitor_states, save_state

        arrays, scalars = integrator_state(self.dyn)
        arrays.update(
            positions=self.atoms.get_positions(), momenta=self.atoms.get_momenta(), numbers=self.atoms.numbers.copy()
        )
        meta = dict(
            step=step,
            rng=generator_state(self.rng),
            integrator=scalars,
            log_offset=self.log.tell(),
            traj_offset=self.writer.tell() if self.writer else None,
        )
        save_state(self.restarts.path, RestartState(arrays, meta, monitor_states(self.monitors)))

    def _open(self, traj_path, log_path) -> None:
        state = self.restarts.resumed
        offsets = state.meta if state is not None else {}
        if traj_path is not None:
            self.writer = TrajectoryWriter(Path(traj_path), self.atoms, offsets.get("traj_offset"))
            if self.restarts.every and not self.writer.resumable:
                raise EquipotError("a run that writes restarts needs an .extxyz trajectory, not .traj")
            self.paths["trajectory"] = str(traj_path)
        self.log = LogWriter(Path(log_path) if log_path is not None else None, offsets.get("log_offset"))
        if log_path is not None:
            self.paths["log"] = str(log_path)

    def _first(self) -> None:
        """Log (and write) step 0 of a fresh run (``check_start`` has evaluated it)."""
        self.record(0)
        if self.writer:
            self.writer.write(self.atoms)
        if self.restarts.every:
            self.save(0)
        return None

    def run(self, traj_path, log_path, progress: bool, max_wall_s: float | None, desc: str):
        """Steps to ``total``; returns (step reached, failure or None, wall seconds, log rows)."""
        from tqdm.auto import tqdm

        step = self.restarts.resumed.step if self.restarts.resumed else 0
        self._open(traj_path, log_path)
        # counted in whole steps and shown in ps (unit_scale): float increments would add up past the total
        bar = tqdm(
            total=self.total,
            initial=step,
            disable=not progress,
            unit="ps",
            unit_scale=self.dt_ps,
            desc=desc,
            bar_format="{l_bar}{bar}| {n:.3f}/{total:.3f} ps [{elapsed}<{remaining}{postfix}]",
        )
        t0 = time.perf_counter()
        start = step
        try:
            failure = None
            if self.restarts.resumed is None:
                self._first()
            while step < self.total and failure is None:
                step, failure = self._advance(step)
                bar.update(step - bar.n)
                elapsed = time.perf_counter() - t0
                if elapsed > 0:
                    bar.set_postfix_str(f"{(step - start) * self.dt_ps * 1e-3 / elapsed * 86400:.3g} ns/day")
                if max_wall_s is not None and elapsed > max_wall_s:
                    break
            if self.restarts.every and failure is None and step % self.every["restart"]:
                self.save(step)  # where the run ended, so that extending it loses nothing
        finally:
            bar.close()
            if self.writer:
                self.writer.close()
            self.log.close()
        return step, failure, time.perf_counter() - t0, self.log.rows

    def _advance(self, step: int) -> tuple[int, Failure | None]:
        """To the next step where something happens, in one integrator call; then do it."""
        every = self.every
        nxt = min(self.total, *((step // k + 1) * k for k in every.values()))
        try:
            self.dyn.run(nxt - step)
        except Exception as err:
            # a blow-up (NaN positions, atoms driven onto each other) is a failure of the run;
            # anything else is a bug or a bad input, and propagates
            if not isinstance(err, StructureError) and np.isfinite(self.atoms.positions).all():
                raise
            step = int(self.dyn.nsteps)
            return step, Failure("calculator", f"{type(err).__name__}: {err}", step, step * self.dt_ps)
        step = nxt
        if not np.isfinite(self.atoms.positions).all():
            return step, Failure("calculator", "positions are not finite (the forces blew up)", step, step * self.dt_ps)
        if step % every["log"] == 0 or step == self.total:
            self.record(step)
        if self.writer and step % every["traj"] == 0:
            self.writer.write(self.atoms)
        if step % every["check"] == 0 or step == self.total:
            for monitor in self.monitors:
                reason = monitor.check(self.atoms, step, step * self.dt_ps)
                if reason:
                    return step, Failure(monitor.name, reason, step, step * self.dt_ps)
        if step % every["restart"] == 0:
            self.save(step)
        return step, None
