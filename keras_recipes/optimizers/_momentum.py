"""Shared machinery: one momentum-like hyperparameter held in a `keras.Variable`.

Private to `keras_recipes.optimizers`; the public classes live one per module.
"""

from __future__ import annotations

import numbers

import keras
import numpy as np


def check_unit_interval(name: str, value, *, include_one: bool) -> float:
    """Returns `value` as a float after checking it lies in [0, 1] or [0, 1)."""
    upper = "1]" if include_one else "1)"
    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    in_range = is_number and value >= 0.0 and (value <= 1.0 if include_one else value < 1.0)
    if not in_range:
        raise ValueError(
            f"Argument `{name}` must be a float in [0, {upper}. Received: {name}={value!r}"
        )
    return float(value)


class MomentumVariableMixin:
    """Stores the optimizer's momentum (SGD) or beta_1 (Adam family) in a variable.

    Stock Keras optimizers keep these as Python floats, which `tf.function` and XLA
    bake into the traced train step as constants; a variable is read at run time
    instead, so assigning it between steps changes the next update.

    Subclasses set `_momentum_arg` ("momentum" or "beta_1") and `_momentum_include_one`,
    and expose a property of that name that calls `_get_momentum`/`_set_momentum`.
    """

    _momentum_arg = "momentum"
    _momentum_include_one = True

    @property
    def momentum_variable(self) -> keras.Variable:
        """The scalar `keras.Variable` read by every update step.

        `SGD`: the momentum; `Adam`, `Nadam`, `AdamW`: `beta_1`. Callbacks that cycle
        momentum (e.g. `OneCycleScheduler`) assign this variable.
        """
        return self._momentum_var

    def _get_momentum(self) -> keras.Variable:
        return self._momentum_var

    def _set_momentum(self, value) -> None:
        if isinstance(value, numbers.Real):
            value = check_unit_interval(
                self._momentum_arg, value, include_one=self._momentum_include_one
            )
        # The stock constructor sets the attribute once (after the base class has
        # made `iterations` and `learning_rate`); that first call creates the
        # variable, every later one assigns it, like `optimizer.learning_rate = x`.
        if getattr(self, "_momentum_var", None) is None:
            self._momentum_var = self.add_variable(
                shape=(),
                initializer=keras.initializers.Constant(value),
                dtype=keras.backend.floatx(),
                # As Keras does for `iterations` and `learning_rate`: one value for
                # all replicas, written by the first one.
                aggregation="only_first_replica",
                name=self._momentum_arg,
            )
        else:
            self._momentum_var.assign(value)

    def _momentum_config_value(self) -> float:
        # str() of a NumPy scalar is its shortest round-tripping repr, so a config
        # holds 0.9 rather than 0.8999999761581421 and rebuilds the same float32.
        value = np.asarray(keras.ops.convert_to_numpy(self._momentum_var))[()]
        return float(str(value))
