"""``equipot data generate``: reference MD sampling (GFN2-xTB / PySCF) into a frame store, or
labelling the frames of another store.

    equipot data generate OUT.h5 --molecule aspirin --method gfn2 --temperature 500 --frames 2000
    equipot data generate OUT.h5 --polymer pvc --target-atoms 60 --method gfn2 --frames 500
    equipot data generate OUT.h5 --label IN.h5 --method pyscf      # label frames sampled elsewhere
    equipot data generate OUT.h5 --xyz melt.extxyz --md-model polymers-gfn2 --stride 100   # MD on a model

It is a ``data`` action but runs MD, so it lives in the dynamics layer (``data`` imports
nothing from ``dynamics``); ``equipot.cli`` adds it to the ``data`` actions.
"""

from __future__ import annotations

import argparse

from equipot.errors import EquipotError


def register(data_actions) -> None:
    g = data_actions.add_parser("generate", help="reference MD sampling (GFN2-xTB / PySCF), resumable, or labelling")
    g.add_argument("output")
    src = g.add_mutually_exclusive_group(required=True)
    src.add_argument("--molecule", help="a bundled MD17 geometry (aspirin, ethanol, ...)")
    src.add_argument("--xyz", help="starting structure file (any ASE format)")
    src.add_argument("--polymer", help="polymer family, alias or repeat-unit SMILES (needs RDKit)")
    src.add_argument("--label", metavar="STORE", help="recompute the frames of this store instead of sampling")
    g.add_argument("--n-repeat", type=int, default=None)
    g.add_argument("--target-atoms", type=int, default=60)
    g.add_argument("--method", choices=["gfn2", "pyscf"], default="gfn2")
    g.add_argument("--xc", default="PBE")
    g.add_argument("--basis", default="def2-SVP")
    g.add_argument("--temperature", type=float, default=500.0, help="K")
    g.add_argument("--timestep", type=float, default=0.5, help="fs")
    g.add_argument("--friction", type=float, default=0.01, help="1/fs")
    g.add_argument("--frames", type=int, default=2000)
    g.add_argument("--stride", type=int, default=20)
    g.add_argument("--equilibration", type=int, default=2000)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument(
        "--md-model",
        default=None,
        metavar="MODEL",
        help="run the MD on this equipot model (checkpoint or shipped name) and label each kept frame "
        "with the reference: for systems where reference MD is too slow",
    )
    g.set_defaults(func=run_generate)


def _command_line(args: argparse.Namespace) -> str:
    """The full generate command (every option, defaults included), from the parsed arguments,
    so the file records how to remake it however the CLI was invoked."""
    skip = {"command", "data_command", "func", "output"}
    opts = [f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k not in skip and v is not None]
    return " ".join(["equipot data generate", str(args.output), *opts])


def run_generate(args: argparse.Namespace) -> int:
    from equipot.data import reference

    spec = "gfn2" if args.method == "gfn2" else f"pyscf:{args.xc}/{args.basis}"
    calc, lot, code = reference.reference_from_spec(spec)
    if args.label:
        store = reference.label_frames(args.label, calc, args.output, level_of_theory=lot, code=code)
        print(f"{args.output}: {len(store)} labelled frames")
        return 0
    from ase.io import read

    if args.molecule:
        from equipot.data.readers import read_structure, shipped_geometries

        if args.molecule not in shipped_geometries():
            raise EquipotError(f"no shipped geometry {args.molecule!r}; shipped: {', '.join(shipped_geometries())}")
        atoms = read_structure(args.molecule)
    elif args.xyz:
        atoms = read(args.xyz)
    else:
        from equipot.data.polymers import build_oligomer, n_repeat_for_atoms

        n = args.n_repeat or n_repeat_for_atoms(args.polymer, args.target_atoms)
        atoms = build_oligomer(args.polymer, n, seed=args.seed)
    from equipot.dynamics.sampling import sample_md

    labeller = None
    if args.md_model:
        from equipot.calculator import EquiformerCalculator

        calc, labeller = EquiformerCalculator(args.md_model), calc
    store = sample_md(
        atoms,
        calc,
        args.output,
        temperature_K=args.temperature,
        timestep_fs=args.timestep,
        friction_per_fs=args.friction,
        n_frames=args.frames,
        stride=args.stride,
        equilibration_steps=args.equilibration,
        seed=args.seed,
        level_of_theory=lot,
        code=code,
        created_with=_command_line(args),
        labeller=labeller,
    )
    print(f"{args.output}: {len(store)} frames")
    return 0
