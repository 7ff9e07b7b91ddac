"""`Adam` whose beta_1 lives in a variable, so it can be changed during compiled training."""

from __future__ import annotations

import keras
from keras import ops

from keras_recipes.optimizers._momentum import MomentumVariableMixin, check_unit_interval


@keras.saving.register_keras_serializable(package="keras_recipes")
class Adam(MomentumVariableMixin, keras.optimizers.Adam):
    """Adam with `beta_1` (its momentum) held in a non-trainable variable.

    The update rule is exactly `keras.optimizers.Adam`'s, with `beta_1` read from a
    variable at every step. Keras's `Adam.beta_1` is a Python float that compiled
    `fit()` (and `jit_compile=True`) freezes into the train step when it is traced, so
    changing it later is silently ignored. Here `optimizer.beta_1` is a scalar
    `keras.Variable`: `optimizer.beta_1 = 0.85` or `optimizer.beta_1.assign(0.85)`
    changes the next update. `momentum_variable` is the same variable, under the name
    shared with `SGD`, for callbacks such as `OneCycleScheduler`.

    When `beta_1` varies, the bias correction uses the current value,
    `1 - beta_1_t ** t`, as PyTorch's Adam does when its betas are cycled.

    Example:

    >>> import keras, numpy as np
    >>> from keras_recipes.optimizers import Adam
    >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer=Adam(learning_rate=1e-3, beta_1=0.95), loss="mse")
    >>> lower_beta_1 = keras.callbacks.LambdaCallback(
    ...     on_epoch_begin=lambda epoch, logs: model.optimizer.beta_1.assign(0.85))
    >>> x, y = np.zeros((16, 8), "float32"), np.zeros((16, 1), "float32")
    >>> _ = model.fit(x, y, epochs=1, callbacks=[lower_beta_1], verbose=0)
    >>> round(float(model.optimizer.momentum_variable.numpy()), 2)
    0.85

    Args:
        learning_rate: float, `keras.optimizers.schedules.LearningRateSchedule` or
            callable. The learning rate. Defaults to `0.001`.
        beta_1: float. Initial decay rate of the first-moment estimate, in [0, 1).
            Defaults to `0.9`.
        beta_2: float. Decay rate of the second-moment estimate. Defaults to `0.999`.
        epsilon: float. Small constant for numerical stability. Defaults to `1e-7`.
        amsgrad: bool. Whether to apply the AMSGrad variant. Defaults to `False`.
        **kwargs: The other arguments of `keras.optimizers.Adam` (`weight_decay`,
            `clipnorm`, `clipvalue`, `global_clipnorm`, `use_ema`, `ema_momentum`,
            `ema_overwrite_frequency`, `loss_scale_factor`,
            `gradient_accumulation_steps`, `name`), with the same meaning.
    """

    _momentum_arg = "beta_1"
    _momentum_include_one = False

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad=False,
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
        beta_1 = check_unit_interval("beta_1", beta_1, include_one=False)
        super().__init__(
            learning_rate=learning_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            amsgrad=amsgrad,
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
    def beta_1(self) -> keras.Variable:
        """The first-moment decay rate, a scalar `keras.Variable`; assigning a float assigns it."""
        return self._get_momentum()

    @beta_1.setter
    def beta_1(self, value) -> None:
        self._set_momentum(value)

    def update_step(self, gradient, variable, learning_rate):
        # `keras.optimizers.Adam.update_step` with `self.beta_1` read as a tensor.
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        local_step = ops.cast(self.iterations + 1, variable.dtype)
        beta_1 = ops.cast(self._momentum_var, variable.dtype)
        beta_1_power = ops.power(beta_1, local_step)
        beta_2_power = ops.power(ops.cast(self.beta_2, variable.dtype), local_step)

        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]

        alpha = lr * ops.sqrt(1 - beta_2_power) / (1 - beta_1_power)

        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
        if self.amsgrad:
            v_hat = self._velocity_hats[self._get_variable_index(variable)]
            self.assign(v_hat, ops.maximum(v_hat, v))
            v = v_hat
        self.assign_sub(
            variable,
            ops.divide(ops.multiply(m, alpha), ops.add(ops.sqrt(v), self.epsilon)),
        )

    def get_config(self):
        config = super().get_config()
        config["beta_1"] = self._momentum_config_value()
        return config
