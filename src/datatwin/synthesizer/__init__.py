"""The estimator: fit a table, sample it, save and load it; augment beside it."""

from ._augment import augment
from ._estimator import Synthesizer, load

__all__ = ["Synthesizer", "augment", "load"]
