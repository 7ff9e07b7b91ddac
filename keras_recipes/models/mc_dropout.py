"""Monte Carlo dropout: `MCDropout` stays on at inference, and `MCRepeat` / `MCAverage`
make the model's own prediction the mean of T stochastic passes.

A model built with them predicts, evaluates and validates (in `fit`) with the Monte Carlo
average, and so does anything that calls it, 10-crop TTA included. Only the layers from
the first `MCDropout` on run T times: `MCRepeat` tiles the batch there, the dropout layers
draw an independent mask for every copy, and `MCAverage` averages the T copies of the
softmax. The layers below are deterministic at inference, so each image goes through
them once.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_recipes")
class MCDropout(keras.layers.Dropout):
    """Dropout applied in training and at inference (Monte Carlo dropout).

    One call is one stochastic pass; `MCRepeat` and `MCAverage` average T of them.

    Example:

    >>> import numpy as np
    >>> layer = MCDropout(0.5, seed=0)
    >>> out = layer(np.ones((1, 1000), "float32"), training=False)
    >>> bool((np.asarray(out) == 0).any())
    True
    """

    def call(self, inputs, training=None):
        return super().call(inputs, training=True)


def _check_passes(passes) -> int:
    if isinstance(passes, bool) or not isinstance(passes, int) or passes < 1:
        raise ValueError(f"Argument `passes` must be an int >= 1. Received: passes={passes!r}")
    return passes


@keras.saving.register_keras_serializable(package="keras_recipes")
class MCRepeat(keras.layers.Layer):
    """At inference, stacks `passes` copies of the batch, pass-major: (passes * B, ...).

    In training it passes the batch through: a training step is one stochastic pass.

    Example:

    >>> import numpy as np
    >>> x = np.array([[1.0], [2.0]], "float32")
    >>> np.asarray(MCRepeat(3)(x, training=False)).ravel().tolist()
    [1.0, 2.0, 1.0, 2.0, 1.0, 2.0]

    Args:
        passes: int. Monte Carlo passes T, >= 1.
    """

    def __init__(self, passes: int, **kwargs):
        super().__init__(**kwargs)
        self.passes = _check_passes(passes)

    def call(self, inputs, training=None):
        if training or self.passes == 1:
            return inputs
        return ops.concatenate([inputs] * self.passes, axis=0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "passes": self.passes}


@keras.saving.register_keras_serializable(package="keras_recipes")
class MCAverage(keras.layers.Layer):
    """At inference, the mean of the `passes` copies `MCRepeat` made: (B, ...) again.

    Place it after the softmax, so that the probabilities (not the logits) are averaged.
    In training it passes the batch through.

    Example:

    >>> import numpy as np
    >>> p = np.array([[1.0, 0.0], [0.5, 0.5], [0.5, 0.5], [0.0, 1.0]], "float32")
    >>> np.asarray(MCAverage(2)(p, training=False)).tolist()  # pass 1: rows 0-1, pass 2: 2-3
    [[0.75, 0.25], [0.25, 0.75]]

    Args:
        passes: int. Monte Carlo passes T, the same as the `MCRepeat` below it.
    """

    def __init__(self, passes: int, **kwargs):
        kwargs.setdefault("dtype", "float32")  # averaged probabilities stay float32
        super().__init__(**kwargs)
        self.passes = _check_passes(passes)

    def call(self, inputs, training=None):
        if training or self.passes == 1:
            return inputs
        inputs = ops.cast(inputs, self.compute_dtype)
        copies = ops.reshape(inputs, (self.passes, -1, *ops.shape(inputs)[1:]))
        return ops.mean(copies, axis=0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "passes": self.passes}


def prediction_passes(model: keras.Model) -> int:
    """Stochastic passes `model` averages per prediction: its `MCAverage`'s T, else 1.

    Example:

    >>> inputs = keras.Input((3,))
    >>> x = MCDropout(0.5)(MCRepeat(4)(inputs))
    >>> prediction_passes(keras.Model(inputs, MCAverage(4)(x)))
    4
    """
    passes = [layer.passes for layer in model.layers if isinstance(layer, MCAverage)]
    return passes[0] if passes else 1
