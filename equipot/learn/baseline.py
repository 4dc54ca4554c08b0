"""The honest baseline of active learning: the same loop, the same number of labels per round,
but the frames drawn at random from plain reference MD (a labelled pool) instead of chosen by the
committee. Whatever the loop gains over this is what choosing frames is worth."""

from __future__ import annotations

import numpy as np

from equipot.learn.loop import ActiveLearner
from equipot.learn.select import Candidate


class RandomLabels(ActiveLearner):
    """``ActiveLearner`` whose rounds take ``max_frames`` frames of ``pool`` (a labelled frame
    store, e.g. a GFN2-xTB trajectory at the temperature the loop explores), in one random
    order fixed by the seed, with their stored labels; no exploration MD, no reference calls.
    Every round still fine-tunes the committee and reports its held-out error."""

    def __init__(self, config, pool: str) -> None:
        super().__init__(config)
        from equipot.data.store import FrameStore

        with FrameStore(pool) as store:
            self.pool = [store[i] for i in range(len(store))]
        self.order = np.random.default_rng(config.seed).permutation(len(self.pool))

    def _explore(self, k, models, progress):
        candidates = [
            Candidate(f.numbers, f.positions, float("nan"), f"pool:{i}", 0.0) for i, f in enumerate(self.pool)
        ]
        return candidates, []

    def _select(self, k, candidates, models):
        done = self._labels_total(k)
        left = max(0, self.config.label_budget - done)
        return [int(i) for i in self.order[done : done + min(self.config.max_frames, left)]]

    def _lower(self, k):
        return float("nan")  # no threshold: the frames are drawn at random

    def _reference_labels(self, candidate):
        frame = self.pool[int(candidate.source.split(":")[1])]
        return frame.energy, frame.forces
