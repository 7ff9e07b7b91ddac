"""Argument checks and optimizer access shared by the callbacks; private to the package."""

from __future__ import annotations

import difflib
import math
import numbers

import keras

from keras_recipes import _compat


def check_real(
    name: str,
    value,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Returns `value` as a float after checking it is a finite number in the given range."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        if low is not None and high is not None:
            interval = f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        elif low is not None:
            interval = f"{'>' if low_open else '>='} {low}"
        elif high is not None:
            interval = f"{'<' if high_open else '<='} {high}"
        else:
            interval = "finite"
        raise ValueError(
            f"Argument `{name}` must be a number {interval}. Received: {name}={value!r}"
        )
    return float(value)


def check_int(name: str, value, *, low: int) -> int:
    """Returns `value` after checking it is an int >= `low`."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
        raise ValueError(f"Argument `{name}` must be an int >= {low}. Received: {name}={value!r}")
    return int(value)


def check_bool(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"Argument `{name}` must be a bool. Received: {name}={value!r}")
    return value


def check_choice(name: str, value, choices: tuple[str, ...]) -> str:
    """Returns `value` after checking it is one of `choices`; suggests the closest one."""
    if value not in choices:
        text = str(value).lower()
        # "relative" -> "rel", "maximum" -> "max": abbreviations first, then typos.
        close = [c for c in choices if text.startswith(c) or c.startswith(text)] or (
            difflib.get_close_matches(text, choices, n=1)
        )
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"Argument `{name}` must be one of {list(choices)}. Received: {name}={value!r}.{hint}"
        )
    return value


def check_state(state, keys: tuple[str, ...]) -> None:
    """Checks that `state` is a dict with exactly `keys`, as a callback's get_state() gives."""
    if not isinstance(state, dict) or set(state) != set(keys):
        received = sorted(state) if isinstance(state, dict) else state
        raise ValueError(
            f"Argument `state` must be a dict with keys {list(keys)}, as "
            f"returned by get_state(). Received keys: {received}"
        )


def inner_optimizer(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    """The optimizer that owns the hyperparameters.

    Under mixed precision `compile()` wraps the optimizer in a `LossScaleOptimizer`,
    whose `inner_optimizer` holds the learning rate and the momentum.
    """
    while isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        optimizer = optimizer.inner_optimizer
    return optimizer


def learning_rate_variable(model: keras.Model, caller: str) -> keras.Variable:
    """The optimizer's learning-rate variable, or a ValueError that says how to get one."""
    if model is None or getattr(model, "optimizer", None) is None:
        raise ValueError(
            f"{caller} needs a compiled model with an optimizer; call "
            "`model.compile(optimizer=...)` before `model.fit(callbacks=[...])`."
        )
    optimizer = inner_optimizer(model.optimizer)
    # Keras keeps a float learning rate as a variable, and a schedule or callable as is;
    # only the variable can be assigned.
    learning_rate = _compat.learning_rate_slot(optimizer)
    if isinstance(learning_rate, keras.Variable):
        return learning_rate
    kind = (
        "a LearningRateSchedule"
        if isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule)
        else "a callable"
    )
    raise ValueError(
        f"{caller} sets the learning rate itself, but the optimizer "
        f"{type(optimizer).__name__} was created with learning_rate="
        f"{type(learning_rate).__name__}(...), {kind}, and Keras does not let a "
        "callback assign that. Create the optimizer with a float learning rate, e.g. "
        f"{type(optimizer).__name__}(learning_rate=0.01), and let {caller} schedule it."
    )


def momentum_variable(model: keras.Model) -> keras.Variable | None:
    """The `momentum_variable` of a `keras_recipes.optimizers` optimizer, else None."""
    variable = getattr(inner_optimizer(model.optimizer), "momentum_variable", None)
    return variable if isinstance(variable, keras.Variable) else None
