"""Settings of an active-learning run, readable from YAML (``equipot learn CONFIG.yaml``).

Fields (YAML keys, all of ``LearnConfig``):
    data: the labelled frames to start from (frame stores, as ``TrainConfig.data``);
    initial_frames: start from this many of them only, drawn at random (seed), e.g. a small
        set to grow.
    out: run folder: the growing store ``data.h5``, ``round_K/`` per round, ``state.json``.
    structures: where the MD starts: structure files or shipped molecule names.
    temperatures: K; every structure is run at each.
    reference: labels for the chosen frames: "gfn2" (tblite), "pyscf" or "pyscf:XC/BASIS", or
        "module:function" naming a function that returns any ASE calculator.
    committee: number of models, trained from seeds seed..seed+committee-1 (ignored when
        ``models`` names a starting committee of checkpoints).
    train: ``TrainConfig`` fields for training the first committee (model, epochs,
        time_limit_minutes, ...); finetune: the same for each later round, which starts from the
        round before's models (``init_from``) on the store with the new labels. The default
        fine-tune uses a Huber loss (delta 0.01, as MACE's): the frames the loop labels sit in
        the tails, often eV above the starting frames, and under a squared loss their few large
        energy errors pull every prediction up, an offset on typical frames; Huber bounds each
        frame's pull to delta. Splits are
        fractions of the growing store (default 0.9 train, 0.1 validation), so every label
        added is trained on or validated with.
    replicas, duration_ps, timestep_fs, friction_per_fs: the exploration MD of each round
        (batched Langevin replicas of every structure at every temperature).
    sample_every: steps between the frames the committee is asked about.
    lower, upper: eV/Å; frames whose largest per-atom force disagreement is in [lower, upper)
        are candidates (``equipot.learn.select``). ``lower: auto`` sets it each round to the
        ``lower_quantile`` quantile of the committee's disagreement on labelled frames it was not
        trained on (its validation frames among the starting frames, not the loop's own): a
        frame is a candidate when the committee is less sure of it than of nearly all frames
        like its data (DP-GEN sets its lower trust level a little above the model's error on
        its own data; this measures that level per system).
        max_frames (per round), max_per_run and min_change (Å) keep one excursion from filling
        a round; select_order: "uncertain" (most uncertain first) or "random" (DP-GEN's: any
        frame of the window, seeded by seed and round).
    max_rounds: exploration rounds at most; label_budget: labels at most over all rounds.
    test_data: held-out frames for the per-round error (optional).
    keep_splits: keep every frame's train/validation assignment as the store grows, the labels
    of each round split among themselves in the ``train`` fractions, so a fine-tuned committee
    never validates on frames its parent trained on (``equipot.data.splits.grown_splits``);
    false: each round draws a new split of the whole store.
    seed, dtype (of exploration and committee queries), num_threads.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from equipot.learn.select import ORDERS


@dataclass
class LearnConfig:
    data: str | list[str]
    structures: list[str]
    out: str = "runs/learn"
    initial_frames: int | None = None
    temperatures: list[float] = field(default_factory=lambda: [500.0])
    reference: str = "gfn2"
    committee: int = 4
    models: list[str] | None = None
    train: dict[str, Any] = field(default_factory=dict)
    finetune: dict[str, Any] = field(default_factory=lambda: {"epochs": 10, "lr": 1e-3, "warmup_epochs": 0.0,
                                                                "loss": "huber"})
    replicas: int = 4
    duration_ps: float = 5.0
    timestep_fs: float = 0.5
    friction_per_fs: float = 0.01
    sample_every: int = 20
    lower: float | str = 0.05
    upper: float = 1.0
    lower_quantile: float = 0.95
    max_frames: int = 50
    max_per_run: int | None = 10
    min_change: float = 0.05
    select_order: str = "uncertain"
    max_rounds: int = 5
    label_budget: int = 500
    test_data: str | None = None
    keep_splits: bool = False
    seed: int = 0
    dtype: str = "float32"
    num_threads: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.structures, str):
            self.structures = [self.structures]
        if not self.structures:
            raise ValueError("give at least one starting structure")
        if self.models is not None and len(self.models) < 2:
            raise ValueError("a committee needs at least two models")
        if self.models is None and self.committee < 2:
            raise ValueError(f"committee must be at least 2 models, got {self.committee}")
        if self.lower == "auto":
            if not 0 < self.lower_quantile < 1:
                raise ValueError(f"lower_quantile must be in (0, 1), got {self.lower_quantile}")
        elif isinstance(self.lower, str) or not 0 <= self.lower < self.upper:
            raise ValueError(f"need 0 <= lower < upper (eV/Å) or lower: auto, got {self.lower!r}, {self.upper}")
        if self.select_order not in ORDERS:
            raise ValueError(f"select_order must be one of {ORDERS}, got {self.select_order!r}")
        for name in ("replicas", "sample_every", "max_rounds"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.duration_ps <= 0 or self.label_budget < 0:
            raise ValueError("duration_ps must be positive and label_budget >= 0")
        for key in ("data", "out", "init_from"):
            if key in self.train or key in self.finetune:
                raise ValueError(f"train/finetune may not set {key!r}: the loop sets it each round")
        for key in ("train_size", "val_size", "test_size"):
            value = {**self.train, **self.finetune}.get(key, 0.5)
            if not 0 <= value < 1:
                raise ValueError(f"{key} must be a fraction of the growing store, got {value}")
        if self.initial_frames is not None and self.initial_frames < 2:
            raise ValueError(f"initial_frames must be at least 2, got {self.initial_frames}")

    @property
    def committee_size(self) -> int:
        return len(self.models) if self.models else int(self.committee)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LearnConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown learn settings {sorted(unknown)}; known: {sorted(known)}")
        return cls(**data)

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: dict[str, Any] | None = None) -> "LearnConfig":
        """The settings in a YAML file, with ``overrides`` (setting -> value) on top."""
        import yaml

        data = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping of settings")
        return cls.from_dict({**data, **(overrides or {})})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
