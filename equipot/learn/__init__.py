"""Active learning: MD with a committee, reference labels where it disagrees, fine-tuning."""

from __future__ import annotations

from typing import TYPE_CHECKING

from equipot._lazy import lazy_exports

_EXPORTS = {
    "LearnConfig": "equipot.learn.config",
    "ActiveLearner": "equipot.learn.loop",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from equipot.learn.config import LearnConfig
    from equipot.learn.loop import ActiveLearner
