"""How a Hyperband / bohb rung of `k` epochs lays out an epoch-based schedule (1cycle).

keras-tuner's Hyperband hands the objective `tuner/epochs` (the rung's budget) and, for a
promoted configuration, a new trial; the toolkit trains each rung's trial from scratch in
its own trial folder. The schedule of that trial is laid out one of two ways:

- "compressed": over the rung's own epochs (a whole 1cycle in `k` epochs);
- "final": over the full budget (the recipe's epochs, Hyperband's `max_epochs`), of which
  the rung trains the first `k` epochs (`StopAfterEpoch`): every rung of a configuration
  follows the same learning-rate curve as its full-budget run, so a rung's score is that
  run's score so far.

Schedules that do not depend on the total epochs (performance, step decays) are the same
either way. `benchmarks/rungs.py` measures which layout ranks configurations better.
"""

from __future__ import annotations

import keras

#: The layouts, and the default (`benchmarks/rungs.py`, benchmarks/README.md).
RUNG_SCHEDULES = ("compressed", "final")
DEFAULT_RUNG_SCHEDULE = "final"


class StopAfterEpoch(keras.callbacks.Callback):
    """Stops `model.fit` at the end of epoch `epochs` (1-based), counted from epoch 0 even
    when the fit resumes at a later `initial_epoch`.

    Example:

    >>> import numpy as np
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> history = model.fit(np.zeros((4, 2)), np.zeros(4), epochs=9, verbose=0,
    ...                     callbacks=[StopAfterEpoch(3)])
    >>> len(history.epoch)
    3

    Args:
        epochs: int. The last epoch to train (>= 1).
    """

    def __init__(self, epochs: int):
        super().__init__()
        if int(epochs) != epochs or epochs < 1:
            raise ValueError(
                f"Argument `epochs` must be an integer >= 1. Received: epochs={epochs}"
            )
        self.epochs = int(epochs)
        self.stopped = False

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if epoch + 1 >= self.epochs:
            self.model.stop_training = True
            self.stopped = True
