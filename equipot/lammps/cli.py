"""``equipot lammps IN_FILE [-var NAME VALUE ...]``: run a LAMMPS input with ``pair_style equipot``."""

from __future__ import annotations

import argparse

from equipot.errors import EquipotError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "lammps",
        help="run a LAMMPS input with pair_style equipot (serial, or under mpirun -np N)",
        description="Run a LAMMPS input script with the equipot pair style loaded: "
        "`pair_style equipot MODEL` (checkpoint path or shipped model name) and "
        "`pair_coeff * * H C N O` (the element of each atom type). "
        "Run it as `mpirun -np N equipot lammps IN_FILE` for domain decomposition.",
    )
    p.add_argument("input", nargs="?", help="LAMMPS input script")
    p.add_argument(
        "-var",
        "-v",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="define a LAMMPS index variable, as lmp -var does",
    )
    p.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads per MPI rank (default: OMP_NUM_THREADS if set, else cores / ranks)",
    )
    p.add_argument("--log", default="log.lammps", help="LAMMPS log file ('none' for no log)")
    p.add_argument("--build", action="store_true", help="only compile the plugin (if needed) and print its path")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from equipot.lammps.bridge import build_plugin
    from equipot.lammps.bridge import run as run_lammps

    if args.build:
        print(build_plugin())
        return 0
    if not args.input:
        raise EquipotError("give a LAMMPS input file (or --build)")
    try:
        lmp = run_lammps(args.input, dict(args.var), dtype=args.dtype, threads=args.threads, log=args.log)
    except Exception as err:  # LAMMPS reports its errors as plain Exceptions
        if type(err) is Exception:
            raise EquipotError(str(err).strip()) from err
        raise
    lmp.close()
    return 0
