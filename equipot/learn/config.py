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

from dataclasses import dataclass
from typing import Any

from equipot.config import Config, setting
from equipot.errors import EquipotError
from equipot.learn.select import ORDERS


@dataclass
class LearnConfig(Config):
    what = "learn config"

    data: str | list[str] = setting(help="the labelled frames to start from (frame stores, as TrainConfig.data)")
    structures: str | list[str] = setting(help="where the MD starts: structure files or shipped molecule names")
    out: str = setting("runs/learn", "run folder: data.h5, round_K/, state.json")
    initial_frames: int | None = setting(None, "start from this many of the data's frames only, drawn at random")
    temperatures: list[float] = setting(factory=lambda: [500.0], help="K; every structure is run at each")
    reference: str = setting("gfn2", "labels: gfn2 | pyscf | pyscf:XC/BASIS | module:function")
    committee: int = setting(4, "number of models, trained from seeds seed..seed+committee-1")
    models: list[str] | None = setting(None, "a starting committee of checkpoints (then committee is ignored)")
    train: dict[str, Any] = setting(factory=dict, help="TrainConfig fields for the first committee")
    finetune: dict[str, Any] = setting(
        factory=lambda: {"epochs": 10, "lr": 1e-3, "warmup_epochs": 0.0, "loss": "huber"},
        help="TrainConfig fields for each later round (starts from the round before)",
    )
    replicas: int = setting(4, "batched Langevin replicas of every structure at every temperature")
    duration_ps: float = setting(5.0, "exploration MD per round, ps")
    timestep_fs: float = setting(0.5, "fs")
    friction_per_fs: float = setting(0.01, "Langevin friction, 1/fs")
    sample_every: int = setting(20, "steps between the frames the committee is asked about")
    lower: float | str = setting(0.05, "eV/Å, or auto: candidates have a force disagreement in [lower, upper)")
    upper: float = setting(1.0, "eV/Å; above it a frame is taken as a blow-up, not a candidate")
    lower_quantile: float = setting(
        0.95, "lower: auto sets lower to this quantile of the disagreement on held-out labelled frames"
    )
    max_frames: int = setting(50, "labels per round at most")
    max_per_run: int | None = setting(10, "labels per MD run per round at most")
    min_change: float = setting(0.05, "Å; a candidate must differ this much from those already chosen")
    select_order: str = setting("uncertain", "uncertain (most uncertain first) | random (DP-GEN's)")
    max_rounds: int = setting(5, "exploration rounds at most")
    label_budget: int = setting(500, "labels at most over all rounds")
    test_data: str | None = setting(None, "held-out frames for the per-round error")
    keep_splits: bool = setting(False, "keep every frame's train/validation assignment as the store grows")
    seed: int = setting(0, "seed of the committee, the MD and the selection")
    dtype: str = setting("float32", "dtype of exploration and committee queries")
    num_threads: int | None = setting(None, "torch threads")

    def __post_init__(self) -> None:
        self.check_types()
        if isinstance(self.structures, str):
            self.structures = [self.structures]
        if not self.structures:
            raise EquipotError("give at least one starting structure")
        if self.models is not None and len(self.models) < 2:
            raise EquipotError("a committee needs at least two models")
        if self.models is None and self.committee < 2:
            raise EquipotError(f"committee must be at least 2 models, got {self.committee}")
        if self.lower == "auto":
            if not 0 < self.lower_quantile < 1:
                raise EquipotError(f"lower_quantile must be in (0, 1), got {self.lower_quantile}")
        elif isinstance(self.lower, str) or not 0 <= self.lower < self.upper:
            raise EquipotError(f"need 0 <= lower < upper (eV/Å) or lower: auto, got {self.lower!r}, {self.upper}")
        if self.select_order not in ORDERS:
            raise EquipotError(f"select_order must be one of {ORDERS}, got {self.select_order!r}")
        for name in ("replicas", "sample_every", "max_rounds"):
            if int(getattr(self, name)) < 1:
                raise EquipotError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.duration_ps <= 0 or self.label_budget < 0:
            raise EquipotError("duration_ps must be positive and label_budget >= 0")
        from equipot.train.config import TrainConfig

        for section in (self.train, self.finetune):
            TrainConfig.checked(section)  # unknown keys and types, now rather than in round 1
        for key in ("data", "out", "init_from"):
            if key in self.train or key in self.finetune:
                raise EquipotError(f"train/finetune may not set {key!r}: the loop sets it each round")
        for key in ("train_size", "val_size", "test_size"):
            value = {**self.train, **self.finetune}.get(key, 0.5)
            if not 0 <= value < 1:
                raise EquipotError(f"{key} must be a fraction of the growing store, got {value}")
        if self.initial_frames is not None and self.initial_frames < 2:
            raise EquipotError(f"initial_frames must be at least 2, got {self.initial_frames}")

    @property
    def committee_size(self) -> int:
        return len(self.models) if self.models else int(self.committee)
