"""Active learning: MD with a committee, reference labels where it disagrees, fine-tuning."""

from __future__ import annotations

from equipot._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "equipot.learn.config": ["LearnConfig"],
        "equipot.learn.loop": ["ActiveLearner"],
    },
)
