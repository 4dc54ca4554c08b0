"""``equipot md STRUCTURE --model NAME|PATH ...``"""

from __future__ import annotations

import argparse
from pathlib import Path

from equipot.data.readers import read_structure
from equipot.dynamics.md import ENSEMBLES
from equipot.dynamics.steps import parse_duration
from equipot.errors import EquipotError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "md",
        help="molecular dynamics with stability checks",
        description="Run MD; STRUCTURE is a file or a shipped MD17 molecule name. "
        "'equipot md --resume DIR' continues a run that stopped.",
    )
    p.add_argument("structure", nargs="?", help="structure file (any ASE format) or MD17 name, e.g. aspirin")
    p.add_argument("--model", action="append", help="checkpoint path or shipped model name; repeat for a committee")
    p.add_argument("--ensemble", default="nvt", choices=ENSEMBLES)
    p.add_argument("--temperature", type=float, default=300.0, help="K")
    p.add_argument("--timestep", type=float, default=0.5, help="fs")
    p.add_argument("--friction", type=float, default=0.01, help="1/fs (Langevin)")
    p.add_argument(
        "--duration",
        default=None,
        help="e.g. 10ps, 500fs, 2000steps, or a number of ps (default 1ps; with --resume, the run's own)",
    )
    p.add_argument(
        "--uncertainty", type=float, default=None, help="stop when committee disagreement (eV/Å) passes this"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    p.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run the model's compiled kernel (`equipot compile MODEL` makes it once; --compile makes it "
        "now if missing, for minutes; --no-compile stays eager). Default: use it where it exists "
        "(with --replicas: eager unless --compile)",
    )
    p.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="N > 1: run N independent copies of STRUCTURE batched, one model call per step "
        "(nvt or nve; one model, not a committee); writes replica_K.extxyz per copy",
    )
    _add_output_arguments(p)
    p.set_defaults(func=run)


RUN_FILE = "run.json"
# what a resumed run may take from its own command line instead of the saved one
_RESUME_OVERRIDES = ("duration", "no_progress", "max_wall")


