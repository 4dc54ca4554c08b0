"""Training configuration: every field of a run, readable from YAML.

``equipot train --help-config`` prints every field with its type, default and description
(``TrainConfig.describe()``); the descriptions live next to the fields below. The whole config,
the ``model:`` section included, is checked when it is loaded, before any data is read.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from equipot.config import Config, check_choice, check_range, setting
from equipot.errors import EquipotError


@dataclass
class TrainConfig(Config):
    """Everything a run needs; serialisable to YAML. Sizes are frame counts or fractions."""

    what = "training config"

    data: str | list[str] = setting(help="frame store (.h5), a glob pattern, or a list of them")
    out: str = setting("runs/train", "run folder: best.pt, last.pt, metrics.csv, PNG plots")
    train_size: float = setting(0.8, "training frames per file: a count, or a fraction if < 1")
    val_size: float = setting(0.1, "validation frames per file: a count, or a fraction if < 1")
    test_size: float = setting(0.1, "test frames per file: a count, or a fraction if < 1")
    split_seed: int = setting(0, "seed of the train/val/test split (saved next to the data: <data>.splits.json)")
    split_stages: list[int] = setting(
        factory=list,
        help="earlier lengths of a store that grew, so its frames keep their split (equipot learn sets them)",
    )
    model: dict[str, Any] = setting(
        factory=dict,
        help="preset (small, the default | medium | md17 | ...) plus any EquiformerConfig field; "
        "with init_from only species and dispersion",
    )
    epochs: int = setting(100, "training epochs (an upper bound with time_limit_minutes)")
    batch_size: int = setting(4, "frames per optimizer step (global, over all processes)")
    lr: float = setting(5e-3, "peak learning rate (AdamW)")
    min_lr: float = setting(1e-5, "learning rate at the end of the cosine schedule")
    weight_decay: float = setting(1e-6, "AdamW's decoupled weight decay, on weight matrices only")
    amsgrad: bool = setting(False, "AdamW's AMSGrad variant (MACE's choice)")
    warmup_epochs: float = setting(1.0, "linear learning-rate warm-up, in epochs")
    scheduler: str = setting("cosine", "cosine | plateau")
    energy_weight: float = setting(50.0, "weight of the per-atom energy MSE, (eV/atom)^-2")
    force_weight: float = setting(80.0, "weight of the force-component MSE, (eV/Å)^-2")
    stress_weight: float = setting(0.0, "weight of the stress-component MSE, GPa^-2 (frames with a stress only)")
    loss: str = setting("mse", "mse | huber")
    huber_delta: float = setting(0.01, "Huber loss threshold (eV/atom and eV/Å)")
    force_only: bool = setting(False, "loss on forces alone (PolyGET); E0 refitted on the training energies each epoch")
    reference_energies: dict[str, float] | None = setting(
        None, "{symbol: eV}, or null: least squares on the training energies"
    )
    ema_decay: float = setting(0.99, "exponential moving average of the weights (0: none)")
    grad_clip: float = setting(10.0, "gradient-norm clip")
    patience: int = setting(50, "epochs without a better validation loss before stopping")
    seed: int = setting(0, "seed of the weights and the batch order")
    device: str = setting("cpu", "cpu | cuda | cuda:N")
    dtype: str = setting("float32", "float32 | float64")
    num_threads: int | None = setting(None, "torch threads (default: torch's)")
    num_workers: int = setting(0, "DataLoader worker processes")
    cache: bool = setting(True, "keep neighbour lists in memory")
    compile: bool = setting(
        False,
        "train through the compiled step (equipot.train.compiled_step): compiled once per architecture, "
        "batch size and loss settings (minutes), then faster steps; single process, no dispersion term",
    )
    tensorboard: bool = setting(False, "write TensorBoard logs (needs the tensorboard package)")
    progress: bool = setting(True, "progress bars")
    time_limit_minutes: float | None = setting(
        None, "wall-clock budget: after every epoch, epochs is set to what fits, and the cosine schedule with it"
    )
    init_from: str | None = setting(
        None,
        "fine-tune: start from a checkpoint or shipped model (elements it lacks are added; of model: "
        "only species and dispersion then apply; optimizer and schedule start fresh)",
    )

    def __post_init__(self) -> None:
        self.check_types()
        if isinstance(self.data, list) and not self.data or self.data == "":
            raise EquipotError(f"{self.what} 'data' must name at least one frame store")
        for key in ("train_size", "val_size", "test_size"):
            check_range(f"{self.what} {key!r}", getattr(self, key), 0)
        check_range(f"{self.what} 'epochs'", self.epochs, 0)
        check_range(f"{self.what} 'batch_size'", self.batch_size, 1)
        for key in ("lr", "huber_delta"):
            check_range(f"{self.what} {key!r}", getattr(self, key), 0, low_open=True)
        for key in (
            "min_lr",
            "weight_decay",
            "warmup_epochs",
            "energy_weight",
            "force_weight",
            "stress_weight",
            "grad_clip",
        ):
            check_range(f"{self.what} {key!r}", getattr(self, key), 0)
        check_range(f"{self.what} 'ema_decay'", self.ema_decay, 0, 1)
        check_range(f"{self.what} 'patience'", self.patience, 1)
        check_range(f"{self.what} 'num_workers'", self.num_workers, 0)
        check_range(f"{self.what} 'num_threads'", self.num_threads, 1)
        check_range(f"{self.what} 'time_limit_minutes'", self.time_limit_minutes, 0, low_open=True)
        check_choice(f"{self.what} 'scheduler'", self.scheduler, ("cosine", "plateau"))
        check_choice(f"{self.what} 'loss'", self.loss, ("mse", "huber"))
        check_choice(f"{self.what} 'dtype'", self.dtype, ("float32", "float64"))
        if self.init_from is None:
            self.model = check_model_section(self.model)
        else:
            self.model = fine_tune_model_section(self.model, self.init_from)


FINE_TUNE_MODEL_KEYS = ("species", "dispersion")


def fine_tune_model_section(model: dict[str, Any], init_from: str) -> dict[str, Any]:
    """The ``model:`` keys a fine-tune applies (``FINE_TUNE_MODEL_KEYS``); the architecture is
    the checkpoint's. Other keys are dropped with a warning, so that the run's recorded config
    says what it trained, not what the YAML asked for."""
    if not isinstance(model, dict):
        raise EquipotError(f"training config 'model' must be a mapping (species: [...], ...), got {model!r}")
    ignored = sorted(k for k in model if k not in FINE_TUNE_MODEL_KEYS)
    if ignored:
        warnings.warn(
            f"init_from {init_from}: the architecture is the checkpoint's; model keys {', '.join(ignored)} "
            f"do not apply (a fine-tune uses only {' and '.join(FINE_TUNE_MODEL_KEYS)})",
            stacklevel=4,  # the caller that built the config
        )
    return {k: v for k, v in model.items() if k in FINE_TUNE_MODEL_KEYS}


def check_model_section(model: dict[str, Any]) -> dict[str, Any]:
    """The ``model:`` section checked as a whole: a known preset, known ``EquiformerConfig``
    keys with values of the right type, and an architecture that builds (irreps, heads)."""
    from equipot.model import PRESETS, EquiformerConfig

    if not isinstance(model, dict):
        raise EquipotError(f"training config 'model' must be a mapping (preset: small, ...), got {model!r}")
    model = dict(model)
    preset = model.pop("preset", "small")
    check_choice("training config 'model.preset'", preset, sorted(PRESETS))
    checked = EquiformerConfig.checked(model)
    # irreps, heads, cutoff, element symbols: errors now (species default to the data's)
    EquiformerConfig.preset(preset, **{"species": ["H"], **checked})
    return {"preset": preset, **checked}
