"""The active-learning loop: train a committee, explore with MD, label where it disagrees, repeat.

Each round K (folder ``OUT/round_K``) has four stages, each finished before the next starts and
each leaving files that say it is done, so a killed loop continues where it stopped:

1. **committee**: round 0 trains ``committee`` models from different seeds on the starting
   frames (or takes the given ``models``); round K > 0 fine-tunes round K-1's models
   (``init_from``) on the store with every label so far. ``model_k/best.pt`` and a ``done``
   file per model; an interrupted model resumes from its ``last.pt``.
2. **explore**: batched Langevin replicas of every structure at every temperature with the
   first model (``ReplicaDynamics``, restartable), a frame every ``sample_every`` steps; then
   every member's forces on those frames give its disagreement. ``candidates.npz``.
3. **select**: thresholds and de-duplication (``equipot.learn.select``), within what is left of
   the label budget. ``selected.json``.
4. **label**: the reference on each selected frame, appended to ``OUT/data.h5`` one by one; how
   many are done is read from the store's length, so no frame is labelled twice. Then the
   store's ``provenance`` table gets the round, source run, time and uncertainty of each frame.

The loop ends when a round selects nothing (the committee agrees, or disagrees only beyond
``upper``, everywhere the MD went), when the label budget is spent, or after ``max_rounds``;
the models of the last committee trained are the result (``state.json``: ``final_models``).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from equipot.errors import EquipotError
from equipot.files import write_json
from equipot.learn.config import LearnConfig
from equipot.learn.explore import candidate_atoms, replica_frames
from equipot.learn.report import committee_test_error
from equipot.learn.select import (
    Candidate,
    calibrated_lower,
    candidates_from,
    candidates_state,
    committee_uncertainty,
    select,
)

STORE_NAME = "data.h5"


class ActiveLearner:
    """``ActiveLearner(config).run()``; see the module docstring for what a round does.

    ``reference`` overrides ``config.reference`` with a calculator object (tests, or a
    calculator that needs arguments)."""

    def __init__(self, config: LearnConfig, reference=None) -> None:
        from equipot.data.readers import read_structure
        from equipot.train.data import expand_data_paths

        self.config = config
        self.out = Path(config.out)
        self.store_path = self.out / STORE_NAME
        if not self.store_path.is_file():  # errors before work: the inputs exist and read
            expand_data_paths(config.data)
        for structure in config.structures:
            read_structure(structure)
        self._reference = reference
        self.state_path = self.out / "state.json"
        if self.state_path.is_file():
            self.state = json.loads(self.state_path.read_text())
            if self.state["config"] != json.loads(json.dumps(config.to_dict())):
                raise EquipotError(
                    f"{self.out} holds a loop started with other settings "
                    f"(state.json); use another out or the same config"
                )
        else:
            self.state = {"config": config.to_dict(), "rounds": [], "finished": False, "final_models": None}
        self.out.mkdir(parents=True, exist_ok=True)
        if config.num_threads:
            import torch

            torch.set_num_threads(int(config.num_threads))

    # --- the loop ------------------------------------------------------------------------
    def run(self, progress: bool = True) -> dict[str, Any]:
        """Rounds until nothing new is found, the budget is spent or ``max_rounds``; returns the
        state (rounds with their numbers, final models)."""
        self._start_store()
        c = self.config
        for k in range(c.max_rounds + 1):
            if self.state["finished"]:
                break
            models = self._committee(k, progress)
            if k == c.max_rounds or self._labels_total(k) >= c.label_budget:
                self._finish(models, "label budget spent" if k < c.max_rounds else "max_rounds reached")
                break
            if k < len(self.state["rounds"]):  # finished before the loop was stopped
                continue
            candidates, stability = self._explore(k, models, progress)
            chosen = self._select(k, candidates, models)
            self._label(k, candidates, chosen, progress)
            self._record_round(k, models, candidates, chosen, stability)
            if not chosen:
                self._finish(models, "no new frames")
        return self.state

    def _round(self, k: int) -> Path:
        return self.out / f"round_{k}"

    def _save_state(self) -> None:
        write_json(self.state_path, self.state)

    def _finish(self, models: list[str], why: str) -> None:
        self.state.update(
            finished=True,
            final_models=models,
            stopped_because=why,
            labels=self._labels_total(len(self.state["rounds"])),
            final_test=committee_test_error(models, self.config.test_data),
        )
        self._save_state()

    def _labels_total(self, k: int) -> int:
        """Labels added in rounds before ``k``."""
        return sum(r["labelled"] for r in self.state["rounds"][:k])

    # --- stage 0: the store ----------------------------------------------------------------
    def _start_store(self) -> None:
        """``OUT/data.h5``: a copy of the starting frames, made once."""
        from equipot.data.store import FrameStore
        from equipot.train.data import expand_data_paths

        if self.store_path.is_file():
            return
        paths = expand_data_paths(self.config.data)
        tmp = self.store_path.with_suffix(".tmp.h5")
        with FrameStore(paths[0]) as first:
            attrs = first.attrs
        target = FrameStore.create(
            tmp,
            level_of_theory=str(attrs.get("level_of_theory", "")),
            code=str(attrs.get("code", "")),
            code_version=str(attrs.get("code_version", "")),
            created_with="equipot learn",
            metadata={"started_from": ",".join(paths)},
            overwrite=True,
        )
        sources = [(path, i) for path in paths for i in range(_length(path))]
        if self.config.initial_frames is not None:
            if self.config.initial_frames > len(sources):
                raise EquipotError(
                    f"initial_frames {self.config.initial_frames} but the data has {len(sources)} frames"
                )
            keep = np.random.default_rng(self.config.seed).choice(
                len(sources), self.config.initial_frames, replace=False
            )
            sources = [sources[i] for i in np.sort(keep)]
        for path in paths:
            with FrameStore(path) as source:
                # labels only: frames the loop adds have no velocities, and a store keeps one kind
                target.append(dataclasses.replace(source[i], velocities=None) for p, i in sources if p == path)
        target.close()
        os.replace(tmp, self.store_path)
        self.state["initial_frames"] = _length(self.store_path)
        self._save_state()

    # --- stage 1: committee -----------------------------------------------------------------
    def _committee(self, k: int, progress: bool) -> list[str]:
        """Checkpoint paths of round ``k``'s committee, training what is not trained yet."""
        c = self.config
        if k == 0 and c.models:
            return [str(m) for m in c.models]
        paths = []
        for m in range(c.committee_size):
            folder = self._round(k) / f"model_{m}"
            if not (folder / "done").is_file():
                self._train(k, m, folder, progress)
            paths.append(str(folder / "best.pt"))
        return paths

    def _train(self, k: int, m: int, folder: Path, progress: bool) -> None:
        from equipot.data.splits import splits_path
        from equipot.train import TrainConfig, Trainer

        c = self.config
        # fine-tuning keeps the first training's settings (splits, loss weights...) but for its own
        settings: dict[str, Any] = {
            "progress": progress,
            "dtype": "float32",
            "train_size": 0.9,
            "val_size": 0.1,
            "test_size": 0.0,
            **c.train,
        }
        if k > 0:
            settings.update(c.finetune)
            settings["init_from"] = self.state["rounds"][k - 1]["models"][m]
        settings.update(data=str(self.store_path), out=str(folder), seed=c.seed + m)
        # The store grew since the last split was drawn; the loop owns it, so the new split
        # replaces the saved one. keep_splits: frames keep the split they had and the labels
        # of each round are split among themselves.
        if c.keep_splits:
            settings["split_stages"] = [int(self.state["round_start"][str(j)]) for j in range(k)]
        splits_path(self.store_path).unlink(missing_ok=True)
        resume = (folder / "last.pt").is_file()
        trainer = Trainer(TrainConfig.from_dict(settings), resume=resume)
        try:
            trainer.fit()
        finally:
            trainer.close()
        (folder / "done").write_text("trained\n")

    # --- stage 2: explore ---------------------------------------------------------------------
    def _explore(self, k: int, models: list[str], progress: bool) -> tuple[list[Candidate], list[dict]]:
        """Candidates of round ``k`` (with their committee disagreement) and the stability of
        each replica; computed once, then read from ``candidates.npz``."""
        from equipot.dynamics.restart import load_state, save_state

        path = self._round(k) / "candidates.npz"
        if path.is_file():
            state = load_state(path)
            return candidates_from(state), state.meta["stability"]
        frames, stability = replica_frames(self.config, k, models[0], self._round(k), progress)
        from equipot.checkpoint import load_model

        committee = [load_model(m, dtype=self.config.dtype) for m in models]
        u = committee_uncertainty(committee, [candidate_atoms(c) for c in frames]) if frames else np.zeros(0)
        candidates = [Candidate(c.numbers, c.positions, float(x), c.source, c.time_ps) for c, x in zip(frames, u)]
        save_state(path, candidates_state(candidates, stability))
        return candidates, stability

    # --- stage 3: select --------------------------------------------------------------------
    def _select(self, k: int, candidates: list[Candidate], models: list[str]) -> list[int]:
        path = self._round(k) / "selected.json"
        if path.is_file():
            return json.loads(path.read_text())["indices"]
        c = self.config
        lower, frames = (
            calibrated_lower(self.config, self.store_path, self.state["initial_frames"], models)
            if c.lower == "auto"
            else (c.lower, None)
        )
        left = max(0, c.label_budget - self._labels_total(k))
        chosen = select(
            candidates,
            lower=lower,
            upper=c.upper,
            max_frames=min(c.max_frames, left),
            max_per_run=c.max_per_run,
            min_change=c.min_change,
            order=c.select_order,
            seed=c.seed + k,
        )
        write_json(path, {"indices": chosen, "lower": lower, "calibration_frames": frames})
        return chosen

    def _lower(self, k: int) -> float:
        """The lower threshold round ``k`` selected with (eV/Å)."""
        return float(json.loads((self._round(k) / "selected.json").read_text()).get("lower", self.config.lower))

    # --- stage 4: label ---------------------------------------------------------------------
    def reference(self):
        """The reference calculator (made on first use: PySCF and tblite load slowly)."""
        if self._reference is None:
            from equipot.data.reference import reference_from_spec

            self._reference = reference_from_spec(self.config.reference)[0]
        return self._reference

    def _reference_labels(self, candidate: Candidate) -> tuple[float, np.ndarray]:
        """(energy eV, forces eV/Å) of the reference at the candidate's positions."""
        atoms = candidate_atoms(candidate)
        atoms.calc = self.reference()
        return atoms.get_potential_energy(), atoms.get_forces()

    def _label(self, k: int, candidates: list[Candidate], chosen: list[int], progress: bool) -> None:
        """Reference labels of the chosen frames, appended in order; resumes by store length."""
        from tqdm.auto import tqdm

        from equipot.data.store import Frame, FrameStore

        start = self.state.setdefault("round_start", {}).setdefault(str(k), _length(self.store_path))
        self._save_state()
        with FrameStore(self.store_path, mode="a") as store:
            done = len(store) - start
            for i in tqdm(chosen[done:], desc=f"round {k}: labels", disable=not progress, unit="frame"):
                energy, forces = self._reference_labels(candidates[i])
                store.append(
                    Frame(
                        numbers=candidates[i].numbers,
                        positions=candidates[i].positions,
                        energy=float(energy),
                        forces=np.asarray(forces, float),
                        frame_id=len(store),
                    )
                )
            if len(store) - start != len(chosen):
                raise EquipotError(
                    f"{self.store_path} has {len(store) - start} frames of round {k}, "
                    f"{len(chosen)} were chosen: the store was changed outside the loop"
                )
            self._write_provenance(store, k, start, candidates, chosen)

    def _write_provenance(self, store, k: int, start: int, candidates: list[Candidate], chosen: list[int]) -> None:
        old = store.read_table("provenance")
        keep = old["frame"] < start if old else np.zeros(0, bool)
        rows = {
            "frame": np.arange(start, start + len(chosen)),
            "round": np.full(len(chosen), k),
            "source": np.array([candidates[i].source for i in chosen], dtype=str),
            "time_ps": np.array([candidates[i].time_ps for i in chosen], float),
            "uncertainty": np.array([candidates[i].uncertainty for i in chosen], float),
        }
        if old:
            rows = {key: np.concatenate([old[key][keep], value]) for key, value in rows.items()}
        store.write_table("provenance", rows)

    # --- per round ----------------------------------------------------------------------------
    def _record_round(
        self, k: int, models: list[str], candidates: list[Candidate], chosen: list[int], stability: list[dict]
    ) -> None:
        from equipot.learn.report import round_report

        c = self.config
        u = np.array([x.uncertainty for x in candidates])
        lower = self._lower(k)
        row = {
            "round": k,
            "models": models,
            "candidates": len(candidates),
            "labelled": len(chosen),
            "lower": lower,
            "in_window": int(((u >= lower) & (u < c.upper)).sum()),
            "above_upper": int((u >= c.upper).sum()),
            "uncertainty_median": float(np.median(u)) if len(u) else None,
            "stable_replicas": sum(s["failure"] is None for s in stability),
            "replicas": len(stability),
            "test": committee_test_error(models, self.config.test_data),
        }
        self.state["rounds"] = self.state["rounds"][:k] + [row]
        self._save_state()
        round_report(self._round(k), row, u, stability, c, self.state["rounds"])


def _length(path: str) -> int:
    from equipot.data.store import FrameStore

    with FrameStore(path) as store:
        return len(store)
