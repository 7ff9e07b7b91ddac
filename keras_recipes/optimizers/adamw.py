"""`AdamW` whose beta_1 lives in a variable, so it can be changed during compiled training."""

from __future__ import annotations

import keras

from keras_recipes.optimizers.adam import Adam


@keras.saving.register_keras_serializable(package="keras_recipes")
class AdamW(Adam, keras.optimizers.AdamW):
    """AdamW (decoupled weight decay) with `beta_1` held in a non-trainable variable.

    Exactly `keras.optimizers.AdamW` (it is an instance of it), with the update of
    `keras_recipes.optimizers.Adam`: `optimizer.beta_1` is a scalar `keras.Variable`
    read at every step, so `optimizer.beta_1 = 0.85` or
    `optimizer.momentum_variable.assign(0.85)` changes the next update in compiled
    and XLA training, where Keras's float `beta_1` would be frozen at trace time.

    Example:

    >>> import keras, numpy as np
    >>> from keras_recipes.callbacks import OneCycleScheduler
    >>> from keras_recipes.optimizers import AdamW
    >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer=AdamW(weight_decay=1e-4), loss="mse")
    >>> x, y = np.zeros((16, 8), "float32"), np.zeros((16, 1), "float32")
    >>> one_cycle = OneCycleScheduler(max_lr=1e-3)  # cycles beta_1 0.95 -> 0.85 -> 0.95
    >>> _ = model.fit(x, y, batch_size=4, epochs=1, callbacks=[one_cycle], verbose=0)
    >>> [round(m, 4) for m in one_cycle.history["momentum"]]
    [0.95, 0.8688, 0.9217, 0.95]

    Args:
        learning_rate: float, `keras.optimizers.schedules.LearningRateSchedule` or
            callable. The learning rate. Defaults to `0.001`.
        weight_decay: float. Decoupled weight decay. Defaults to `0.004`.
        beta_1: float. Initial decay rate of the first-moment estimate, in [0, 1).
            Defaults to `0.9`.
        beta_2: float. Decay rate of the second-moment estimate. Defaults to `0.999`.
        epsilon: float. Small constant for numerical stability. Defaults to `1e-7`.
        amsgrad: bool. Whether to apply the AMSGrad variant. Defaults to `False`.
        **kwargs: The other arguments of `keras.optimizers.AdamW` (`clipnorm`,
            `clipvalue`, `global_clipnorm`, `use_ema`, `ema_momentum`,
            `ema_overwrite_frequency`, `loss_scale_factor`,
            `gradient_accumulation_steps`, `name`), with the same meaning.
    """

    def __init__(
        self,
        learning_rate=0.001,
        weight_decay=0.004,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad=False,
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
        # Through `Adam.__init__` to `keras.optimizers.AdamW.__init__`, which rejects
        # `weight_decay=None`.
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
