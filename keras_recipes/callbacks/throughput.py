"""`ThroughputMeter`: training images per second, excluding validation time."""

import time

import keras


class ThroughputMeter(keras.callbacks.Callback):
    """Times the training part of each epoch (up to validation) and counts its examples.

    Example:

    >>> import numpy as np
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> meter = ThroughputMeter(batch_size=2)
    >>> _ = model.fit(np.ones((4, 2)), np.ones((4, 1)), batch_size=2, epochs=2, verbose=0,
    ...               callbacks=[meter])
    >>> meter.examples, meter.epochs
    (8, 2)

    Args:
        batch_size: int. Examples per batch.
        examples_per_epoch: int or None. When given, caps an epoch's count (the last batch
            of an epoch is usually smaller than `batch_size`).
    """

    def __init__(self, batch_size: int, examples_per_epoch: int | None = None):
        super().__init__()
        if batch_size < 1:
            raise ValueError(
                f"Argument `batch_size` must be >= 1. Received: batch_size={batch_size}"
            )
        self.batch_size = batch_size
        self.examples_per_epoch = examples_per_epoch
        self.seconds = 0.0
        self.examples = 0
        self.epochs = 0
        self._start = None
        self._batches = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self._batches += 1

    def _stop(self):
        if self._start is not None:
            self.seconds += time.perf_counter() - self._start
            count = self._batches * self.batch_size
            if self.examples_per_epoch is not None:
                count = min(count, self.examples_per_epoch)
            self.examples += count
            self.epochs += 1
            self._start = None

    def on_test_begin(self, logs=None):
        self._stop()

    def on_epoch_end(self, epoch, logs=None):
        self._stop()

    @property
    def images_per_second(self) -> float:
        """Examples per second of training time, 0 before any epoch ended."""
        return self.examples / self.seconds if self.seconds else 0.0

    def get_config(self):
        return {"batch_size": self.batch_size, "examples_per_epoch": self.examples_per_epoch}
