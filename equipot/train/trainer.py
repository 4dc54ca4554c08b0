"""Trainer: AdamW, warm-up + cosine (or plateau) schedule, EMA, early stopping, exact resume.

``Trainer(TrainConfig(data="datasets/md17_gfn2/aspirin.h5", out="runs/aspirin")).fit()``, or
``equipot train CONFIG.yaml`` with the fields of ``TrainConfig`` in YAML. Data-parallel:
``torchrun --nproc_per_node=N -m equipot train CONFIG.yaml`` (each global batch is split over
the ranks, gradients summed; only rank 0 writes checkpoints, logs and plots).
"""

from __future__ import annotations

import copy
import math
import random
import time
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from equipot.checkpoint import parse_dtype
from equipot.data.graph import collate
from equipot.data.splits import load_or_make_splits
from equipot.data.store import FrameStore
from equipot.errors import EquipotError, MissingFileError
from equipot.model import EquiformerConfig
from equipot.potential import Potential
from equipot.train import distributed as ddp
from equipot.train.config import TrainConfig
from equipot.train.data import (
    ConcatGraphDataset,
    GraphDataset,
    composition_and_energies,
    dataset_statistics,
    dispersion_energies,
    expand_data_paths,
    least_squares_reference_energies,
    species_in,
)
from equipot.train.finetune import extend_species, residual_reference_energies, swap_dispersion
from equipot.train.losses import energy_force_loss
from equipot.train.metrics import evaluate_batches
from equipot.train.optim import make_optimizer
from equipot.train.run_log import RunLog
from equipot.train.run_state import fit_time_budget, load_run, save_run


