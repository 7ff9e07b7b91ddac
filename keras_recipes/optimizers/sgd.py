"""`SGD` whose momentum lives in a variable, so it can be changed during compiled training."""

from __future__ import annotations

import keras
from keras import ops

from keras_recipes.optimizers._momentum import MomentumVariableMixin, check_unit_interval


@keras.saving.register_keras_serializable(package="keras_recipes")
class SGD(MomentumVariableMixin, keras.optimizers.SGD):
    """Gradient descent with (Nesterov) momentum held in a non-trainable variable.

    The update rule is exactly `keras.optimizers.SGD`'s:

    ```
    velocity = momentum * velocity - learning_rate * g
    w = w + velocity                                          # nesterov=False
    w = w + momentum * velocity - learning_rate * g           # nesterov=True
    ```

    The difference: Keras's `SGD.momentum` is a Python float that compiled `fit()`
    (and `jit_compile=True`) freezes into the train step when it is traced, so
    changing it later is silently ignored. Here `optimizer.momentum` is a scalar
    `keras.Variable` (like `optimizer.learning_rate`), read at every step:
    `optimizer.momentum = 0.85` or `optimizer.momentum.assign(0.85)` changes the next
    update, in eager, compiled and XLA training alike. `momentum_variable` is the same
    variable under the name shared with the Adam family, for callbacks.

    Unlike Keras's `SGD`, the velocity slots are created even when `momentum=0.0`, so
    momentum can be raised later.

    Example:

    >>> import keras, numpy as np
    >>> from keras_recipes.optimizers import SGD
    >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer=SGD(learning_rate=0.01, momentum=0.9), loss="mse")
    >>> set_momentum = keras.callbacks.LambdaCallback(
    ...     on_epoch_begin=lambda epoch, logs: model.optimizer.momentum.assign(
    ...         0.95 - 0.05 * epoch))
    >>> x, y = np.zeros((16, 8), "float32"), np.zeros((16, 1), "float32")
    >>> _ = model.fit(x, y, epochs=2, callbacks=[set_momentum], verbose=0)
    >>> round(float(model.optimizer.momentum.numpy()), 2)
    0.9

    Args:
        learning_rate: float, `keras.optimizers.schedules.LearningRateSchedule` or
            callable. The learning rate. Defaults to `0.01`.
        momentum: float. Momentum in [0, 1]; its initial value. Defaults to `0.0`.
        nesterov: bool. Whether to apply Nesterov momentum. Defaults to `False`.
        **kwargs: The other arguments of `keras.optimizers.SGD` (`weight_decay`,
            `clipnorm`, `clipvalue`, `global_clipnorm`, `use_ema`, `ema_momentum`,
            `ema_overwrite_frequency`, `loss_scale_factor`,
            `gradient_accumulation_steps`, `name`), with the same meaning.
    """

    _momentum_arg = "momentum"
    _momentum_include_one = True

    def __init__(
        self,
        learning_rate=0.01,
        momentum=0.0,
        nesterov=False,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        use_ema=False,
        ema_momentum=0.99,
        ema_overwrite_frequency=None,
        loss_scale_factor=None,
        gradient_accumulation_steps=None,
        name=None,
        **kwargs,
    ):
        momentum = check_unit_interval("momentum", momentum, include_one=True)
        if not isinstance(nesterov, bool):
            raise ValueError(f"Argument `nesterov` must be a bool. Received: nesterov={nesterov!r}")
        super().__init__(
            learning_rate=learning_rate,
            momentum=momentum,
            nesterov=nesterov,
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            use_ema=use_ema,
            ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps,
            name=name,
            **kwargs,
        )

    @property
    def momentum(self) -> keras.Variable:
        """The momentum, a scalar `keras.Variable`; assigning a float assigns it."""
        return self._get_momentum()

    @momentum.setter
    def momentum(self, value) -> None:
        self._set_momentum(value)

    def build(self, variables):
        if self.built:
            return
        # Skip `keras.optimizers.SGD.build`, which makes no velocity slots when the
        # initial momentum is 0; here momentum may be raised later.
        keras.optimizers.Optimizer.build(self, variables)
        self.momentums = self.add_optimizer_variables(variables, "momentum")

    def update_step(self, gradient, variable, learning_rate):
        learning_rate = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        m = self.momentums[self._get_variable_index(variable)]
        if m is None:
            # Variables that are overwritten with their gradient have no slot.
            self.assign_sub(variable, ops.multiply(gradient, learning_rate))
            return
        momentum = ops.cast(self._momentum_var, variable.dtype)
        self.assign(
            m, ops.subtract(ops.multiply(m, momentum), ops.multiply(gradient, learning_rate))
        )
        if self.nesterov:
            self.assign_add(
                variable,
                ops.subtract(ops.multiply(m, momentum), ops.multiply(gradient, learning_rate)),
            )
        else:
            self.assign_add(variable, m)

    def get_config(self):
        config = super().get_config()
        config["momentum"] = self._momentum_config_value()
        return config
