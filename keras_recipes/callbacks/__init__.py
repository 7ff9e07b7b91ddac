"""Learning-rate (and momentum) scheduling callbacks.

- `OneCycleScheduler`: the 1cycle policy, per batch, with momentum cycling through
  `keras_recipes.optimizers`.
- `PerformanceScheduler`: reduce on plateau with the original relative-threshold rule.
- `LRFinder`: the learning-rate range test, restoring the model and optimizer after.
- `LearningRateLogger`, `ThroughputMeter`: the rate and training images/s in the logs.
- `ResumableEarlyStopping`: Keras's EarlyStopping whose state survives a resumed run.
"""

from keras_recipes.callbacks.learning_rate_logger import LearningRateLogger
from keras_recipes.callbacks.lr_finder import LRFinder
from keras_recipes.callbacks.one_cycle import OneCycleScheduler
from keras_recipes.callbacks.performance import PerformanceScheduler
from keras_recipes.callbacks.resumable_early_stopping import ResumableEarlyStopping
from keras_recipes.callbacks.throughput import ThroughputMeter

__all__ = [
    "LRFinder",
    "LearningRateLogger",
    "OneCycleScheduler",
    "PerformanceScheduler",
    "ResumableEarlyStopping",
    "ThroughputMeter",
]
