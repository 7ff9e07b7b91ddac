"""`PowerDecay`: the "power scheduling" of the learning rate, lr0 / (1 + t / s) ** c."""

from __future__ import annotations

import numbers

import keras
from keras import ops


def _check_real(name: str, value, *, positive: bool) -> None:
    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not is_number or (value <= 0 if positive else value < 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"Argument `{name}` must be a number {bound}. Received: {name}={value!r}")


@keras.saving.register_keras_serializable(package="keras_recipes")
class PowerDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Power scheduling: the learning rate falls as a power of the step.

    ```
    lr(step) = initial_learning_rate / (1 + step / decay_steps) ** power
    ```

    After `decay_steps` steps the rate is `initial_learning_rate / 2 ** power`, after
    `3 * decay_steps` it is `initial_learning_rate / 4 ** power`: it falls fast at
    first, then ever more slowly. With `power=1` this is Keras's
    `InverseTimeDecay(initial_learning_rate, decay_steps, decay_rate=1.0)`; `power`
    is what Keras lacks.

    Example:

    >>> import keras
    >>> from keras_recipes.schedules import PowerDecay
    >>> schedule = PowerDecay(initial_learning_rate=0.01, decay_steps=100, power=2.0)
    >>> [round(float(schedule(step)), 6) for step in (0, 100, 300)]
    [0.01, 0.0025, 0.000625]
    >>> optimizer = keras.optimizers.SGD(learning_rate=schedule)

    Args:
        initial_learning_rate: float. The learning rate at step 0, > 0.
        decay_steps: int or float. The step count `s` over which the rate falls by
            a factor `2 ** power`, > 0.
        power: float. The exponent `c`, > 0. Defaults to `1.0`.
        name: str. Name of the operation. Defaults to `"PowerDecay"`.
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: float,
        power: float = 1.0,
        name: str = "PowerDecay",
    ):
        super().__init__()
        _check_real("initial_learning_rate", initial_learning_rate, positive=True)
        _check_real("decay_steps", decay_steps, positive=True)
        _check_real("power", power, positive=True)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.power = power
        self.name = name

    def __call__(self, step):
        with keras.name_scope(self.name):
            initial_learning_rate = ops.convert_to_tensor(self.initial_learning_rate)
            dtype = initial_learning_rate.dtype
            step = ops.cast(step, dtype)
            decay_steps = ops.cast(self.decay_steps, dtype)
            power = ops.cast(self.power, dtype)
            denominator = ops.power(1.0 + step / decay_steps, power)
            return ops.divide(initial_learning_rate, denominator)

    def get_config(self) -> dict:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "power": self.power,
            "name": self.name,
        }
