"""`LearningRateLogger`: puts the optimizer's learning rate into each epoch's logs."""

import keras


class LearningRateLogger(keras.callbacks.Callback):
    """Writes `logs["learning_rate"]` at each epoch end, for any optimizer or schedule.

    Keras 3 records the learning rate only from its own LR callbacks; this records it for
    `LearningRateSchedule`s and constant rates too, so `History` and `CSVLogger` (placed
    after it in the list) show it. A value already set by a scheduler is left alone.

    Example:

    >>> import numpy as np
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> history = model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=1, verbose=0,
    ...                     callbacks=[LearningRateLogger()])
    >>> [round(lr, 6) for lr in history.history["learning_rate"]]
    [0.01]
    """

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or "learning_rate" in logs:
            return
        optimizer = self.model.optimizer
        # One host read per epoch; a LossScaleOptimizer forwards learning_rate to its inner one.
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(optimizer.learning_rate))

    def get_config(self):
        return {}
