"""Learning-rate (and momentum) scheduling callbacks.

- `OneCycleScheduler`: the 1cycle policy, per batch, with momentum cycling through
  `keras_recipes.optimizers`.
- `PerformanceScheduler`: reduce on plateau with the original relative-threshold rule.
- `LRFinder`: the learning-rate range test, restoring the model and optimizer after.
"""

from keras_recipes.callbacks.lr_finder import LRFinder
from keras_recipes.callbacks.one_cycle import OneCycleScheduler
from keras_recipes.callbacks.performance import PerformanceScheduler

__all__ = ["LRFinder", "OneCycleScheduler", "PerformanceScheduler"]
