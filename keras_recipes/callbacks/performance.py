"""`PerformanceScheduler`: performance scheduling, the original reduce-on-plateau rule."""

from __future__ import annotations

import logging
import math
import warnings

import keras

import keras_recipes.callbacks._common as _common

_MODES = ("auto", "min", "max")
_THRESHOLD_MODES = ("rel", "abs")
_STATE_KEYS = ("best", "num_bad_epochs", "cooldown_counter")

logger = logging.getLogger(__name__)


class PerformanceScheduler(keras.callbacks.Callback):
    """Divides the learning rate when a monitored metric stops improving.

    The rule is PyTorch's `ReduceLROnPlateau`, evaluated at every epoch end:

    ```
    better (mode="max"):  current > best * (1 + threshold)      threshold_mode="rel"
                          current > best + threshold            threshold_mode="abs"
    better (mode="min"):  current < best * (1 - threshold)      threshold_mode="rel"
                          current < best - threshold            threshold_mode="abs"

    if better:  best = current; num_bad_epochs = 0
    else:       num_bad_epochs += 1
    if cooldown_counter > 0:            # bad epochs in cooldown do not count
        cooldown_counter -= 1; num_bad_epochs = 0
    if num_bad_epochs > patience:       # i.e. patience + 1 bad epochs in a row
        new_lr = max(lr * factor, min_lr)
        if lr - new_lr > eps: lr = new_lr
        cooldown_counter = cooldown; num_bad_epochs = 0
    ```

    `best` starts at -inf (max) or +inf (min), so the first epoch is always better.
    `mode="auto"` means "max" if "acc" is in `monitor` (`"accuracy"`,
    `"val_acc"`, ...), else "min"; give `mode` for other metrics (e.g. AUC).

    How it differs from `keras.callbacks.ReduceLROnPlateau`, whose `min_delta` is
    always absolute:

    - The default relative threshold scales with the metric: with accuracy in
      percent (50.0) and `threshold=1e-4`, an epoch must gain more than 0.005 to
      count, where Keras's `min_delta=1e-4` counts a gain of 0.001 as progress and
      never reduces on a slow creep. `threshold_mode="abs"` gives Keras's absolute
      test, and then this callback equals PyTorch's `ReduceLROnPlateau` with
      `threshold_mode="abs"`.
    - It reduces after more than `patience` bad epochs (`num_bad_epochs >
      patience`); Keras reduces at `wait >= patience`, one epoch earlier.
    - Cooldown ignores `cooldown` epochs after a reduction; Keras ignores
      `cooldown - 1` (it decrements before testing).
    - The counters are reset after the trigger even when the learning rate is
      already at `min_lr` (the change is below `eps`); Keras keeps counting.
    - State (`best`, counters) persists across `fit()` calls, so a second `fit()`
      continues; Keras resets it at each `on_train_begin`. `reset()` starts afresh.

    With `restore_best_weights=True`, the model weights of the best epoch (copied to
    host memory with `get_weights()` whenever the metric improves) are restored
    each time the learning rate is actually reduced: training resumes from the best
    point with the smaller rate. The optimizer state is not restored.

    It assigns `optimizer.learning_rate`, so it works with any Keras optimizer
    created with a float learning rate (also under mixed precision); a
    `LearningRateSchedule` raises a ValueError at the start of `fit()`. The learning
    rate used during each epoch goes into `logs["learning_rate"]`, where `History`
    and `CSVLogger` record it. If `monitor` is missing from the logs it warns,
    listing the available metrics, and leaves the epoch out of the rule.

    Example:

    >>> import keras, numpy as np
    >>> from keras_recipes.callbacks import PerformanceScheduler
    >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    >>> x, y = np.zeros((16, 8), "float32"), np.zeros((16, 1), "float32")
    >>> scheduler = PerformanceScheduler(monitor="loss", patience=1)
    >>> history = model.fit(x, y, epochs=4, callbacks=[scheduler], verbose=0)
    >>> [round(lr, 4) for lr in history.history["learning_rate"]]
    [0.1, 0.1, 0.1, 0.01]
    >>> scheduler.get_state()
    {'best': 0.0, 'num_bad_epochs': 1, 'cooldown_counter': 0}

    Args:
        monitor: str. The quantity in the epoch logs to watch. Defaults to
            `"val_accuracy"`.
        factor: float. Multiplies the learning rate at each reduction, in (0, 1).
            Defaults to `0.1`.
        patience: int. Bad epochs tolerated; the reduction comes at the next one,
            >= 0. Defaults to `30`.
        threshold: float. Least improvement that counts, >= 0; relative or
            absolute per `threshold_mode`. Defaults to `1e-4`.
        threshold_mode: str. `"rel"` or `"abs"`. Defaults to `"rel"`.
        mode: str. `"min"`, `"max"` or `"auto"` (max if "acc" is in `monitor`).
            Defaults to `"auto"`.
        cooldown: int. Epochs after a reduction whose lack of progress is ignored,
            >= 0. Defaults to `0`.
        min_lr: float. Lower bound on the learning rate, >= 0. Defaults to `0.0`.
        eps: float. A reduction smaller than this is skipped, >= 0. Defaults to
            `1e-8`.
        restore_best_weights: bool. Whether to restore the best epoch's weights
            when the learning rate is reduced. Defaults to `False`.
    """

    def __init__(
        self,
        monitor: str = "val_accuracy",
        factor: float = 0.1,
        patience: int = 30,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        mode: str = "auto",
        cooldown: int = 0,
        min_lr: float = 0.0,
        eps: float = 1e-8,
        restore_best_weights: bool = False,
    ):
        super().__init__()
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(
                f"Argument `monitor` must be a non-empty str. Received: monitor={monitor!r}"
            )
        self.monitor = monitor
        self.factor = _common.check_real(
            "factor", factor, low=0.0, high=1.0, low_open=True, high_open=True
        )
        self.patience = _common.check_int("patience", patience, low=0)
        self.threshold = _common.check_real("threshold", threshold, low=0.0)
        self.threshold_mode = _common.check_choice(
            "threshold_mode", threshold_mode, _THRESHOLD_MODES
        )
        self.mode = _common.check_choice("mode", mode, _MODES)
        self.cooldown = _common.check_int("cooldown", cooldown, low=0)
        self.min_lr = _common.check_real("min_lr", min_lr, low=0.0)
        self.eps = _common.check_real("eps", eps, low=0.0)
        self.restore_best_weights = _common.check_bool("restore_best_weights", restore_best_weights)
        if mode == "auto":
            self._maximize = "acc" in monitor
        else:
            self._maximize = mode == "max"
        self._lr_variable = None
        self.reset()

    def reset(self) -> None:
        """Forgets the best value, the counters and the saved weights."""
        self.best = -math.inf if self._maximize else math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self._best_weights = None

    def _is_better(self, current: float) -> bool:
        if self._maximize:
            if self.threshold_mode == "rel":
                return current > self.best * (1.0 + self.threshold)
            return current > self.best + self.threshold
        if self.threshold_mode == "rel":
            return current < self.best * (1.0 - self.threshold)
        return current < self.best - self.threshold

    def on_train_begin(self, logs=None):
        self._lr_variable = _common.learning_rate_variable(self.model, "PerformanceScheduler")

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            logs = {}
        if self._lr_variable is None:  # driven without `on_train_begin`
            self.on_train_begin()
        # One read per epoch: the rate used during this epoch, before any change.
        old_lr = float(keras.ops.convert_to_numpy(self._lr_variable))
        logs["learning_rate"] = old_lr
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(
                f"PerformanceScheduler is conditioned on metric `{self.monitor}`, which "
                f"is not available. Available metrics are: {','.join(logs)}.",
                stacklevel=2,
            )
            return
        current = float(current)

        if self._is_better(current):
            self.best = current
            self.num_bad_epochs = 0
            if self.restore_best_weights:
                self._best_weights = self.model.get_weights()
        else:
            self.num_bad_epochs += 1

        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0

        if self.num_bad_epochs > self.patience:
            new_lr = max(old_lr * self.factor, self.min_lr)
            if old_lr - new_lr > self.eps:
                self._lr_variable.assign(new_lr)
                logger.info(
                    "Epoch %d: PerformanceScheduler reducing the learning rate to %g.",
                    epoch + 1,
                    new_lr,
                )
                if self._best_weights is not None:
                    self.model.set_weights(self._best_weights)
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0

    def get_state(self) -> dict:
        """The rule's state, as a JSON-serialisable dict, for resuming.

        Returns:
            dict. `{"best": float or None, "num_bad_epochs": int,
            "cooldown_counter": int}`; `best` is None before the first epoch (the
            infinite start value, which JSON cannot hold). The best weights are not
            part of it.
        """
        return {
            "best": self.best if math.isfinite(self.best) else None,
            "num_bad_epochs": self.num_bad_epochs,
            "cooldown_counter": self.cooldown_counter,
        }

    def set_state(self, state: dict) -> None:
        """Restores what `get_state()` returned.

        Args:
            state: dict. A `get_state()` result, possibly through JSON.
        """
        _common.check_state(state, _STATE_KEYS)
        best = state["best"]
        if best is None:
            best = -math.inf if self._maximize else math.inf
        else:
            best = _common.check_real("state['best']", best)
        num_bad_epochs = _common.check_int(
            "state['num_bad_epochs']", state["num_bad_epochs"], low=0
        )
        cooldown_counter = _common.check_int(
            "state['cooldown_counter']", state["cooldown_counter"], low=0
        )
        self.best = best
        self.num_bad_epochs = num_bad_epochs
        self.cooldown_counter = cooldown_counter
        self._best_weights = None

    def get_config(self) -> dict:
        return {
            "monitor": self.monitor,
            "factor": self.factor,
            "patience": self.patience,
            "threshold": self.threshold,
            "threshold_mode": self.threshold_mode,
            "mode": self.mode,
            "cooldown": self.cooldown,
            "min_lr": self.min_lr,
            "eps": self.eps,
            "restore_best_weights": self.restore_best_weights,
        }
