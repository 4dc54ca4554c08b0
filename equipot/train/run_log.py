"""What a training run writes as it goes: ``metrics.csv`` (rewritten whole every epoch, so a
killed run leaves a complete file), TensorBoard scalars when asked, and one line per epoch."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any


class RunLog:
    """The per-epoch record of a run in ``out``; only the main process of a data-parallel run
    writes (``active``)."""

    def __init__(self, out: Path, tensorboard: bool, progress: bool, active: bool = True) -> None:
        self.path, self.progress, self.active = out / "metrics.csv", progress, active
        self.tensorboard = _tensorboard(out) if (tensorboard and active) else None

    def epoch(self, history: list[dict[str, Any]]) -> None:
        """Record the last row of ``history`` (and rewrite the CSV with all of them)."""
        if not self.active:
            return
        row = history[-1]
        with open(self.path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(row))
            writer.writeheader()
            writer.writerows(history)
        if self.tensorboard is not None:
            for key, value in row.items():
                if key != "epoch":
                    self.tensorboard.add_scalar(key, value, row["epoch"])
        if self.progress:
            print(
                f"epoch {row['epoch']:4d}  train {row['train_loss']:.4g}  val {row['val_loss']:.4g}  "
                f"F MAE {row['val_force_mae']:.1f} meV/Å  E MAE {row['val_energy_mae']:.1f} meV  "
                + (f"S MAE {row['val_stress_mae']:.3f} GPa  " if "val_stress_mae" in row else "")
                + f"({row['seconds']:.0f} s)",
                flush=True,
            )

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()


def _tensorboard(out: Path):
    """A SummaryWriter in ``out/tensorboard``, or None (with a note) if tensorboard is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        print("tensorboard is not installed; logging to metrics.csv only", flush=True)
        return None
    return SummaryWriter(str(out / "tensorboard"))
