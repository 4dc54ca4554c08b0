"""``equipot data convert | info | split`` (``generate`` samples MD, so it lives in
``equipot.dynamics.generate_cli`` and joins these actions from the top-level CLI).

    equipot data convert INPUT... -o OUT.h5 [--format md17] [--energy-key K] [--forces-key K]
    equipot data info FILE
    equipot data split FILE --train 1000 --val 100 --test 500 --seed 0
"""

from __future__ import annotations

import argparse

from equipot.errors import EquipotError


def register(subparsers) -> argparse._SubParsersAction:
    """Add ``equipot data`` and return its actions, for actions of higher layers to join."""
    p = subparsers.add_parser("data", help="convert and inspect datasets")
    sub = p.add_subparsers(dest="data_command", metavar="ACTION")
    c = sub.add_parser("convert", help="extxyz / ASE db / MD17 / rMD17 npz -> equipot HDF5 store")
    c.add_argument("inputs", nargs="+")
    c.add_argument("-o", "--output", required=True)
    c.add_argument("--format", default=None, choices=["extxyz", "ase-db", "md17", "rmd17"])
    c.add_argument("--energy-key", default="energy")
    c.add_argument("--forces-key", default="forces")
    c.add_argument(
        "--stress-key", default="stress", help="stress (eV/Å^3, ASE's sign) of periodic frames, where the file has one"
    )
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
    p.set_defaults(func=lambda args: p.print_help() or 2)
    return sub


def run_convert(args: argparse.Namespace) -> int:
    from equipot.data.readers import convert

    keys = {}
    fmt = args.format
    if fmt in (None, "extxyz", "ase-db"):
        keys = dict(energy_key=args.energy_key, forces_key=args.forces_key, stress_key=args.stress_key)
    if fmt is None and all(str(p).endswith(".npz") for p in args.inputs):
        keys = {}
    store = convert(
        args.inputs, args.output, fmt=fmt, level_of_theory=args.level_of_theory, overwrite=args.overwrite, **keys
    )
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
        print(
            f"  energy (eV)       mean {s['energy_mean']:.4f}  std {s['energy_std']:.4f}  "
            f"min {s['energy_min']:.4f}  max {s['energy_max']:.4f}"
        )
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
        raise EquipotError("give at least one of --train/--val/--test")
    splits = make_splits(n, sizes, seed=args.seed)
    save_splits(splits_path(args.path), splits, seed=args.seed)
    print(f"{splits_path(args.path)}: " + ", ".join(f"{k} {len(v)}" for k, v in splits.items()) + f" of {n} frames")
    return 0
