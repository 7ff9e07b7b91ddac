"""`InverseSqrtDecay`: the learning rate scaled by k / sqrt(t), per step or per epoch."""

from __future__ import annotations

import numbers

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_recipes")
class InverseSqrtDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Inverse square-root decay, per step or (with `steps_per_epoch`) per epoch.

    Per step (`steps_per_epoch=None`), with `t = step + 1` so the first step is 1:

    ```
    lr(step) = initial_learning_rate * k / sqrt(step + 1)
    ```

    Per epoch (`steps_per_epoch` given), constant within an epoch, epochs counted
    from 1:

    ```
    epoch = step // steps_per_epoch + 1
    lr(step) = initial_learning_rate * k / sqrt(epoch)
    ```

    The optimizer calls the schedule with its own step counter (`iterations`), so
    `steps_per_epoch` must be the number of optimizer steps per epoch (batches per
    epoch, divided by `gradient_accumulation_steps` if you use it).

    Example:

    >>> import keras
    >>> from keras_recipes.schedules import InverseSqrtDecay
    >>> per_step = InverseSqrtDecay(initial_learning_rate=0.1)
    >>> [round(float(per_step(step)), 6) for step in (0, 3, 99)]
    [0.1, 0.05, 0.01]
    >>> per_epoch = InverseSqrtDecay(initial_learning_rate=0.1, steps_per_epoch=10)
    >>> [round(float(per_epoch(step)), 6) for step in (0, 9, 10, 39)]
    [0.1, 0.1, 0.070711, 0.05]
    >>> optimizer = keras.optimizers.SGD(learning_rate=per_epoch)

    Args:
        initial_learning_rate: float. The base learning rate, > 0.
        k: float. Scale factor, > 0; the rate at the first step (or epoch) is
            `k * initial_learning_rate`. Defaults to `1.0`.
        steps_per_epoch: int or None. Optimizer steps per epoch, > 0, to decay per
            epoch; `None` decays per step. Defaults to `None`.
        name: str. Name of the operation. Defaults to `"InverseSqrtDecay"`.
    """

    def __init__(
        self,
        initial_learning_rate: float,
        k: float = 1.0,
        steps_per_epoch: int | None = None,
        name: str = "InverseSqrtDecay",
    ):
        super().__init__()
        for arg_name, value in (("initial_learning_rate", initial_learning_rate), ("k", k)):
            if not isinstance(value, numbers.Real) or isinstance(value, bool) or value <= 0:
                raise ValueError(
                    f"Argument `{arg_name}` must be a number > 0. Received: {arg_name}={value!r}"
                )
        if steps_per_epoch is not None and (
            not isinstance(steps_per_epoch, numbers.Integral)
            or isinstance(steps_per_epoch, bool)
            or steps_per_epoch <= 0
        ):
            raise ValueError(
                "Argument `steps_per_epoch` must be None or an int > 0. "
                f"Received: steps_per_epoch={steps_per_epoch!r}"
            )
        self.initial_learning_rate = initial_learning_rate
        self.k = k
        self.steps_per_epoch = None if steps_per_epoch is None else int(steps_per_epoch)
        self.name = name

    def __call__(self, step):
        with keras.name_scope(self.name):
            initial_learning_rate = ops.convert_to_tensor(self.initial_learning_rate)
            dtype = initial_learning_rate.dtype
            if self.steps_per_epoch is None:
                t = ops.cast(step, dtype) + 1.0
            else:
                # Integer division on the integer step: exact epoch boundaries.
                t = ops.cast(ops.floor_divide(step, self.steps_per_epoch) + 1, dtype)
            k = ops.cast(self.k, dtype)
            return initial_learning_rate * k / ops.sqrt(t)

    def get_config(self) -> dict:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "k": self.k,
            "steps_per_epoch": self.steps_per_epoch,
            "name": self.name,
        }
