"""`OneCycleScheduler`: Smith's 1cycle policy for the learning rate and momentum, per batch."""

from __future__ import annotations

import math
import os
import warnings

import keras
import numpy as np

import keras_recipes.callbacks._common as _common

_ANNEAL = ("cos", "linear")
_STATE_KEYS = ("step", "total_steps", "history")


def _anneal_cos(start: float, end: float, pct: float) -> float:
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


def _anneal_linear(start: float, end: float, pct: float) -> float:
    return (end - start) * pct + start


class OneCycleScheduler(keras.callbacks.Callback):
    """The 1cycle policy (Smith, 2018) with PyTorch `OneCycleLR`'s formulas and defaults.

    Sets the optimizer's learning rate, and its momentum, before every batch. With
    `T = total_steps`, `initial_lr = max_lr / div_factor` and
    `min_lr = initial_lr / final_div_factor`, the schedule is made of phases:

    ```
    three_phase=False:
      phase 1, steps 0 .. pct_start*T - 1:      lr initial_lr -> max_lr
                                                momentum max_momentum -> base_momentum
      phase 2, .. T - 1:                        lr max_lr -> min_lr
                                                momentum base_momentum -> max_momentum
    three_phase=True:
      phase 1, steps 0 .. pct_start*T - 1:      lr initial_lr -> max_lr
                                                momentum max_momentum -> base_momentum
      phase 2, .. 2*pct_start*T - 2:            lr max_lr -> initial_lr
                                                momentum base_momentum -> max_momentum
      phase 3, .. T - 1:                        lr initial_lr -> min_lr
                                                momentum max_momentum
    ```

    A phase runs from the previous phase's end `a` (0 for the first) to its own end
    `b`, and at step `s` it gives, with `pct = (s - a) / (b - a)`:

    ```
    anneal="cos":     end + (start - end) / 2 * (cos(pi * pct) + 1)
    anneal="linear":  start + (end - start) * pct
    ```

    Step `s` belongs to the first phase with `s <= b` (the last phase takes the
    rest). A phase of zero length (`b == a`, e.g. `pct_start * T == 1`) gives its end
    value, where PyTorch would divide by zero. Values are computed in float64 and
    stored as float32, as the optimizer holds them.

    Momentum is cycled against the learning rate. Keras's own optimizers keep
    momentum as a Python float that compiled `fit()` freezes, so cycling needs an
    optimizer from `keras_recipes.optimizers` (`SGD` with momentum; `Adam`, `Nadam`,
    `AdamW`, whose `beta_1` is cycled), found also inside the `LossScaleOptimizer`
    of mixed precision. With a stock optimizer, `fit()` raises a ValueError at the
    start unless `cycle_momentum=False`.

    Per batch the callback only assigns the learning-rate (and momentum) variable
    from a float32 table computed once, at the first `on_train_begin`, and appends
    to `history`: no value is read back from the device.

    The step counter carries on across `fit()` calls, so a second `fit()`
    continues the cycle. Past `total_steps - 1` the final values (`min_lr`,
    `max_momentum`) are held and a warning is issued once; PyTorch raises instead.
    When `total_steps` is None it is fixed at the first `fit()` as
    `epochs * steps` from that call (`fit(epochs=...)` counts all epochs, including
    those before `initial_epoch`). For a plan spanning several `fit()` calls pass
    `total_steps`.

    With `compile(steps_per_execution=k)` Keras calls the batch hooks once per `k`
    steps, so the learning rate changes every `k` steps (to the value of the first
    of them); `history` shows the value each step actually used.

    `history` holds, per optimizer step, `"step"` (the global step), `"lr"` and, if
    `cycle_momentum`, `"momentum"`; `plot(path)` draws them. At each epoch end the
    last learning rate goes into `logs["learning_rate"]`, where `History` and
    `CSVLogger` record it. `get_state()` / `set_state()` carry the step counter,
    the resolved `total_steps` and `history` across a restart.

    Example:

    >>> import keras, numpy as np
    >>> from keras_recipes.callbacks import OneCycleScheduler
    >>> from keras_recipes.optimizers import SGD
    >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer=SGD(momentum=0.9), loss="mse")
    >>> x, y = np.zeros((40, 8), "float32"), np.zeros((40, 1), "float32")
    >>> one_cycle = OneCycleScheduler(max_lr=0.1)  # total_steps = 2 epochs * 5 steps
    >>> _ = model.fit(x, y, batch_size=8, epochs=2, callbacks=[one_cycle], verbose=0)
    >>> [round(lr, 5) for lr in one_cycle.history["lr"][:4]]
    [0.004, 0.052, 0.1, 0.09505]
    >>> [round(m, 4) for m in one_cycle.history["momentum"][:4]]
    [0.95, 0.9, 0.85, 0.855]
    >>> state = one_cycle.get_state()  # JSON-serialisable, for resuming
    >>> state["step"], state["total_steps"]
    (10, 10)

    Args:
        max_lr: float. Peak learning rate, > 0.
        total_steps: int or None. Length of the cycle in optimizer steps (batches),
            >= 1. `None` takes `epochs * steps` from the first `fit()`. Defaults to
            `None`.
        pct_start: float. Fraction of the cycle spent warming up, in [0, 1].
            Defaults to `0.3`.
        div_factor: float. `initial_lr = max_lr / div_factor`, > 0. Defaults to
            `25.0`.
        final_div_factor: float. `min_lr = initial_lr / final_div_factor`, > 0.
            Defaults to `1e4`.
        anneal: str. `"cos"` or `"linear"` interpolation within a phase. Defaults
            to `"cos"`.
        three_phase: bool. Whether to use PyTorch's three-phase variant (warm-up,
            symmetric cool-down to `initial_lr`, then annihilation to `min_lr`).
            Defaults to `False`.
        cycle_momentum: bool. Whether to cycle momentum between `max_momentum` and
            `base_momentum` inversely to the learning rate. Defaults to `True`.
        base_momentum: float. Lowest momentum, reached at the peak learning rate,
            in [0, 1]. Defaults to `0.85`.
        max_momentum: float. Highest momentum, at the start and end, in [0, 1].
            Defaults to `0.95`.
    """

    def __init__(
        self,
        max_lr: float,
        total_steps: int | None = None,
        *,
        pct_start: float = 0.3,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        anneal: str = "cos",
        three_phase: bool = False,
        cycle_momentum: bool = True,
        base_momentum: float = 0.85,
        max_momentum: float = 0.95,
    ):
        super().__init__()
        self.max_lr = _common.check_real("max_lr", max_lr, low=0.0, low_open=True)
        self.total_steps = (
            None if total_steps is None else _common.check_int("total_steps", total_steps, low=1)
        )
        self.pct_start = _common.check_real("pct_start", pct_start, low=0.0, high=1.0)
        self.div_factor = _common.check_real("div_factor", div_factor, low=0.0, low_open=True)
        self.final_div_factor = _common.check_real(
            "final_div_factor", final_div_factor, low=0.0, low_open=True
        )
        self.anneal = _common.check_choice("anneal", anneal, _ANNEAL)
        self.three_phase = _common.check_bool("three_phase", three_phase)
        self.cycle_momentum = _common.check_bool("cycle_momentum", cycle_momentum)
        self.base_momentum = _common.check_real("base_momentum", base_momentum, low=0.0, high=1.0)
        self.max_momentum = _common.check_real("max_momentum", max_momentum, low=0.0, high=1.0)

        self.history: dict[str, list] = self._empty_history()
        self._step = 0
        self._resolved_total_steps = self.total_steps
        self._epoch_start_step = 0
        self._lr_values: list[float] | None = None
        self._momentum_values: list[float] | None = None
        self._lr_variable = None
        self._momentum_variable = None
        self._last_lr: float | None = None
        self._pending: tuple | None = None
        self._warned_past_end = False

    @property
    def step(self) -> int:
        """Number of optimizer steps scheduled so far, over all `fit()` calls."""
        return self._step

    def _empty_history(self) -> dict[str, list]:
        keys = ("step", "lr", "momentum") if self.cycle_momentum else ("step", "lr")
        return {key: [] for key in keys}

    def _phases(self, total_steps: int) -> list[tuple[float, float, float, float, float]]:
        """(end_step, start_lr, end_lr, start_momentum, end_momentum) per phase, as PyTorch."""
        initial_lr = self.max_lr / self.div_factor
        min_lr = initial_lr / self.final_div_factor
        warmup_end = float(self.pct_start * total_steps) - 1
        if self.three_phase:
            return [
                (warmup_end, initial_lr, self.max_lr, self.max_momentum, self.base_momentum),
                (
                    float(2 * self.pct_start * total_steps) - 2,
                    self.max_lr,
                    initial_lr,
                    self.base_momentum,
                    self.max_momentum,
                ),
                (total_steps - 1, initial_lr, min_lr, self.max_momentum, self.max_momentum),
            ]
        return [
            (warmup_end, initial_lr, self.max_lr, self.max_momentum, self.base_momentum),
            (total_steps - 1, self.max_lr, min_lr, self.base_momentum, self.max_momentum),
        ]

    def _table(self, total_steps: int) -> tuple[np.ndarray, np.ndarray]:
        """The learning rate and momentum of every step 0 .. total_steps - 1, as float32."""
        anneal = _anneal_cos if self.anneal == "cos" else _anneal_linear
        phases = self._phases(total_steps)
        lrs = np.empty(total_steps, np.float64)
        momenta = np.empty(total_steps, np.float64)
        for step in range(total_steps):
            start_step = 0.0
            for index, (end_step, lr0, lr1, m0, m1) in enumerate(phases):
                if step <= end_step or index == len(phases) - 1:
                    length = end_step - start_step
                    pct = (step - start_step) / length if length != 0 else 1.0
                    lrs[step] = anneal(lr0, lr1, pct)
                    momenta[step] = anneal(m0, m1, pct)
                    break
                start_step = end_step
        return lrs.astype(np.float32), momenta.astype(np.float32)

    def _resolve_total_steps(self) -> int:
        if self._resolved_total_steps is not None:
            return self._resolved_total_steps
        params = self.params or {}
        epochs, steps = params.get("epochs"), params.get("steps")
        if not epochs or not steps:
            raise ValueError(
                "OneCycleScheduler needs the length of the cycle: total_steps=None, and "
                f"fit() does not know it (epochs={epochs}, steps per epoch={steps}; a "
                "dataset of unknown length gives steps=None). Pass "
                "OneCycleScheduler(max_lr, total_steps=...) or "
                "fit(..., steps_per_epoch=...)."
            )
        self._resolved_total_steps = int(epochs) * int(steps)
        return self._resolved_total_steps

    def on_train_begin(self, logs=None):
        self._lr_variable = _common.learning_rate_variable(self.model, "OneCycleScheduler")
        self._momentum_variable = None
        if self.cycle_momentum:
            self._momentum_variable = _common.momentum_variable(self.model)
            if self._momentum_variable is None:
                optimizer = _common.inner_optimizer(self.model.optimizer)
                raise ValueError(
                    "OneCycleScheduler(cycle_momentum=True) cannot cycle the momentum of "
                    f"{type(optimizer).__module__}.{type(optimizer).__name__}: Keras "
                    "optimizers keep momentum/beta_1 as a Python float that compiled "
                    "training freezes, so assigning it would be silently ignored. Use "
                    "keras_recipes.optimizers.SGD (with momentum), Adam, Nadam or AdamW, "
                    "whose momentum lives in a variable, or pass cycle_momentum=False."
                )
        total_steps = self._resolve_total_steps()
        if self._lr_values is None:
            lrs, momenta = self._table(total_steps)
            # Python floats of the float32 values: O(1) lookups, no device round trip.
            self._lr_values = lrs.tolist()
            self._momentum_values = momenta.tolist()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start_step = self._step
        self._pending = None

    def on_train_batch_begin(self, batch, logs=None):
        step = self._epoch_start_step + batch
        index = min(step, self._resolved_total_steps - 1)
        lr = self._lr_values[index]
        self._lr_variable.assign(lr)
        momentum = None
        if self._momentum_variable is not None:
            momentum = self._momentum_values[index]
            self._momentum_variable.assign(momentum)
        # Recorded when the batch end confirms the step ran: with a dataset of
        # unknown length Keras begins one more batch, finds no data, ends the epoch.
        self._pending = (step, lr, momentum)

    def on_train_batch_end(self, batch, logs=None):
        if self._pending is None:
            return
        step, lr, momentum = self._pending
        self._pending = None
        # `batch` is the last step of this call: `compile(steps_per_execution=k)` runs
        # k steps per call, possibly fewer in the last call of an epoch.
        end = self._epoch_start_step + batch
        steps_per_epoch = (self.params or {}).get("steps")
        if steps_per_epoch:
            end = min(end, self._epoch_start_step + steps_per_epoch - 1)
        end = max(end, step)
        for done in range(step, end + 1):
            self.history["step"].append(done)
            self.history["lr"].append(lr)
            if momentum is not None:
                self.history["momentum"].append(momentum)
        self._step = end + 1
        self._last_lr = lr
        total_steps = self._resolved_total_steps
        if self._step > total_steps and not self._warned_past_end:
            self._warned_past_end = True
            warnings.warn(
                f"OneCycleScheduler: step {max(step, total_steps)} is past the end of the "
                f"cycle (total_steps={total_steps}); holding the final learning rate "
                f"{self._lr_values[-1]:.3g}. Pass a larger total_steps to schedule "
                "further training.",
                stacklevel=2,
            )

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self._last_lr is not None:
            logs["learning_rate"] = self._last_lr

    def get_state(self) -> dict:
        """The state needed to resume the schedule, as a JSON-serialisable dict.

        Returns:
            dict. `{"step": int, "total_steps": int or None, "history": {"step":
            [...], "lr": [...], "momentum": [...]}}`: the number of steps scheduled
            so far, the resolved cycle length (None before the first `fit()` when
            not given) and copies of `history`'s lists.
        """
        return {
            "step": self._step,
            "total_steps": self._resolved_total_steps,
            "history": {key: list(values) for key, values in self.history.items()},
        }

    def set_state(self, state: dict) -> None:
        """Restores what `get_state()` returned, so the next batch continues the cycle.

        Args:
            state: dict. A `get_state()` result, possibly through JSON.
        """
        _common.check_state(state, _STATE_KEYS)
        step = _common.check_int("state['step']", state["step"], low=0)
        total_steps = state["total_steps"]
        if total_steps is not None:
            total_steps = _common.check_int("state['total_steps']", total_steps, low=1)
        if self.total_steps is not None and total_steps != self.total_steps:
            raise ValueError(
                f"The state was saved with total_steps={total_steps}, but this "
                f"OneCycleScheduler has total_steps={self.total_steps}. Create it with "
                f"total_steps={total_steps} to resume that cycle."
            )
        history = state["history"]
        expected = set(self._empty_history())
        if not isinstance(history, dict) or set(history) != expected:
            raise ValueError(
                f"state['history'] must have the keys {sorted(expected)} (cycle_momentum="
                f"{self.cycle_momentum}). Received: "
                f"{sorted(history) if isinstance(history, dict) else history!r}"
            )
        if len({len(values) for values in history.values()}) > 1:
            raise ValueError(
                "The lists in state['history'] must have equal lengths. Received lengths: "
                f"{ {key: len(values) for key, values in history.items()} }"
            )
        self._step = step
        self._epoch_start_step = step
        self._pending = None
        if total_steps != self._resolved_total_steps:
            self._lr_values = self._momentum_values = None
        self._resolved_total_steps = total_steps
        self.history = {key: list(values) for key, values in history.items()}
        self._last_lr = self.history["lr"][-1] if self.history["lr"] else None
        self._warned_past_end = False

    def plot(self, path: str | os.PathLike) -> None:
        """Writes a PNG of the learning rate (and momentum) against the step.

        Args:
            path: str or path-like. Where to write the PNG.
        """
        if not self.history["lr"]:
            raise ValueError(
                "OneCycleScheduler.plot() has nothing to draw: no batch has been "
                "scheduled yet. Call it after model.fit(callbacks=[scheduler])."
            )
        # Figure + the Agg canvas directly: no pyplot, so no global backend switch.
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        rows = 2 if self.cycle_momentum else 1
        figure = Figure(figsize=(6, 2.5 * rows))
        FigureCanvasAgg(figure)
        axes = figure.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
        axes[0].plot(self.history["step"], self.history["lr"])
        axes[0].set_ylabel("learning rate")
        if self.cycle_momentum:
            axes[1].plot(self.history["step"], self.history["momentum"], color="tab:orange")
            axes[1].set_ylabel("momentum")
        axes[-1].set_xlabel("step")
        figure.suptitle("1cycle schedule")
        figure.tight_layout()
        figure.savefig(os.fspath(path), format="png")

    def get_config(self) -> dict:
        return {
            "max_lr": self.max_lr,
            "total_steps": self.total_steps,
            "pct_start": self.pct_start,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
            "anneal": self.anneal,
            "three_phase": self.three_phase,
            "cycle_momentum": self.cycle_momentum,
            "base_momentum": self.base_momentum,
            "max_momentum": self.max_momentum,
        }
