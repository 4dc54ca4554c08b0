"""Trainer: AdamW, warm-up + cosine (or plateau) schedule, EMA, early stopping, exact resume.

Python API::

    from equipot.train import TrainConfig, Trainer
    Trainer(TrainConfig(data="datasets/md17_gfn2/aspirin.h5", out="runs/aspirin")).fit()

or ``equipot train CONFIG.yaml`` with the same fields in YAML (see ``example.yaml``).
"""

from __future__ import annotations

import copy
import csv
import math
import random
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from equipot.checkpoint import atomic_save, checkpoint_dict, parse_dtype
from equipot.data.graph import collate
from equipot.data.store import FrameStore
from equipot.data.splits import load_or_make_splits
from equipot.model import Equiformer, EquiformerConfig
from equipot.train.data import GraphDataset, dataset_statistics, fit_reference_energies, species_in
from equipot.train.losses import energy_force_loss
from equipot.train.metrics import error_metrics


@dataclass
class TrainConfig:
    """Everything a run needs; serialisable to YAML. Sizes are frame counts or fractions."""

    data: str
    out: str = "runs/train"
    train_size: float = 0.8
    val_size: float = 0.1
    test_size: float = 0.1
    split_seed: int = 0
    model: dict[str, Any] = field(default_factory=lambda: {"preset": "small"})
    epochs: int = 100
    batch_size: int = 8
    lr: float = 2e-3
    min_lr: float = 1e-5
    weight_decay: float = 1e-6
    warmup_epochs: float = 1.0
    scheduler: str = "cosine"
    energy_weight: float = 1.0
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
    progress: bool = True

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown training config keys: {sorted(unknown)}")
        return cls(**data)

    @classmethod
    def from_yaml(cls, path: str | Path) -> "TrainConfig":
        import yaml

        return cls.from_dict(yaml.safe_load(Path(path).read_text()) or {})


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Trainer:
    def __init__(self, config: TrainConfig, resume: bool = False) -> None:
        self.config = c = config
        self.out = Path(c.out)
        self.out.mkdir(parents=True, exist_ok=True)
        if c.num_threads:
            torch.set_num_threads(c.num_threads)
        self.device = torch.device(c.device)
        self.dtype = parse_dtype(c.dtype)
        _seed_everything(c.seed)

        model_cfg = dict(c.model)
        preset = model_cfg.pop("preset", "md17")
        with FrameStore(c.data) as store:
            n_frames = len(store)
        self.splits = load_or_make_splits(c.data, n_frames, {"train": c.train_size, "val": c.val_size, "test": c.test_size},
                                          seed=c.split_seed)
        cutoff = EquiformerConfig.preset(preset, species=["H"], **model_cfg).cutoff
        self.train_set = GraphDataset(c.data, cutoff, self.splits["train"])
        self.val_set = GraphDataset(c.data, cutoff, self.splits["val"])
        species = model_cfg.pop("species", None) or species_in(self.train_set)
        stats = dataset_statistics(self.train_set)
        e0 = c.reference_energies or fit_reference_energies(self.train_set, species)
        self.stats = {**stats, "reference_energies": e0}
        model_cfg.setdefault("avg_num_neighbors", stats["avg_num_neighbors"])
        self.model = Equiformer(EquiformerConfig.preset(preset, species=species, **model_cfg))
        self.model.set_reference_energies(e0)
        self.model.scale.fill_(stats["force_rms"])
        self.model.to(device=self.device, dtype=self.dtype)
        self.ema = copy.deepcopy(self.model).eval()

        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=c.lr, weight_decay=c.weight_decay)
        self.steps_per_epoch = math.ceil(len(self.train_set) / c.batch_size)
        total = c.epochs * self.steps_per_epoch
        warmup = max(1, int(c.warmup_epochs * self.steps_per_epoch))
        floor = c.min_lr / c.lr

        def lr_factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            if c.scheduler == "cosine":
                progress = min(1.0, (step - warmup) / max(1, total - warmup))
                return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
            return 1.0

        if c.scheduler not in ("cosine", "plateau"):
            raise ValueError(f"scheduler must be 'cosine' or 'plateau', got {c.scheduler!r}")
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_factor)
        self.plateau = (torch.optim.lr_scheduler.ReduceLROnPlateau(self.optimizer, factor=0.5, patience=10, min_lr=c.min_lr)
                        if c.scheduler == "plateau" else None)
        self.epoch = 0
        self.best = float("inf")
        self.bad_epochs = 0
        self.history: list[dict[str, float]] = []
        if resume:
            self._load_state(self.out / "last.pt")

    # --- one epoch -----------------------------------------------------------------------
    def _batches(self, dataset: GraphDataset, shuffle: bool, epoch: int):
        order = list(range(len(dataset)))
        if shuffle:  # a generator per epoch: the order does not depend on what ran before
            g = torch.Generator().manual_seed(self.config.seed * 100003 + epoch)
            order = torch.randperm(len(dataset), generator=g).tolist()
        bs = self.config.batch_size
        for start in range(0, len(order), bs):
            yield collate([dataset[k] for k in order[start : start + bs]]).to(self.device, self.dtype)

    def _loss(self, model: Equiformer, batch, create_graph: bool):
        c = self.config
        pred = model(batch, compute_forces=True, create_graph=create_graph)
        loss, parts = energy_force_loss(
            pred, batch.energy, batch.forces, batch.atoms_per_graph(), energy_weight=c.energy_weight,
            force_weight=c.force_weight, force_only=c.force_only, kind=c.loss, huber_delta=c.huber_delta)
        return loss, parts, pred

    def train_epoch(self) -> float:
        self.model.train()
        total, n = 0.0, 0
        from tqdm.auto import tqdm

        bar = tqdm(self._batches(self.train_set, True, self.epoch), total=self.steps_per_epoch,
                   desc=f"epoch {self.epoch + 1}/{self.config.epochs}", disable=not self.config.progress, leave=False)
        for batch in bar:
            self.optimizer.zero_grad(set_to_none=True)
            loss, parts, _ = self._loss(self.model, batch, create_graph=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
            self.optimizer.step()
            self.scheduler.step()
            self._update_ema()
            total += float(loss.detach()) * batch.num_graphs
            n += batch.num_graphs
            bar.set_postfix(loss=f"{total / n:.4g}")
        return total / max(n, 1)

    @torch.no_grad()
    def _update_ema(self) -> None:
        d = self.config.ema_decay
        for p_ema, p in zip(self.ema.parameters(), self.model.parameters()):
            p_ema.lerp_(p, 1 - d)
        for b_ema, b in zip(self.ema.buffers(), self.model.buffers()):
            b_ema.copy_(b)

    def evaluate(self, dataset: GraphDataset, model: Equiformer | None = None) -> dict[str, Any]:
        """Loss and error metrics of ``model`` (default: the EMA weights) on ``dataset``."""
        model = model or self.ema
        model.eval()
        e_p, e_r, f_p, f_r, n_at, loss_sum = [], [], [], [], [], 0.0
        for batch in self._batches(dataset, False, 0):
            loss, _, pred = self._loss(model, batch, create_graph=False)
            loss_sum += float(loss) * batch.num_graphs
            e_p.append(pred["energy"].detach().cpu().numpy())
            e_r.append(batch.energy.cpu().numpy())
            f_p.append(pred["forces"].detach().cpu().numpy())
            f_r.append(batch.forces.cpu().numpy())
            n_at.append(batch.atoms_per_graph().cpu().numpy())
        arrays = [np.concatenate(a) for a in (e_p, e_r, f_p, f_r, n_at)]
        return {"loss": loss_sum / len(dataset), **error_metrics(*arrays), "arrays": arrays}

    # --- checkpoints ---------------------------------------------------------------------
    def _metadata(self) -> dict[str, Any]:
        c = self.config
        return {"objective": "forces" if c.force_only else "energy+forces", "epoch": self.epoch,
                "train_config": asdict(c), "data": str(c.data), "train_frames": len(self.train_set),
                "statistics": self.stats, "best_val_loss": self.best}

    def _save(self, improved: bool) -> None:
        ckpt = checkpoint_dict(self.ema, self._metadata())
        if improved:
            atomic_save(ckpt, self.out / "best.pt")
        ckpt["training_state"] = {
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "plateau": self.plateau.state_dict() if self.plateau else None,
            "epoch": self.epoch, "best": self.best, "bad_epochs": self.bad_epochs,
            "history": self.history,
            # batch order comes from a generator seeded per epoch; only torch's global RNG
            # (parameter init happened before) needs restoring
            "rng": {"torch": torch.get_rng_state()},
        }
        atomic_save(ckpt, self.out / "last.pt")

    def _load_state(self, path: Path) -> None:
        if not path.is_file():
            raise FileNotFoundError(f"nothing to resume: {path} does not exist")
        data = torch.load(path, map_location="cpu", weights_only=True)
        state = data["training_state"]
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(data["state_dict"])
        self.model.to(self.device, self.dtype)
        self.ema.to(self.device, self.dtype)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.plateau and state["plateau"]:
            self.plateau.load_state_dict(state["plateau"])
        self.epoch, self.best, self.bad_epochs = state["epoch"], state["best"], state["bad_epochs"]
        self.history = list(state["history"])
        torch.set_rng_state(state["rng"]["torch"])

    # --- the run -------------------------------------------------------------------------
    def fit(self, stop_after: int | None = None) -> dict[str, Any]:
        """Train until ``epochs`` or early stopping; returns the best validation metrics.

        ``stop_after`` ends this call after that epoch, as if the run were killed there
        (the run continues with ``Trainer(config, resume=True).fit()``).
        """
        c = self.config
        log_path = self.out / "metrics.csv"
        last = c.epochs if stop_after is None else min(c.epochs, stop_after)
        while self.epoch < last and self.bad_epochs < c.patience:
            t0 = time.perf_counter()
            train_loss = self.train_epoch()
            val = self.evaluate(self.val_set)
            self.epoch += 1
            if self.plateau:
                self.plateau.step(val["loss"])
            improved = val["loss"] < self.best
            self.best = min(self.best, val["loss"])
            self.bad_epochs = 0 if improved else self.bad_epochs + 1
            row = {"epoch": self.epoch, "train_loss": train_loss, "val_loss": val["loss"],
                   "lr": self.optimizer.param_groups[0]["lr"], "seconds": time.perf_counter() - t0,
                   **{f"val_{k}": v for k, v in val.items() if k not in ("loss", "arrays")}}
            self.history.append(row)
            with open(log_path, "w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=list(row))
                writer.writeheader()
                writer.writerows(self.history)
            self._save(improved)
            if c.progress:
                print(f"epoch {self.epoch:4d}  train {train_loss:.4g}  val {val['loss']:.4g}  "
                      f"F MAE {val['force_mae']:.1f} meV/Å  E MAE {val['energy_mae']:.1f} meV  "
                      f"({row['seconds']:.0f} s)", flush=True)
        from equipot.train.plots import plot_learning_curve

        plot_learning_curve(self.history, self.out / "learning_curve.png")
        return min(self.history, key=lambda r: r["val_loss"]) if self.history else {}
