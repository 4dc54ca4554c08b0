"""``equipot data convert | info | split | generate``.

    equipot data convert INPUT... -o OUT.h5 [--format md17] [--energy-key K] [--forces-key K]
    equipot data info FILE
    equipot data split FILE --train 1000 --val 100 --test 500 --seed 0
    equipot data generate OUT.h5 --molecule aspirin --method gfn2 --temperature 500 --frames 2000
    equipot data generate OUT.h5 --polymer pvc --target-atoms 60 --method gfn2 --frames 500
    equipot data generate OUT.h5 --label IN.h5 --method pyscf      # label frames sampled elsewhere
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser("data", help="convert and inspect datasets")
    sub = p.add_subparsers(dest="data_command", metavar="ACTION")
    c = sub.add_parser("convert", help="extxyz / ASE db / MD17 / rMD17 npz -> equipot HDF5 store")
    c.add_argument("inputs", nargs="+")
    c.add_argument("-o", "--output", required=True)
    c.add_argument("--format", default=None, choices=["extxyz", "ase-db", "md17", "rmd17"])
    c.add_argument("--energy-key", default="energy")
    c.add_argument("--forces-key", default="forces")
    c.add_argument("--stress-key", default=None)
    c.add_argument("--level-of-theory", default=None)
    c.add_argument("--overwrite", action="store_true")
    c.set_defaults(func=run_convert)
    i = sub.add_parser("info", help="frames, elements, energy and force statistics of a store")
    i.add_argument("path")
    i.set_defaults(func=run_info)
    s = sub.add_parser("split", help="seeded train/val/test split saved next to the store (FILE.splits.json)")
    s.add_argument("path")
    for name in ("train", "val", "test"):
        s.add_argument(f"--{name}", type=float, default=0, help="count, or fraction if < 1")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=run_split)
    g = sub.add_parser("generate", help="reference MD sampling (GFN2-xTB / PySCF), resumable, or labelling")
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
    g.set_defaults(func=run_generate)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def run_convert(args: argparse.Namespace) -> int:
    from equipot.data.readers import convert

    keys = {}
    fmt = args.format
    if fmt in (None, "extxyz", "ase-db"):
        keys = dict(energy_key=args.energy_key, forces_key=args.forces_key, stress_key=args.stress_key)
    if fmt is None and all(str(p).endswith(".npz") for p in args.inputs):
        keys = {}
    store = convert(args.inputs, args.output, fmt=fmt, level_of_theory=args.level_of_theory,
                    overwrite=args.overwrite, **keys)
    print(f"wrote {len(store)} frames to {args.output}")
    return 0


def run_info(args: argparse.Namespace) -> int:
    from equipot.data.store import FrameStore

    with FrameStore(args.path) as store:
        s = store.summary()
        attrs = store.attrs
    print(f"{args.path}")
    print(f"  level of theory   {attrs.get('level_of_theory')}  ({attrs.get('code')} {attrs.get('code_version')})")
    print(f"  frames            {s['frames']}  ({s['n_atoms_min']}-{s['n_atoms_max']} atoms)")
    print("  elements          " + ", ".join(f"{k} {v}" for k, v in s["elements"].items()))
    if s["frames"]:
        print(f"  energy (eV)       mean {s['energy_mean']:.4f}  std {s['energy_std']:.4f}  "
              f"min {s['energy_min']:.4f}  max {s['energy_max']:.4f}")
        print(f"  energy/atom (eV)  mean {s['energy_per_atom_mean']:.4f}  std {s['energy_per_atom_std']:.4f}")
    if "force_rms" in s:
        print(f"  forces (eV/Å)     RMS component {s['force_rms']:.4f}  max |F| {s['force_max']:.4f}")
    for key in ("temperature_K", "timestep_fs", "stride", "created_with"):
        if key in attrs:
            print(f"  {key:<17} {attrs[key]}")
    return 0


def run_split(args: argparse.Namespace) -> int:
    from equipot.data.splits import make_splits, save_splits, splits_path
    from equipot.data.store import FrameStore

    with FrameStore(args.path) as store:
        n = len(store)
    sizes = {k: getattr(args, k) for k in ("train", "val", "test") if getattr(args, k) > 0}
    if not sizes:
        raise ValueError("give at least one of --train/--val/--test")
    splits = make_splits(n, sizes, seed=args.seed)
    save_splits(splits_path(args.path), splits, seed=args.seed)
    print(f"{splits_path(args.path)}: " + ", ".join(f"{k} {len(v)}" for k, v in splits.items()) + f" of {n} frames")
    return 0


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
            raise ValueError(f"no shipped geometry {args.molecule!r}; shipped: {', '.join(shipped_geometries())}")
        atoms = read_structure(args.molecule)
    elif args.xyz:
        atoms = read(args.xyz)
    else:
        from equipot.data.polymers import build_oligomer, n_repeat_for_atoms

        n = args.n_repeat or n_repeat_for_atoms(args.polymer, args.target_atoms)
        atoms = build_oligomer(args.polymer, n, seed=args.seed)
    from equipot.dynamics.sampling import sample_md

    store = sample_md(
        atoms, calc, args.output, temperature_K=args.temperature, timestep_fs=args.timestep,
        friction_per_fs=args.friction, n_frames=args.frames, stride=args.stride,
        equilibration_steps=args.equilibration, seed=args.seed, level_of_theory=lot, code=code,
        created_with=_command_line(args))
    print(f"{args.output}: {len(store)} frames")
    return 0
