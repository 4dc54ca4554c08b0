"""Reference trajectories: Langevin MD on a reference calculator (GFN2-xTB, DFT, any ASE
calculator), its frames appended to a frame store as they come."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from equipot.data.reference import code_version
from equipot.data.store import Frame, FrameStore
from equipot.dynamics.loop import restore_atoms
from equipot.dynamics.md import check_start, initialise_velocities, make_integrator
from equipot.dynamics.restart import (
    RestartState,
    generator_state,
    integrator_state,
    load_state,
    save_state,
    set_generator_state,
    set_integrator_state,
)
from equipot.dynamics.results import MDResult
from equipot.errors import EquipotError
from equipot.files import write_json


def sample_md(
    atoms: Atoms,
    calculator: Calculator,
    out_path: str | Path,
    *,
    temperature_K: float,
    n_frames: int,
    stride: int,
    equilibration_steps: int,
    timestep_fs: float = 0.5,
    friction_per_fs: float = 0.01,
    seed: int = 0,
    level_of_theory: str,
    code: str,
    created_with: str | None = None,
    progress: bool = True,
    labeller: Calculator | None = None,
    check: Callable[[Atoms], str | None] | None = None,
    setup_minutes: float = 0.0,
) -> FrameStore:
    """Langevin MD on ``calculator``, a frame every ``stride`` steps labelled by it or by a
    ``labeller`` (MD on a model, labels from the reference, where reference MD costs too much).

    Frames (with velocities) are appended to the store as they come, and after each one the
    run's restart state (``equipot.dynamics.restart``) is saved beside it as
    ``<store>.restart.npz``. A store with frames gets only the missing ones: from that state
    when it belongs to the last frame, so a stopped or extended run is the run that never
    stopped; else (a store copied without it) from the last frame with fresh noise. The run's
    ``report.json`` (``equipot md``'s schema) goes to ``<store>.report.json``.

    ``check`` sees each frame before it is labelled (and the system after equilibration): a
    message back stops the run with ``EquipotError`` and nothing is labelled for that frame
    (e.g. ``equipot.data.melts.MeltCheck``: a bond made or chains overlapping).

    The store's ``generation_minutes`` attribute adds up the wall minutes of every piece that
    sampled into it (plus ``setup_minutes``, what the caller spent building the system), updated
    after equilibration and after every frame, so that a piece killed mid-run still counts.
    """
    from tqdm.auto import tqdm

    start = time.perf_counter()
    out_path = Path(out_path)
    atoms, done, state = _resume_point(out_path, atoms)
    if done >= n_frames:
        return FrameStore(out_path, mode="a")
    atoms.calc = calculator
    if done == 0:
        check_start(atoms)  # errors before work: nothing is written for a structure that cannot run
    metadata = dict(
        temperature_K=temperature_K,
        timestep_fs=timestep_fs,
        stride=stride,
        equilibration_steps=equilibration_steps,
        friction_per_fs=friction_per_fs,
        seed=seed,
    )
    store = _open_store(out_path, level_of_theory, code, created_with, metadata)
    before = float(store.attrs.get("generation_minutes", 0.0))

    def count_minutes() -> None:
        store.file.attrs["generation_minutes"] = before + setup_minutes + (time.perf_counter() - start) / 60
        store.file.flush()

    dyn, rng = _langevin(atoms, state, done, seed, temperature_K, timestep_fs, friction_per_fs)
    if done == 0 and equilibration_steps:
        dyn.run(equilibration_steps)
        count_minutes()
        _check(check, atoms, out_path, "after equilibration")
    with tqdm(total=n_frames, initial=done, desc=out_path.name, unit="frame", disable=not progress) as bar:
        for k in range(done, n_frames):
            dyn.run(stride)
            _check(check, atoms, out_path, f"frame {k}")
            store.append(_labelled_frame(atoms, k, labeller))
            count_minutes()
            _save_state(out_path, atoms, dyn, rng, k + 1)
            bar.update()
    _write_report(out_path, atoms, dict(metadata, n_frames=n_frames), done, time.perf_counter() - start)
    return store


def _check(check, atoms: Atoms, out_path: Path, where: str) -> None:
    if check is not None and (problem := check(atoms)) is not None:
        raise EquipotError(f"{out_path.name}, {where}: {problem}; stopped before labelling it")


def report_path(out_path: Path) -> Path:
    """Where sampling into ``out_path`` writes its ``report.json`` (the schema of ``equipot md``)."""
    return out_path.with_name(out_path.name + ".report.json")


def _write_report(out_path: Path, atoms: Atoms, plan: dict, done_before: int, wall: float) -> None:
    """The sampling run's report: ``plan`` holds its settings, ``done_before`` the frames a
    resumed run found, ``wall`` this call's seconds."""
    from equipot.dynamics.md import run_settings
    from equipot.dynamics.options import Integrator
    from equipot.dynamics.report import jsonable, report_dict

    total = plan["equilibration_steps"] + plan["n_frames"] * plan["stride"]
    ran = total - (plan["equilibration_steps"] + done_before * plan["stride"] if done_before else 0)
    integrator = Integrator("nvt", plan["timestep_fs"], plan["friction_per_fs"], fix_com=not atoms.pbc.any())
    every = dict(traj=plan["stride"], log=plan["stride"], check=plan["stride"])
    settings = run_settings(
        atoms,
        [],
        integrator,
        temperature_K=plan["temperature_K"],
        steps=total,
        steps_done=total,
        seed=plan["seed"],
        every=every,
        frames=plan["n_frames"],
        store=str(out_path),
    )
    dt_ps = plan["timestep_fs"] / 1000
    result = MDResult(
        steps_done=total,
        time_ps=total * dt_ps,
        wall_s=wall,
        failures=[None],
        ns_per_day=ran * dt_ps * 1e-3 / wall * 86400 if wall > 0 else float("nan"),
        paths={"store": str(out_path)},
    )
    write_json(report_path(out_path), jsonable(report_dict(settings, result)))


def _langevin(
    atoms: Atoms, state, done: int, seed: int, temperature_K: float, timestep_fs: float, friction_per_fs: float
):
    """(integrator, its noise generator), with the centre of mass of a molecule fixed: fresh
    Maxwell-Boltzmann velocities for a new store, the saved state's integrator and generator
    when resuming from one."""
    from ase.constraints import FixCom

    if not atoms.pbc.any():
        atoms.set_constraint(FixCom())
    rng = np.random.default_rng([seed, done])
    if done == 0:
        # exact=False keeps the sample a true Maxwell-Boltzmann one
        initialise_velocities(atoms, temperature_K, rng, exact=False)
    dyn = make_integrator(atoms, "nvt", timestep_fs, temperature_K, friction_per_fs, rng)
    if state is not None:
        set_integrator_state(dyn, state.arrays, state.meta["integrator"])
        set_generator_state(rng, state.meta["rng"])
    return dyn, rng


def _open_store(out_path: Path, level_of_theory: str, code: str, created_with: str | None, metadata: dict):
    """The store to append to: the one at ``out_path``, or a new one with the provenance."""
    if out_path.exists():
        return FrameStore(out_path, mode="a")
    return FrameStore.create(
        out_path,
        level_of_theory=level_of_theory,
        code=code,
        code_version=code_version(code),
        created_with=created_with or " ".join(sys.argv),
        metadata=metadata,
    )


def state_path(out_path: Path) -> Path:
    """Where sampling into ``out_path`` keeps its restart state."""
    return out_path.with_name(out_path.name + ".restart.npz")


def _save_state(out_path: Path, atoms: Atoms, dyn, rng: np.random.Generator, frames: int) -> None:
    arrays, scalars = integrator_state(dyn)
    arrays.update(positions=atoms.get_positions(), momenta=atoms.get_momenta(), numbers=atoms.numbers.copy())
    save_state(
        state_path(out_path),
        RestartState(arrays, dict(step=int(dyn.nsteps), frames=frames, rng=generator_state(rng), integrator=scalars)),
    )


def _resume_point(out_path: Path, atoms: Atoms) -> tuple[Atoms, int, RestartState | None]:
    """(where sampling starts, frames already in the store, the restart state to continue or
    None): a copy of ``atoms`` for an empty store; else the saved state when it was saved
    with the store's last frame, or that frame with its velocities."""
    if not out_path.exists():
        return atoms.copy(), 0, None
    with FrameStore(out_path) as store:
        done = len(store)
        if not done:
            return atoms.copy(), 0, None
        last = store[done - 1].to_atoms()
    if not np.array_equal(last.numbers, atoms.numbers):
        raise EquipotError(f"{out_path} holds a different system; refusing to resume into it")
    saved = state_path(out_path)
    state = load_state(saved) if saved.is_file() else None
    if state is None or state.meta.get("frames") != done:
        return last, done, None
    restore_atoms(state, last)
    return last, done, state


def _labelled_frame(atoms: Atoms, frame_id: int, labeller: Calculator | None = None) -> Frame:
    """The current frame with the reference's energy and forces (and stress, for a periodic
    cell): the MD calculator's, or the ``labeller``'s at the same positions and velocities."""
    if labeller is not None:
        atoms = atoms.copy()  # the MD keeps its own calculator
        atoms.calc = labeller
    atoms.get_potential_energy()
    if atoms.pbc.all():
        atoms.get_stress()
    return Frame.from_atoms(atoms, frame_id=frame_id)
