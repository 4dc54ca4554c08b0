"""Batched molecular dynamics: many independent replicas, one model call per step.

Each replica is its own molecule (copies of one, or different ones); they share nothing
but the batch. Langevin (NVT) uses the BAOAB splitting (Leimkuhler & Matthews 2013), which
samples configurations accurately at MD timesteps; NVE is velocity Verlet (BAAB). A replica
that a monitor flags is recorded with its time to failure and dropped from the batch; the
rest go on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from ase import Atoms, units
from ase.calculators.singlepoint import SinglePointCalculator

from equipot.data.graph import AtomicGraph
from equipot.data.neighbors import radius_graph
from equipot.dynamics.replica_report import write_energy_log
from equipot.dynamics.replica_start import check_systems, replica_monitors, start_velocities
from equipot.dynamics.results import Failure, MDResult
from equipot.dynamics.steps import n_steps
from equipot.errors import EquipotError
from equipot.evaluator import Evaluator
from equipot.model import Equiformer
from equipot.potential import Potential


class ReplicaDynamics:
    """Advance many molecules at once with one potential call per step.

    Args:
        model: a ``Potential`` (or bare ``Equiformer``), checkpoint path or shipped model name.
        systems: the starting structures (non-periodic), one per replica.
        temperature_K: Maxwell-Boltzmann start and Langevin target.
        ensemble: "nvt" (Langevin, BAOAB) or "nve" (velocity Verlet).
        timestep_fs, friction_per_fs: integrator settings (friction 1/fs).
        seed: seeds the starting velocities and the Langevin noise.
        monitors: ``equipot.dynamics.monitors.Monitor``s, applied to each live replica every
            ``check_every`` steps; or one such list per replica (different molecules with
            their own reference bond lengths, say).
        skin: Verlet skin of the batched neighbour list, Å.
        compile: run the model's ahead-of-time compiled kernel (``Potential.compile``,
            ``equipot compile``), compiling it first if it does not exist (minutes, once per
            model and dtype); None uses it only where it exists. Compare with
            ``bench/replicas.py [--compile]`` before turning it on for a batch on a CPU.
        workers: on CPU, split each step's call into this many groups of whole replicas,
            computed at once in as many Python threads, each with its share of torch's
            threads. Small tensor operations use two threads poorly, so on 2 cores two
            groups of 16 aspirins with a thread each beat one call of 32 with two threads
            (``bench/replicas.py [--workers 1]``). Default: 2 on CPU when torch has at least
            2 threads and the model eager, else 1 (always 1 on GPU).
    """

    def __init__(
        self,
        model: Potential | Equiformer | str,
        systems: Sequence[Atoms],
        *,
        temperature_K: float,
        ensemble: str = "nvt",
        timestep_fs: float = 0.5,
        friction_per_fs: float = 0.01,
        seed: int = 0,
        device: str = "cpu",
        dtype: str = "float64",
        monitors: Sequence = (),
        check_every: int = 10,
        skin: float = 0.5,
        compile: bool = False,
        workers: int | None = None,
    ) -> None:
        check_systems(ensemble, systems)
        self.evaluator = Evaluator(model, device=device, dtype=dtype, skin=skin, compile=compile, workers=workers)
        self.model = self.evaluator.model
        self.device, self.dtype = self.evaluator.device, self.evaluator.dtype
        self.workers = self.evaluator.workers
        self.ensemble = ensemble
        self.temperature_K = float(temperature_K)
        self.dt = timestep_fs * units.fs
        self.gamma = friction_per_fs / units.fs
        self.check_every = int(check_every)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.templates = [a.copy() for a in systems]
        self._pack(start_velocities(self.templates, temperature_K, seed))
        self.alive = np.ones(len(systems), dtype=bool)
        self.failures: list[Failure | None] = [None] * len(systems)
        # what run() has done so far; kept across calls and in restart states
        self.steps_done = 0
        self._replica_steps = 0
        self._log: list[np.ndarray] = []  # per log row, (R,) total energies (eV), at _log_times (ps)
        self._log_times: list[float] = []
        self._frames: list[list[np.ndarray]] = [[] for _ in systems]
        self.forces, self.energy = self._compute()
        self.monitors = replica_monitors(monitors, len(systems))
        for k, own in enumerate(self.monitors):
            atoms = self.replica_atoms(k)
            for monitor in own:
                monitor.start(atoms, self.temperature_K)

    def _pack(self, velocities: list[np.ndarray]) -> None:
        """The templates as one batch: (N, 3) positions and velocities, (N, 1) masses, (N,)
        numbers and replica index; an element the model lacks is an error here."""
        t = dict(device=self.device, dtype=self.dtype)
        self.sizes = [len(a) for a in self.templates]
        self.replica_of_atom = torch.repeat_interleave(
            torch.arange(len(self.sizes), device=self.device), torch.tensor(self.sizes, device=self.device)
        )
        self.positions = torch.tensor(np.concatenate([a.positions for a in self.templates]), **t)
        self.velocities = torch.tensor(np.concatenate(velocities), **t)
        self.masses = torch.tensor(np.concatenate([a.get_masses() for a in self.templates]), **t).unsqueeze(-1)
        self.numbers = torch.tensor(np.concatenate([a.numbers for a in self.templates]), device=self.device)
        self.model.species_index(self.numbers)

    # --- model ---------------------------------------------------------------------------
    def _live_atoms(self) -> torch.Tensor:
        mask = torch.as_tensor(self.alive, device=self.device)[self.replica_of_atom]
        return mask.nonzero().squeeze(-1)

    def _graph(self) -> AtomicGraph:
        live = self._live_atoms()
        pos = self.positions.index_select(0, live)
        rep = self.replica_of_atom.index_select(0, live)
        batch = torch.unique_consecutive(rep, return_inverse=True)[1]

        def build(cutoff: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            edges = radius_graph(pos, cutoff, batch)
            shifts = pos.new_zeros(edges.shape[1], 3)
            return edges, shifts, shifts

        # replicas only ever drop out, so the live atoms change exactly when their number does,
        # and a new number of atoms rebuilds the list
        n_graphs = int(batch.max()) + 1 if len(batch) else 0
        return self.evaluator.graph(
            numbers=self.numbers.index_select(0, live),
            positions=pos,
            cell=pos.new_zeros(n_graphs, 3, 3),
            pbc=torch.zeros(n_graphs, 3, dtype=torch.bool, device=self.device),
            batch=batch,
            build=build,
        )

    def _compute(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Forces (N_all, 3) with zeros on dead replicas, and energies (R,) with NaN there."""
        out = self.evaluator(self._graph())[0]
        forces = torch.zeros_like(self.positions)
        forces[self._live_atoms()] = out["forces"]
        energy = torch.full((len(self.alive),), float("nan"), dtype=self.dtype, device=self.device)
        energy[torch.as_tensor(self.alive, device=self.device)] = out["energy"]
        return forces, energy

    # --- integrator ----------------------------------------------------------------------
    def step(self) -> None:
        """One BAOAB (NVT) or velocity-Verlet (NVE) step for every live replica."""
        dt = self.dt
        live = torch.as_tensor(self.alive, device=self.device)[self.replica_of_atom].unsqueeze(-1)
        self.velocities += 0.5 * dt * self.forces / self.masses
        self.positions += 0.5 * dt * self.velocities * live
        if self.ensemble == "nvt":
            c1 = math.exp(-self.gamma * dt)
            kT = units.kB * self.temperature_K
            noise = torch.randn(self.velocities.shape, generator=self.generator, device=self.device, dtype=self.dtype)
            self.velocities = c1 * self.velocities + math.sqrt(1 - c1 * c1) * torch.sqrt(kT / self.masses) * noise
        self.positions += 0.5 * dt * self.velocities * live
        self.forces, self.energy = self._compute()
        self.velocities += 0.5 * dt * self.forces / self.masses

    def kinetic_energy(self) -> torch.Tensor:
        """(R,) kinetic energy of each replica, eV."""
        ke = 0.5 * (self.masses * self.velocities**2).sum(-1)
        return torch.zeros(len(self.alive), dtype=self.dtype, device=self.device).index_add(0, self.replica_of_atom, ke)

    def replica_atoms(self, k: int) -> Atoms:
        """Replica ``k`` now, as ``ase.Atoms`` with velocities and a calculator holding its forces."""
        sel = (self.replica_of_atom == k).nonzero().squeeze(-1)
        atoms = self.templates[k].copy()
        atoms.positions = self.positions[sel].cpu().numpy()
        atoms.set_velocities(self.velocities[sel].cpu().numpy())
        atoms.calc = SinglePointCalculator(atoms, energy=float(self.energy[k]), forces=self.forces[sel].cpu().numpy())
        return atoms

    def _check(self, step: int, time_ps: float) -> None:
        bad = ~torch.isfinite(self.positions).all(-1) | ~torch.isfinite(self.forces).all(-1)
        for k in np.flatnonzero(self.alive):
            reason, name = None, ""
            if bool(bad[self.replica_of_atom == k].any()):
                reason, name = "non-finite positions or forces", "finite"
            else:
                atoms = None
                for monitor in self.monitors[k]:
                    atoms = atoms or self.replica_atoms(k)
                    reason = monitor.check(atoms, step, time_ps)
                    if reason:
                        name = monitor.name
                        break
            if reason:
                self.failures[k] = Failure(name, reason, step, time_ps, replica=int(k))
                self.alive[k] = False

    def run(
        self,
        steps: int | None = None,
        duration_ps: float | None = None,
        log_every: int = 10,
        progress: bool = True,
        log_path: str | Path | None = None,
        record_every: int = 0,
        max_wall_s: float | None = None,
        restart_every: int | None = None,
        restart_path: str | Path | None = None,
    ) -> MDResult:
        """Run until step ``steps`` (or time ``duration_ps``) of the run, until every replica
        has failed, or until ``max_wall_s`` seconds have passed (``result.time_ps`` says how far
        it got). A second call (or one after ``resume``) goes on from where the run is.

        ``record_every`` > 0 keeps every replica's positions each that many steps (for h(r),
        radius of gyration...), in ``result.positions``. ``restart_every`` saves the whole
        state to ``restart_path`` every that many steps; ``resume(restart_path)`` on a
        ``ReplicaDynamics`` made with the same arguments continues it exactly.
        """
        steps = n_steps(steps, duration_ps, self.dt / units.fs)
        if restart_every is not None and (int(restart_every) < 1 or restart_path is None):
            raise EquipotError("restart_every must be a positive number of steps, with a restart_path")
        from tqdm.auto import tqdm

        dt_ps = self.dt / (1000 * units.fs)
        bar = tqdm(
            total=steps, initial=self.steps_done, disable=not progress, unit="step", desc=f"{len(self.alive)} replicas"
        )
        t0 = time.perf_counter()
        first, replica_steps0 = self.steps_done, self._replica_steps
        bounds = np.cumsum([0] + self.sizes)
        for done in range(self.steps_done + 1, steps + 1):
            self._replica_steps += int(self.alive.sum())
            self.step()
            self.steps_done = done
            now = done * dt_ps
            if done % self.check_every == 0 or done == steps:
                self._check(done, now)
            if record_every and done % record_every == 0:
                self._record(bounds)
            if done % log_every == 0:
                self._log_row(now, bar, (done - first) * dt_ps * 1e-3 / (time.perf_counter() - t0) * 86400)
            if restart_every and done % restart_every == 0:
                self.save(restart_path)
            bar.update()
            if not self.alive.any():
                break
            if max_wall_s is not None and time.perf_counter() - t0 > max_wall_s:
                self._check(done, now)  # failures up to the last step count
                break
        bar.close()
        result = self._result(time.perf_counter() - t0, self._replica_steps - replica_steps0)
        if log_path is not None:
            write_energy_log(log_path, result)
        return result

    def _log_row(self, now_ps: float, bar, ns_per_day: float) -> None:
        """Each replica's total energy at ``now_ps`` into the log, and the progress bar's figures."""
        self._log.append((self.energy + self.kinetic_energy()).cpu().numpy())
        self._log_times.append(now_ps)
        bar.set_postfix(ps=f"{now_ps:.3f}", alive=int(self.alive.sum()), ns_day=f"{ns_per_day:.3g}")

    def _result(self, wall: float, replica_steps: int) -> MDResult:
        """The run so far, after a call that took ``wall`` s for ``replica_steps`` steps."""
        return MDResult(
            steps_done=self.steps_done,
            time_ps=self.steps_done * self.dt / (1000 * units.fs),
            wall_s=wall,
            failures=list(self.failures),
            replica_steps_per_s=replica_steps / wall if wall > 0 else float("nan"),
            energies=np.array(self._log).reshape(-1, len(self.alive)),
            log_time_ps=np.array(self._log_times),
            positions=[np.array(f).reshape(-1, n, 3) for f, n in zip(self._frames, self.sizes)],
        )

    def _record(self, bounds: np.ndarray) -> None:
        """Keep the positions of every replica still alive (``bounds``: atom offsets)."""
        pos = self.positions.cpu().numpy()
        for k in np.flatnonzero(self.alive):
            self._frames[k].append(pos[bounds[k] : bounds[k + 1]].copy())

    # --- restart -------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the run's whole state (``equipot.dynamics.restart``) to ``path`` atomically."""
        from equipot.dynamics.restart import RestartState, monitor_states, save_state

        arrays = dict(
            positions=self.positions.cpu().numpy(),
            velocities=self.velocities.cpu().numpy(),
            numbers=self.numbers.cpu().numpy(),
            alive=self.alive.copy(),
            generator=self.generator.get_state().numpy(),
            log=np.array(self._log).reshape(-1, len(self.alive)),
            log_times=np.array(self._log_times),
        )
        for k, frames in enumerate(self._frames):
            arrays[f"frames{k}"] = np.array(frames).reshape(-1, self.sizes[k], 3)
        meta = dict(
            step=self.steps_done,
            replica_steps=self._replica_steps,
            failures=[None if f is None else asdict(f) for f in self.failures],
            monitor_counts=[len(m) for m in self.monitors],
        )
        save_state(path, RestartState(arrays, meta, monitor_states([m for ms in self.monitors for m in ms])))

    def run_resumable(
        self, restart_path: str | Path, *, resume: bool = False, restart_every: int | None = None, **run_args
    ) -> MDResult:
        """``run(**run_args)`` saving its state to ``restart_path`` every ``restart_every`` steps
        (None: only at the end); with ``resume``, first continue from the state there if there is
        one (a finished run then returns its results at once). For studies run in pieces."""
        restart_path = Path(restart_path)
        if resume and restart_path.is_file():
            self.resume(restart_path)
        result = self.run(**run_args, restart_every=restart_every, restart_path=restart_path)
        self.save(restart_path)
        return result

    def resume(self, path: str | Path) -> None:
        """Continue from a state ``save`` wrote, on a ``ReplicaDynamics`` made with the same
        model, systems and settings; forces are recomputed at the saved positions."""
        from equipot.dynamics.restart import load_state, set_monitor_states

        state = load_state(path)
        a = state.arrays
        if not np.array_equal(a["numbers"], self.numbers.cpu().numpy()):
            raise EquipotError("the restart state holds other replicas (atoms or elements) than this run")
        if state.meta["monitor_counts"] != [len(m) for m in self.monitors]:
            raise EquipotError(
                "the restart state has other monitors than this run: resume with the ones it started with"
            )
        t = dict(device=self.device, dtype=self.dtype)
        self.positions = torch.tensor(a["positions"], **t)
        self.velocities = torch.tensor(a["velocities"], **t)
        self.alive = a["alive"].astype(bool).copy()
        self.generator.set_state(torch.from_numpy(a["generator"].copy()))
        self.failures = [None if f is None else Failure(**f) for f in state.meta["failures"]]
        self.steps_done, self._replica_steps = state.step, int(state.meta["replica_steps"])
        self._log, self._log_times = list(a["log"]), [float(x) for x in a["log_times"]]
        self._frames = [list(a[f"frames{k}"]) for k in range(len(self.sizes))]
        set_monitor_states([m for ms in self.monitors for m in ms], state.monitors)
        self.forces, self.energy = self._compute()