def _settings(args: argparse.Namespace) -> argparse.Namespace:
    """The run's settings: the command line, or with ``--resume DIR`` the ones DIR was started
    with (saved in ``DIR/run.json``), which a fresh run saves there."""
    import json

    if args.resume is None:
        if args.structure is None or not args.model:
            raise EquipotError("give a STRUCTURE and --model (or --resume DIR)")
        if args.restart_every < 0:
            raise EquipotError(f"--restart-every must be >= 0, got {args.restart_every}")
        args.duration = args.duration or "1ps"
        return args
    run_file = Path(args.resume) / RUN_FILE
    if not run_file.is_file():
        raise EquipotError(f"{args.resume} holds no {RUN_FILE}: not the --out of an equipot md run")
    try:
        saved = json.loads(run_file.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise EquipotError(f"{run_file} is damaged ({err}); start the run afresh") from None
    for key in _RESUME_OVERRIDES:
        if getattr(args, key) not in (None, False):
            saved[key] = getattr(args, key)
    return argparse.Namespace(**{**saved, "out": args.resume, "resume": args.resume, "func": args.func})


def _save_settings(args: argparse.Namespace) -> None:
    """``OUT/run.json`` of a fresh run, written once its input has been checked (a bad input
    leaves an existing run folder as it was)."""
    import json

    if args.resume is None:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        saved = {k: v for k, v in vars(args).items() if k not in ("func", "resume")}
        (out / RUN_FILE).write_text(json.dumps(saved, indent=2))


def _make_calculator(args: argparse.Namespace):
    """The calculator for ``--model`` (one model, or a committee when repeated). Imported
    here so ``equipot md --help`` does not load torch; tests replace this function."""
    from equipot.calculator import EquiformerCalculator

    return EquiformerCalculator(
        args.model if len(args.model) > 1 else args.model[0], device=args.device, dtype=args.dtype, compile=args.compile
    )


def _add_output_arguments(p: argparse.ArgumentParser) -> None:
    """Where the run writes, how often, and its restarts."""
    p.add_argument("--out", default="md_out")
    p.add_argument("--traj-every", type=int, default=20, help="steps between trajectory frames")
    p.add_argument("--log-every", type=int, default=10, help="steps between CSV log rows")
    p.add_argument("--reference", default=None, help="reference trajectory file: h(r) error and mean bond lengths")
    p.add_argument(
        "--contacts",
        type=float,
        nargs="?",
        const=0.25,
        default=None,
        metavar="MARGIN",
        help="also stop when two heavy atoms more than two bonds apart come MARGIN Å (default 0.25) "
        "closer than the --reference trajectory ever brings them (catches folds the bond "
        "criterion misses)",
    )
    p.add_argument("--max-wall", type=float, default=None, help="stop after this many minutes of wall time")
    p.add_argument(
        "--restart-every", type=int, default=1000, help="steps between restart states written to OUT (0: none)"
    )
    p.add_argument(
        "--resume",
        metavar="DIR",
        default=None,
        help="continue the run whose --out was DIR from its last restart state, with its own settings "
        "(--duration may extend it)",
    )
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from equipot.dynamics.md import check_start, run_md
    from equipot.dynamics.options import Integrator, Outputs, Restarts

    args = _settings(args)
    _check_combinations(args)
    atoms = read_structure(args.structure)
    steps = parse_duration(args.duration, args.timestep)  # bad input fails before the model loads
    if args.replicas == 1:
        atoms.calc = _make_calculator(args)
    monitors, reference = _monitors(args, atoms)
    if args.replicas > 1:
        return _run_replicas(args, atoms, monitors, steps, reference)
    if args.resume is None:
        check_start(atoms)
    _save_settings(args)
    result = run_md(
        atoms,
        temperature_K=args.temperature,
        steps=steps,
        seed=args.seed,
        monitors=monitors,
        max_wall_s=args.max_wall * 60 if args.max_wall else None,
        integrator=Integrator(args.ensemble, timestep_fs=args.timestep, friction_per_fs=args.friction),
        outputs=Outputs(
            report_dir=args.out,
            traj_every=args.traj_every,
            log_every=args.log_every,
            reference=reference,
            progress=not args.no_progress,
        ),
        restarts=Restarts(every=args.restart_every or None, resume=args.resume is not None),
    )
    _print_result(atoms, result, args.out)
    return 0


def _check_combinations(args: argparse.Namespace) -> None:
    """Options that do not go together, refused before anything is read or loaded."""
    if args.contacts is not None and not args.reference:
        raise EquipotError("--contacts compares with a reference trajectory: give --reference as well")
    if args.replicas < 1:
        raise EquipotError(f"--replicas must be at least 1, got {args.replicas}")
    if args.replicas > 1:
        if args.ensemble not in ("nvt", "nve"):
            raise EquipotError(f"--replicas runs nvt (Langevin) or nve (velocity Verlet), not {args.ensemble!r}")
        if len(args.model) > 1 or args.uncertainty is not None:
            raise EquipotError(
                "--replicas runs one model: a committee (repeated --model, --uncertainty) needs single-replica runs"
            )


def _status(time_ps: float, monitor: str | None, reason: str | None) -> str:
    return f"stopped at {time_ps:.3f} ps ({monitor}: {reason})" if monitor else "stable"


def _print_result(atoms, result, out) -> None:
    failure = result.failure
    status = _status(failure.time_ps, failure.monitor, failure.reason) if failure else "stable"
    print(
        f"{atoms.get_chemical_formula()}: {result.time_ps:.3f} ps in {result.wall_s:.1f} s "
        f"({result.ns_per_day:.3g} ns/day), {status}"
    )
    if result.drift:
        print(
            f"NVE drift {result.drift['slope_meV_per_atom_per_ps']:.4f} meV/atom/ps, "
            f"fluctuation {result.drift['fluctuation_meV_per_atom']:.4f} meV/atom"
        )
    if result.hr_error is not None:
        print(f"h(r) error against the reference: {result.hr_error:.4f}")
    print(f"report: {out}/report.json, {out}/report.png")


def _monitors(args: argparse.Namespace, atoms) -> tuple[list, object]:
    """The run's monitors and its reference frames (or None): the default monitors, with bond
    lengths taken from ``--reference`` (Fu et al. compare each bond with its mean over the
    reference trajectory), ``--contacts`` and ``--uncertainty`` when asked."""
    from equipot.dynamics.monitors import (
        BondStability,
        ContactStability,
        Uncertainty,
        bonds_of,
        default_monitors,
        reference_bond_lengths,
    )

    monitors = default_monitors(args.temperature)
    reference = None
    if args.reference:
        from equipot.data.readers import load_positions

        reference = load_positions(args.reference)
        if reference.shape[1:] != atoms.positions.shape:
            raise EquipotError(f"reference has {reference.shape[1]} atoms, the structure {len(atoms)}")
        bonds = bonds_of(atoms)
        monitors[0] = BondStability(0.5, reference_lengths=reference_bond_lengths(reference, bonds), bonds=bonds)
        if args.contacts is not None:
            monitors.append(ContactStability(reference, margin=args.contacts))
    if args.uncertainty is not None:
        monitors.append(Uncertainty(args.uncertainty))
    return monitors, reference


def _run_replicas(args: argparse.Namespace, atoms, monitors: list, steps: int, reference) -> int:
    """``--replicas N``: N copies of ``atoms`` from independent Maxwell-Boltzmann starts,
    batched through ``ReplicaDynamics``; each copy gets its own monitors."""
    from equipot.dynamics.md import run_settings
    from equipot.dynamics.options import Integrator
    from equipot.dynamics.replica_report import write_replica_report
    from equipot.dynamics.replicas import ReplicaDynamics
    from equipot.dynamics.restart import RESTART_NAME

    dyn = ReplicaDynamics(
        args.model[0],
        [atoms] * args.replicas,
        temperature_K=args.temperature,
        ensemble=args.ensemble,
        timestep_fs=args.timestep,
        friction_per_fs=args.friction,
        seed=args.seed,
        device=args.device,
        dtype=args.dtype,
        monitors=monitors,
        compile=bool(args.compile),
    )
    out = Path(args.out)
    if args.resume is not None and not (out / RESTART_NAME).is_file():
        raise EquipotError(f"no restart state at {out / RESTART_NAME}: was the run started with restarts on?")
    _save_settings(args)
    run_args = dict(
        steps=steps,
        log_every=args.log_every,
        progress=not args.no_progress,
        log_path=out / "md.csv",
        record_every=args.traj_every,
        max_wall_s=args.max_wall * 60 if args.max_wall else None,
    )
    if args.restart_every:
        result = dyn.run_resumable(
            out / RESTART_NAME, resume=args.resume is not None, restart_every=args.restart_every, **run_args
        )
    else:
        result = dyn.run(**run_args)
    every = dict(traj=args.traj_every, log=args.log_every, check=dyn.check_every)
    integrator = Integrator(args.ensemble, timestep_fs=args.timestep, friction_per_fs=args.friction, fix_com=False)
    settings = run_settings(
        atoms,
        monitors,
        integrator,
        temperature_K=args.temperature,
        steps=steps,
        steps_done=result.steps,
        seed=args.seed,
        every=every,
        replicas=args.replicas,
        model=args.model[0],
        dtype=args.dtype,
        compile=bool(args.compile),
    )
    rows = write_replica_report(out, dyn.templates, result, settings, reference=reference)
    _print_replicas(atoms, result, rows, out)
    return 0


def _print_replicas(atoms, result, rows: list[dict], out: Path) -> None:
    print(
        f"{atoms.get_chemical_formula()}, {len(rows)} replicas: {result.time_ps:.3f} ps in {result.wall_s:.1f} s "
        f"({result.replica_steps_per_s:.1f} replica-steps/s)"
    )
    for row in rows:
        extra = ""
        if row["drift"]:
            extra += f", NVE drift {row['drift']['slope_meV_per_atom_per_ps']:.4f} meV/atom/ps"
        if row["hr_error"] is not None:
            extra += f", h(r) error {row['hr_error']:.4f}"
        print(f"  replica {row['replica']}: {_status(row['time_ps'], row['monitor'], row['reason'])}{extra}")
    print(f"report: {out}/report.json, {out}/report.png")
