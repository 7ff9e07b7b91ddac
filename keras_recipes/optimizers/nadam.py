"""`Nadam` whose beta_1 lives in a variable, so it can be changed during compiled training."""

from __future__ import annotations

import keras
from keras import ops

from keras_recipes.optimizers._momentum import MomentumVariableMixin, check_unit_interval


@keras.saving.register_keras_serializable(package="keras_recipes")
class Nadam(MomentumVariableMixin, keras.optimizers.Nadam):
    """Nadam with `beta_1` held in a non-trainable variable.

    The update rule is exactly `keras.optimizers.Nadam`'s, with `beta_1` read from a
    variable at every step, so `optimizer.beta_1 = 0.85` or
    `optimizer.momentum_variable.assign(0.85)` changes the next update in compiled and
    XLA training (Keras's float `beta_1` is frozen when the train step is traced).

    Nadam's momentum cache is the running product
    `u_product_t = prod_{i<=t} beta_1_i * (1 - 0.5 * 0.96 ** i)`; each step multiplies
    in the `beta_1` of that step, so a varying `beta_1` enters the cache with the
    value it had when it was used. The look-ahead factor `u_{t+1}` uses the current
    `beta_1`, the best estimate of the next one.

    Example:

    >>> import keras, numpy as np
    >>> from keras_recipes.optimizers import Nadam
    >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer=Nadam(beta_1=0.95), loss="mse", jit_compile=True)
    >>> lower_beta_1 = keras.callbacks.LambdaCallback(
    ...     on_epoch_begin=lambda epoch, logs: model.optimizer.beta_1.assign(0.85))
    >>> x, y = np.zeros((16, 8), "float32"), np.zeros((16, 1), "float32")
    >>> _ = model.fit(x, y, epochs=1, callbacks=[lower_beta_1], verbose=0)
    >>> round(float(model.optimizer.beta_1.numpy()), 2)
    0.85

    Args:
        learning_rate: float, `keras.optimizers.schedules.LearningRateSchedule` or
            callable. The learning rate. Defaults to `0.001`.
        beta_1: float. Initial decay rate of the first-moment estimate, in [0, 1).
            Defaults to `0.9`.
        beta_2: float. Decay rate of the second-moment estimate. Defaults to `0.999`.
        epsilon: float. Small constant for numerical stability. Defaults to `1e-7`.
        **kwargs: The other arguments of `keras.optimizers.Nadam` (`weight_decay`,
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

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        # `keras.optimizers.Nadam._backend_update_step` with `beta_1` read as a tensor;
        # the stock one multiplies the cache by the float.
        dtype = self._u_product.dtype
        beta_1 = ops.cast(self._momentum_var, dtype)
        self.assign(
            self._u_product,
            self._u_product
            * beta_1
            * (1.0 - 0.5 * ops.power(0.96, ops.cast(self.iterations + 1, dtype))),
        )
        keras.optimizers.Optimizer._backend_update_step(
            self, grads, trainable_variables, learning_rate
        )

    def update_step(self, gradient, variable, learning_rate):
        var_dtype = variable.dtype
        lr = ops.cast(learning_rate, var_dtype)
        gradient = ops.cast(gradient, var_dtype)

        local_step = ops.cast(self.iterations + 1, var_dtype)
        next_step = ops.cast(self.iterations + 2, var_dtype)
        decay = ops.cast(0.96, var_dtype)
        beta_1 = ops.cast(self._momentum_var, var_dtype)
        beta_2 = ops.cast(self.beta_2, var_dtype)
        u_t = beta_1 * (1.0 - 0.5 * (ops.power(decay, local_step)))
        u_t_1 = beta_1 * (1.0 - 0.5 * (ops.power(decay, next_step)))
        u_product_t = ops.cast(self._u_product, var_dtype)

        u_product_t_1 = u_product_t * u_t_1
        beta_2_power = ops.power(beta_2, local_step)

        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]

        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), (1 - beta_1)))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), (1 - beta_2)))
        m_hat = ops.add(
            ops.divide(ops.multiply(u_t_1, m), 1 - u_product_t_1),
            ops.divide(ops.multiply(1 - u_t, gradient), 1 - u_product_t),
        )
        v_hat = ops.divide(v, (1 - beta_2_power))

        self.assign_sub(
            variable,
            ops.divide(ops.multiply(m_hat, lr), ops.add(ops.sqrt(v_hat), self.epsilon)),
        )

    def get_config(self):
        config = super().get_config()
        config["beta_1"] = self._momentum_config_value()
        return config
