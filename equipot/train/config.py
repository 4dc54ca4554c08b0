"""Training configuration: every field of a run, readable from YAML.

Config fields (YAML keys, all of ``TrainConfig``):
    data: frame store (.h5), a glob pattern, or a list of them; train_size/val_size/test_size:
    frame counts or fractions, applied to each file; split_seed; split_stages (earlier lengths
    of a store that grew, so its frames keep their split: ``grown_splits``). model: ``preset``
    (small | medium | md17) plus any ``EquiformerConfig`` field.
    epochs, batch_size (global, frames), lr, min_lr, weight_decay (AdamW's, on weight matrices
    only: ``equipot.train.optim``), amsgrad (AdamW's AMSGrad
    variant, MACE's choice), warmup_epochs,
    scheduler (cosine | plateau), energy_weight ((eV/atom)^-2), force_weight ((eV/Å)^-2),
    loss (mse | huber), huber_delta, force_only (loss on forces alone; E0 refitted on the
    training energies after every epoch), reference_energies ({symbol: eV} or null:
    least squares on training energies), ema_decay, grad_clip, patience (epochs without a
    better validation loss), seed, device, dtype, num_workers (DataLoader), cache
    (neighbour lists kept in memory), tensorboard (needs the tensorboard package), num_threads,
    progress, out (run folder: best.pt, last.pt, metrics.csv, PNG plots), time_limit_minutes
    (wall-clock budget: after every epoch the run sets ``epochs`` to what fits, at most the
    configured number, and the cosine schedule with it, so a budgeted run still anneals), init_from (fine-tuning: start
    from the weights, architecture, reference energies and scale of a checkpoint or shipped
    model name; ``model`` is then ignored; optimizer and schedule start fresh).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


@dataclass
class TrainConfig:
    """Everything a run needs; serialisable to YAML. Sizes are frame counts or fractions."""

    data: str | list[str]
    out: str = "runs/train"
    train_size: float = 0.8
    val_size: float = 0.1
    test_size: float = 0.1
    split_seed: int = 0
    # earlier lengths of a store that grew (equipot learn sets them): frames keep their split
    split_stages: list[int] = field(default_factory=list)
    model: dict[str, Any] = field(default_factory=lambda: {"preset": "small"})
    epochs: int = 100
    batch_size: int = 4
    lr: float = 5e-3
    min_lr: float = 1e-5
    weight_decay: float = 1e-6
    amsgrad: bool = False
    warmup_epochs: float = 1.0
    scheduler: str = "cosine"
    energy_weight: float = 50.0
    force_weight: float = 80.0
    loss: str = "mse"
    huber_delta: float = 0.01
    force_only: bool = False
    reference_energies: dict[str, float] | None = None
    ema_decay: float = 0.99
    grad_clip: float = 10.0
    patience: int = 50
    seed: int = 0
    device: str = "cpu"
    dtype: str = "float32"
    num_threads: int | None = None
    num_workers: int = 0
    cache: bool = True
    tensorboard: bool = False
    progress: bool = True
    time_limit_minutes: float | None = None
    init_from: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown training config keys: {sorted(unknown)}")
        return cls(**{f.name: _number(f, data[f.name]) for f in fields(cls) if f.name in data})

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: dict[str, Any] | None = None) -> "TrainConfig":
        """The config in a YAML file, with ``overrides`` (field -> value) on top."""
        import yaml

        return cls.from_dict({**(yaml.safe_load(Path(path).read_text()) or {}), **(overrides or {})})


_NUMBER_TYPES = {"float": float, "float | None": float, "int": int, "int | None": int}


def _number(f, value: Any) -> Any:
    """A numeric field's value as a number. YAML reads ``5e-3`` (no decimal point) as the
    string "5e-3", in config files and in ``--set`` alike; such strings are converted here,
    and a string that is no number is a clear error, not a crash deep in the optimizer."""
    kind = _NUMBER_TYPES.get(str(f.type))
    if kind is None or not isinstance(value, str):
        return value
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"training config {f.name!r} must be a number, got {value!r}") from None
    if kind is int:
        if not number.is_integer():
            raise ValueError(f"training config {f.name!r} must be an integer, got {value!r}")
        return int(number)
    return number
