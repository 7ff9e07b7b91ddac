"""`MCDropout`: dropout that stays on at inference, for Monte Carlo dropout estimates."""

import keras


@keras.saving.register_keras_serializable(package="keras_recipes")
class MCDropout(keras.layers.Dropout):
    """Dropout applied in training and at inference (Monte Carlo dropout).

    Averaging several stochastic predictions estimates the model's uncertainty.

    Example:

    >>> import numpy as np
    >>> layer = MCDropout(0.5, seed=0)
    >>> out = layer(np.ones((1, 1000), "float32"), training=False)
    >>> bool((np.asarray(out) == 0).any())
    True
    """

    def call(self, inputs, training=None):
        return super().call(inputs, training=True)
