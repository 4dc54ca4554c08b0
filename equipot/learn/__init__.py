"""Active learning: MD with a committee, reference labels where it disagrees, fine-tuning."""

from equipot.learn.config import LearnConfig
from equipot.learn.loop import ActiveLearner

__all__ = ["ActiveLearner", "LearnConfig"]
