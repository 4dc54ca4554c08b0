"""``equipot train CONFIG.yaml [--resume] [--procs N]``."""

from __future__ import annotations

import argparse
import os

from equipot.errors import EquipotError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="fit a potential to a frame store (YAML config)",
        description="Train an Equiformer potential. See equipot/train/example.yaml.",
    )
    p.add_argument("config", nargs="?", help="YAML file with TrainConfig fields (--help-config lists them)")
    p.add_argument(
        "--help-config",
        action="store_true",
        help="print every training and model config field with its type, default and meaning, and exit",
    )
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt exactly where it stopped")
    p.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="override config fields, e.g. --set epochs=5 out=runs/x (values parsed as YAML)",
    )
    p.add_argument(
        "--procs",
        type=int,
        default=1,
        metavar="N",
        help="data-parallel processes on this machine (torchrun --standalone), each with "
        "num_threads/N threads and a slice of every batch; on a CPU, one per core trains "
        "small molecules faster than threads do (docs/training.md)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from equipot.cli import parse_overrides
    from equipot.train.config import TrainConfig
    from equipot.train.distributed import leave as leave_process_group
    from equipot.train.trainer import Trainer

    if args.help_config:
        from equipot.model import PRESETS, EquiformerConfig

        print("Training config (YAML keys):\n" + TrainConfig.describe())
        print(f"\nModel config (under model:; preset: {' | '.join(PRESETS)}):\n" + EquiformerConfig.describe())
        return 0
    if args.config is None:
        raise EquipotError("give a training config (YAML); equipot train --help-config lists its fields")
    config = TrainConfig.from_yaml(args.config, parse_overrides(args.set))
    if args.procs < 1:
        raise EquipotError(f"--procs must be at least 1, got {args.procs}")
    if args.procs > 1:
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise EquipotError("--procs starts its own processes; under torchrun, leave it out")
        return _launch(args, config.num_threads, args.procs)
    trainer = Trainer(config, resume=args.resume)
    best = trainer.fit()
    leave_process_group()
    if trainer.is_main:
        print(
            f"best epoch {best.get('epoch')}: force MAE {best.get('val_force_mae', float('nan')):.1f} meV/Å, "
            f"energy MAE {best.get('val_energy_mae', float('nan')):.1f} meV; checkpoints in {trainer.out}"
        )
    return 0


def _launch(args: argparse.Namespace, num_threads: int | None, procs: int) -> int:
    """Run this command again as ``procs`` processes under torchrun (one machine).

    The threads the config asks for (or torch's default, one per core) are shared out, so
    the processes together use what one process would have. Returns torchrun's verdict as
    an exit code.
    """
    import torch
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun

    threads = max(1, (num_threads or torch.get_num_threads()) // procs)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    argv = [
        "--standalone",
        f"--nproc_per_node={procs}",
        "-m",
        "equipot",
        "train",
        args.config,
        *(["--resume"] if args.resume else []),
        "--set",
        *args.set,
        f"num_threads={threads}",
    ]
    try:
        torchrun(argv)
    except ChildFailedError as err:
        print(f"equipot train: a training process failed:\n{err}")
        return 1
    return 0
