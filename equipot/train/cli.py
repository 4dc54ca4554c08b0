"""``equipot train CONFIG.yaml [--resume]``."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="fit a potential to a frame store (YAML config)",
                              description="Train an Equiformer potential. See equipot/train/example.yaml.")
    p.add_argument("config", help="YAML file with TrainConfig fields")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt exactly where it stopped")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="override config fields, e.g. --set epochs=5 out=runs/x (values parsed as YAML)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from equipot.cli import parse_overrides
    from equipot.train.config import TrainConfig
    from equipot.train.trainer import Trainer

    trainer = Trainer(TrainConfig.from_yaml(args.config, parse_overrides(args.set)), resume=args.resume)
    best = trainer.fit()
    print(f"best epoch {best.get('epoch')}: force MAE {best.get('val_force_mae', float('nan')):.1f} meV/Å, "
          f"energy MAE {best.get('val_energy_mae', float('nan')):.1f} meV; checkpoints in {trainer.out}")
    return 0
