"""`RReLU`: randomised leaky ReLU; Keras has no built-in one."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_recipes")
class RReLU(keras.layers.Layer):
    """Leaky ReLU whose negative slope is drawn from U(lower, upper) per element in training
    and fixed to (lower + upper) / 2 at inference (Xu et al., 2015).

    Example:

    >>> import numpy as np
    >>> layer = RReLU(lower=0.25, upper=0.25)
    >>> np.asarray(layer(np.array([[-4.0, 2.0]], "float32"))).tolist()
    [[-1.0, 2.0]]
    """

    def __init__(self, lower=1.0 / 8.0, upper=1.0 / 3.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= lower <= upper:
            raise ValueError(
                f"Arguments must satisfy 0 <= lower <= upper. Received: lower={lower}, "
                f"upper={upper}"
            )
        self.lower = lower
        self.upper = upper
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if training:
            slope = keras.random.uniform(
                ops.shape(inputs),
                minval=self.lower,
                maxval=self.upper,
                dtype=inputs.dtype,
                seed=self.seed_generator,
            )
        else:
            slope = (self.lower + self.upper) / 2.0
        return ops.where(inputs >= 0, inputs, inputs * slope)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "lower": self.lower, "upper": self.upper, "seed": self.seed}