class Trainer:
    def __init__(self, config: TrainConfig, resume: bool = False) -> None:
        self.config = c = config
        self.out = Path(c.out)
        if resume and not (self.out / "last.pt").is_file():  # before any file is written
            raise MissingFileError(f"nothing to resume: {self.out / 'last.pt'} does not exist")
        self.out.mkdir(parents=True, exist_ok=True)
        if c.num_threads:
            torch.set_num_threads(c.num_threads)
        self.rank, self.world_size, self.device = ddp.init_from_env(c.device)
        self.is_main = self.rank == 0
        self.dtype = parse_dtype(c.dtype)
        random.seed(c.seed)
        np.random.seed(c.seed % 2**32)
        torch.manual_seed(c.seed)

        model_cfg = dict(c.model)
        preset = model_cfg.pop("preset", "small")
        species = model_cfg.pop("species", None)
        pretrained = _pretrained(c.init_from, c.dtype) if c.init_from else None
        cutoff = pretrained.cutoff if pretrained else EquiformerConfig.preset(preset, species=["H"], **model_cfg).cutoff
        self._load_data(cutoff)
        species = species or species_in(self.train_set)
        added = [s for s in species if s not in pretrained.species] if pretrained else []
        if added:  # elements the checkpoint never saw: new embedding rows, E0 fitted below
            pretrained = extend_species(pretrained, added, seed=c.seed)
        stats = dataset_statistics(self.train_set)
        # element counts and energies of the training frames, read once: the E0 fit at the start
        # and the force-only refit after every epoch both use them
        e0_species = pretrained.species if pretrained else species
        counts, energies = composition_and_energies(self.train_set, e0_species)
        self.has_energies = bool(np.isfinite(energies).all())
        if not (self.has_energies or c.force_only):
            raise EquipotError("some training frames have no energy: train with force_only: true, or label them")
        self._composition = (e0_species, counts, energies)
        if (
            pretrained is not None
            and model_cfg.get("dispersion", pretrained.config.dispersion) != pretrained.config.dispersion
        ):
            # E0 is refitted below when the data has energies (a resumed run loads its own)
            shift = not self.has_energies and not resume
            pretrained = swap_dispersion(
                pretrained, model_cfg["dispersion"], self.train_set, self._composition, shift_reference=shift
            )
        self.model = pretrained or self._new_model(preset, model_cfg, species, stats)
        self.model.to(device=self.device, dtype=self.dtype)
        if pretrained is not None and self.has_energies and not resume:  # a resumed run loads its own E0
            # the new data may come from another level of theory (energies offset by eV per atom)
            # or hold elements the checkpoint lacks: E0 moves by the least-squares fit of the
            # residuals, so the fine-tune starts on the data's energy scale
            if self.is_main:
                adding = f"adding {', '.join(added)} to {c.init_from}; " if added else ""
                print(f"equipot: {adding}fitting the reference energies on the {len(self.train_set)} training frames")
            batches = self._batches(self.train_set, False, 0, split=False)
            self.model.set_reference_energies(residual_reference_energies(self.model, batches, self._composition))
        self.stats = {
            **stats,
            "reference_energies": dict(zip(self.model.species, self.model.reference_energies.tolist())),
        }
        if ddp.is_distributed():
            ddp.broadcast_parameters(self.model)
        self.ema = copy.deepcopy(self.model).eval()
        self.steps_per_epoch = math.ceil(len(self.train_set) / c.batch_size)
        self.epochs = c.epochs  # the time budget may shorten it (and the cosine schedule with it)
        self.optimizer, self.schedule, self.scheduler, self.plateau = make_optimizer(
            self.model, c, self.steps_per_epoch, self.device
        )
        self._step = None  # the compiled training step, made at the first batch (config compile)
        self.epoch = 0
        self.best = float("inf")
        self.bad_epochs = 0
        self._budget_announced = False  # the time budget's first estimate is printed in any case
        self.history: list[dict[str, float]] = []
        if resume:
            self._load_state(self.out / "last.pt")

    def _load_data(self, cutoff: float) -> None:
        """One split per data file (the sizes apply to each file, saved next to it) and the
        training and validation sets of all files together."""
        c = self.config
        self.data_paths = expand_data_paths(c.data)
        self.splits, other = {}, []
        for path in self.data_paths:
            with FrameStore(path) as store:
                n_frames = len(store)
            self.splits[path] = load_or_make_splits(
                path,
                n_frames,
                {"train": c.train_size, "val": c.val_size, "test": c.test_size},
                c.split_seed,
                c.split_stages,
                differing=other,
            )
        if other:  # one line, not one per file: a fine-tune with other sizes meets this on every file
            which = (
                other[0]
                if len(other) == 1
                else f"{len(other)} of the {len(self.data_paths)} data files' splits ({other[0]}, ...)"
            )
            warnings.warn(
                f"{which} {'holds' if len(other) == 1 else 'hold'} a different split (other sizes or seed); "
                f"this run draws its own (seed {c.split_seed}) and leaves the saved splits alone",
                stacklevel=2,
            )
        self.train_set, self.val_set = (
            ConcatGraphDataset([GraphDataset(p, cutoff, self.splits[p][name], cache=c.cache) for p in self.data_paths])
            for name in ("train", "val")
        )

    def _new_model(self, preset: str, model_cfg: dict, species: list[str], stats: dict) -> Potential:
        """A fresh potential: E0 from ``reference_energies`` or a least-squares fit to the
        training energies (zero without energies), force scale and neighbour count from the data."""
        c = self.config
        model_cfg.setdefault("avg_num_neighbors", stats["avg_num_neighbors"])
        model = Potential(EquiformerConfig.preset(preset, species=species, **model_cfg))
        _, counts, energies = self._composition
        if c.reference_energies or not self.has_energies:
            e0 = c.reference_energies or dict.fromkeys(species, 0.0)
        else:  # fitted to the labels less the dispersion term, which the model adds
            energies = energies - dispersion_energies(self.train_set, model.dispersion)
            e0 = least_squares_reference_energies(counts, energies, species)
        model.set_reference_energies(e0)
        model.scale.fill_(stats["force_rms"])
        return model

    # --- one epoch -----------------------------------------------------------------------
    def _batches(self, dataset: GraphDataset, shuffle: bool, epoch: int, split: bool = True):
        """Batches of this rank: the global batches of ``batch_size`` frames (in an order
        seeded by seed and epoch, identical on all ranks) cut into ``world_size`` slices."""
        order = list(range(len(dataset)))
        if shuffle:  # a generator per epoch: the order does not depend on what ran before
            g = torch.Generator().manual_seed(self.config.seed * 100003 + epoch)
            order = torch.randperm(len(dataset), generator=g).tolist()
        bs = self.config.batch_size
        batches = [order[i : i + bs] for i in range(0, len(order), bs)]
        if split and self.world_size > 1:
            batches = [b[self.rank :: self.world_size] for b in batches]
        loader = torch.utils.data.DataLoader(
            dataset, batch_sampler=batches, collate_fn=_collate_or_none, num_workers=self.config.num_workers
        )
        for batch in loader:
            yield None if batch is None else batch.to(self.device, self.dtype)

    def _loss(self, model: Potential, batch, create_graph: bool, shares: tuple[float, float] = (1.0, 1.0)):
        """Weighted loss; ``shares`` = (this rank's fraction of the global batch's structures,
        of its atoms), so the gradients summed over ranks equal the global-batch ones."""
        c = self.config
        with_stress = bool(c.stress_weight) and batch.stress is not None
        pred = model(batch, compute_forces=True, compute_stress=with_stress, create_graph=create_graph)
        loss, _ = energy_force_loss(
            pred,
            batch.energy,
            batch.forces,
            batch.atoms_per_graph(),
            energy_weight=c.energy_weight,
            force_weight=c.force_weight,
            force_only=c.force_only,
            kind=c.loss,
            huber_delta=c.huber_delta,
            shares=shares,
            stress=batch.stress,
            stress_weight=c.stress_weight,
        )
        return loss, pred

    def train_epoch(self) -> float:
        self.model.train()
        total, n = 0.0, 0
        from tqdm.auto import tqdm

        bar = tqdm(
            self._batches(self.train_set, True, self.epoch),
            total=self.steps_per_epoch,
            desc=f"epoch {self.epoch + 1}/{self.epochs}",
            disable=not (self.config.progress and self.is_main),
            leave=False,
        )
        for batch in bar:
            self.optimizer.zero_grad(set_to_none=True)
            if self.world_size > 1:
                shares, n_glob = ddp.batch_shares(batch, self.device)
                if batch is not None:
                    loss, _ = self._loss(self.model, batch, True, shares)
                    loss.backward()
                    loss_value = float(loss.detach())
                else:  # fewer frames than ranks in the last batch: contribute zero gradient
                    loss_value = 0.0
                ddp.sum_gradients(self.model)
                (loss_value,) = ddp.all_sum([loss_value], self.device)
                batch_graphs = int(n_glob)
            else:
                if self._step is None:
                    self._step = self._compiled_step(batch)
                if self._step and self._step.accepts(batch):
                    loss = self._step(self.model, batch)
                else:
                    loss, _ = self._loss(self.model, batch, create_graph=True)
                    loss.backward()
                loss_value, batch_graphs = float(loss.detach()), batch.num_graphs
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
            self.optimizer.step()
            self.scheduler.step()
            self._update_ema()
            total += loss_value * batch_graphs
            n += batch_graphs
            bar.set_postfix(loss=f"{total / n:.4g}")
        return total / max(n, 1)

    def _compiled_step(self, batch):
        """The compiled training step if the config asks for it and the run allows it, else False."""
        m = self.model
        if not self.config.compile:
            return False
        if m.dispersion is not None or m.edge_chunk_size is not None or m.checkpoint_blocks:
            print("equipot: the compiled step takes no dispersion term or memory options; training eager")
            return False
        from equipot.train.compiled_step import CompiledStep

        return CompiledStep(m, self.config, batch, progress=self.is_main)

    @torch.no_grad()
    def _update_ema(self) -> None:
        d = self.config.ema_decay
        for p_ema, p in zip(self.ema.parameters(), self.model.parameters()):
            p_ema.lerp_(p, 1 - d)
        for b_ema, b in zip(self.ema.buffers(), self.model.buffers()):
            b_ema.copy_(b)

    def evaluate(self, dataset: GraphDataset, model: Potential | None = None) -> dict[str, Any]:
        """Loss and error metrics of ``model`` (default: the EMA weights) on ``dataset``."""
        model = model or self.ema
        model.eval()
        if self.world_size == 1:
            return evaluate_batches(
                model,
                self._batches(dataset, False, 0, split=False),
                lambda m, batch: self._loss(m, batch, create_graph=False),
            )
        # each rank its slice of every batch, the loss weighted as in training: merged, the
        # numbers a single process reports
        return ddp.evaluate_slices(
            model,
            self._batches(dataset, False, 0),
            self.device,
            lambda m, batch, shares: self._loss(m, batch, False, shares),
        )

    @torch.no_grad()
    def _refit_reference_energies(self) -> None:
        """Force-only training cannot see a constant per-element energy, so the network drifts
        off the energy scale; after each epoch E0 is refitted by least squares on the training
        energies minus the EMA model's, and copied into the trained model (loss unaffected)."""
        batches = self._batches(self.train_set, False, 0, split=False)
        e0 = residual_reference_energies(self.ema, batches, self._composition)
        self.ema.set_reference_energies(e0)
        self.model.set_reference_energies(e0)
        self.stats["reference_energies"] = e0

    # --- checkpoints ---------------------------------------------------------------------
    def _metadata(self) -> dict[str, Any]:
        c = self.config
        return {
            "objective": "forces" if c.force_only else "energy+forces",
            "epoch": self.epoch,
            "init_from": c.init_from,
            "epochs": self.epochs,
            "train_config": asdict(c),
            "data": self.data_paths,
            "train_frames": len(self.train_set),
            "statistics": self.stats,
            "best_val_loss": self.best,
        }

    def _save(self, improved: bool) -> None:
        if self.is_main:
            save_run(self, improved)

    def _load_state(self, path: Path) -> None:
        load_run(self, path)

    # --- the run -------------------------------------------------------------------------
    def fit(self, stop_after: int | None = None) -> dict[str, Any]:
        """Train until ``epochs`` or early stopping; returns the best validation metrics.

        ``stop_after`` ends this call after that epoch, as if the run were killed there
        (the run continues with ``Trainer(config, resume=True).fit()``).
        """
        c = self.config
        log = RunLog(self.out, c.tensorboard, c.progress, active=self.is_main)
        # a resumed run's budget counts the epochs it already trained
        start = time.perf_counter() - sum(r["seconds"] for r in self.history)
        self._budget_announced = False
        while (
            self.epoch < (self.epochs if stop_after is None else min(self.epochs, stop_after))
            and self.bad_epochs < c.patience
        ):
            t0 = time.perf_counter()
            train_loss = self.train_epoch()
            if c.force_only and self.has_energies:
                self._refit_reference_energies()
            val = self.evaluate(self.val_set)
            self.epoch += 1
            if self.plateau:
                self.plateau.step(val["loss"])
            improved = val["loss"] < self.best
            self.best = min(self.best, val["loss"])
            self.bad_epochs = 0 if improved else self.bad_epochs + 1
            row = {
                "epoch": self.epoch,
                "train_loss": train_loss,
                "val_loss": val["loss"],
                "lr": self.optimizer.param_groups[0]["lr"],
                "seconds": time.perf_counter() - t0,
                **{f"val_{k}": v for k, v in val.items() if k not in ("loss", "arrays", "stress_arrays")},
            }
            self.history.append(row)
            if c.time_limit_minutes:
                fit_time_budget(self, time.perf_counter() - start, [r["seconds"] for r in self.history])
            self._save(improved)
            log.epoch(self.history)
        log.close()
        if self.history:
            from equipot.train.plots import plot_learning_curve, plot_parity

            val = self.evaluate(self.val_set)  # EMA weights, as saved; every rank takes part
            if self.is_main:
                plot_learning_curve(self.history, self.out / "learning_curve.png")
                plot_parity(val["arrays"], val, self.out / "parity_val.png", title=f"validation, epoch {self.epoch}")
        return min(self.history, key=lambda r: r["val_loss"]) if self.history else {}

    def close(self) -> None:
        """Close the frame stores the datasets hold open (so another writer can open them)."""
        for dataset in (self.train_set, self.val_set):
            dataset.close()


def _pretrained(spec: str, dtype: str) -> Potential:
    """The model to fine-tune (checkpoint path or shipped name), in the run's dtype (a float64
    run starts from the checkpoint's weights as they are, not rounded), in training mode."""
    from equipot.checkpoint import load_model

    return load_model(spec, device="cpu", dtype=dtype).train()


def _collate_or_none(graphs):
    """``collate`` that lets a rank receive an empty slice of a short last batch."""
    return collate(graphs) if graphs else None
