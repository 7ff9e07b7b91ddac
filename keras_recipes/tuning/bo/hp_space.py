"""`HPSpace`: keras-tuner `HyperParameters` as bayes_opt 3's typed parameters, and back.

bayes_opt searches coordinates; keras-tuner hands a model hyperparameter values. Each
tuned hyperparameter gets one bayes_opt parameter (`pbounds`):

| keras-tuner | bayes_opt coordinate | value |
|---|---|---|
| `Float`, linear | float in [min, max] | the coordinate |
| `Float`, log | float in [log10 min, log10 max] | 10**x |
| `Float`, reverse_log | float u in [log10 min, log10 max] | max + min - 10**u |
| `Int` or `Float` with a step | int index k in [0, n - 1] | keras-tuner's k-th value |
| `Int`, log or reverse_log, no step | float, as for `Float` | rounded to an int |
| `Choice`, ordered (numbers) | int index into the values | values[k] |
| `Choice`, unordered (strings) | categorical (one-hot) | the value |
| `Boolean` | categorical: `[False, True]` | the value |
| `Fixed` (and a one-value `Choice`) | none | the value |

Why these: a log-sampled rate is searched where it varies, as a log10 coordinate (as
`train-with-bo` does); a step grid is an integer index, so every suggestion is one of
keras-tuner's own values, exactly (rounding a float to the grid would leave the GP flat
between grid points); ordered numbers keep their order for the GP (an index), strings have
none (bayes_opt's one-hot categorical, whose kernel compares only equal or not). The
oracle's Matern kernel has one length scale per coordinate, each started at and bounded
relative to that coordinate's range (`oracle.ard_matern`), so ranges of very different
sizes (an index 0..63 beside a rate's 4 decades) are each fitted on their own scale.

Conditional hyperparameters (`parent_name`, `conditional_scope`) are refused: a
coordinate that exists only for some values of another has no place in one fixed box.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import keras_tuner
from bayes_opt.parameter import CategoricalParameter
from keras_tuner.engine import hyperparameters as hp_module

from keras_recipes.errors import ConfigError


@dataclass(frozen=True)
class _Numeric:
    """Float, or Int without a step: a float coordinate (log10 for log sampling)."""

    name: str
    low: float
    high: float
    sampling: str
    integer: bool

    @property
    def bounds(self) -> tuple[float, float]:
        if self.sampling == "linear":
            return (self.low, self.high)
        return (math.log10(self.low), math.log10(self.high))

    def to_value(self, x: Any) -> float | int:
        x = float(x)
        if self.sampling == "log":
            value = 10.0**x
        elif self.sampling == "reverse_log":
            value = self.high + self.low - 10.0**x
        else:
            value = x
        value = min(max(value, self.low), self.high)  # 10**log10(high) may overshoot by an ulp
        return round(value) if self.integer else value

    def to_param(self, value: Any) -> float:
        if self.sampling == "linear":
            return float(value)
        target = float(value) if self.sampling == "log" else self.high + self.low - float(value)
        x = math.log10(target)
        # log10 and 10**x are each correctly rounded only to an ulp: of the coordinates
        # next to log10(v), take one that gives v back, so a value this space proposed
        # maps to a coordinate that proposes it again, exactly.
        for candidate in _neighbours(x):
            if self.to_value(candidate) == value:
                return candidate
        return x


@dataclass(frozen=True)
class _Indexed:
    """A finite ordered set (a step grid or an ordered Choice): an integer index."""

    name: str
    values: tuple[Any, ...]

    @property
    def bounds(self) -> tuple[int, int, type]:
        return (0, len(self.values) - 1, int)

    def to_value(self, x: Any) -> Any:
        return self.values[round(float(x))]

    def to_param(self, value: Any) -> int:
        # The nearest grid value: a value saved from another run may be off by rounding.
        return min(range(len(self.values)), key=lambda k: abs(self.values[k] - value))


@dataclass(frozen=True)
class _Categorical:
    """Unordered values (strings, booleans): bayes_opt's one-hot categorical parameter."""

    name: str
    values: tuple[Any, ...]

    @property
    def bounds(self) -> CategoricalParameter:
        # The parameter itself, not its list of values: bayes_opt reads a two-number list
        # such as [False, True] as the bounds of a float.
        return CategoricalParameter(self.name, list(self.values))

    def to_value(self, x: Any) -> Any:
        return x

    def to_param(self, value: Any) -> Any:
        return value


class HPSpace:
    """The bayes_opt parameters of a keras-tuner search space, and the maps between them.

    Example:

    >>> import keras_tuner
    >>> hp = keras_tuner.HyperParameters()
    >>> _ = hp.Float("lr", 1e-4, 1e-1, sampling="log")
    >>> _ = hp.Int("units", 32, 128, step=32)
    >>> _ = hp.Choice("act", ["relu", "tanh"])
    >>> _ = hp.Fixed("epochs", 5)
    >>> space = HPSpace(hp)
    >>> space.pbounds["lr"], space.pbounds["units"], space.pbounds["act"].categories
    ((-4.0, -1.0), (0, 3, <class 'int'>), ['relu', 'tanh'])
    >>> space.to_values({"lr": -2.0, "units": 2, "act": "tanh"})
    {'lr': 0.01, 'units': 96, 'act': 'tanh', 'epochs': 5}
    >>> space.to_params({"lr": 0.01, "units": 96, "act": "tanh", "epochs": 5})
    {'lr': -2.0, 'units': 2, 'act': 'tanh'}

    Args:
        hyperparameters: keras_tuner.HyperParameters. The search space, without
            conditional hyperparameters.

    Raises:
        ConfigError: a hyperparameter is conditional, or of a type not listed above.
    """

    def __init__(self, hyperparameters: keras_tuner.HyperParameters):
        self.fixed: dict[str, Any] = {}
        self.params: dict[str, _Numeric | _Indexed | _Categorical] = {}
        self.defaults: dict[str, Any] = {}
        for hp in hyperparameters.space:
            check_unconditional(hp)
            self.defaults[hp.name] = hp.default
            encoding = _encode(hp)
            if encoding is None:
                self.fixed[hp.name] = _fixed_value(hp)
            else:
                self.params[hp.name] = encoding

    @property
    def pbounds(self) -> dict[str, Any]:
        """`{name: bounds}` in bayes_opt's form: `(lo, hi)`, `(lo, hi, int)` or a
        `CategoricalParameter`."""
        return {name: p.bounds for name, p in self.params.items()}

    @property
    def names(self) -> tuple[str, ...]:
        """The tuned hyperparameters, in search order."""
        return tuple(self.params)

    def to_values(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """keras-tuner values (the fixed ones included) of a bayes_opt point."""
        values = {name: p.to_value(params[name]) for name, p in self.params.items()}
        values.update(self.fixed)
        return values

    def to_params(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The bayes_opt point of keras-tuner values; a missing one (a hyperparameter added
        after the trial ran) counts as its default, as keras-tuner's own oracles read it."""
        return {
            name: p.to_param(values.get(name, self.defaults[name]))
            for name, p in self.params.items()
        }


def check_unconditional(hp: Any) -> None:
    """Raises ConfigError for a conditional hyperparameter, naming it and its parent."""
    if not hp.conditions:
        return
    parents = ", ".join(
        f"{c.name!r} in {list(c.values)!r}" for c in hp.conditions if hasattr(c, "values")
    )
    raise ConfigError(
        f"Hyperparameter {hp.name!r} is conditional (active only when {parents}); the "
        "bayes_opt tuner searches one fixed box and does not support conditional "
        "hyperparameters (`parent_name`, `conditional_scope`). Declare it unconditionally "
        "and ignore it where it does not apply, or use keras_tuner.RandomSearch or "
        "keras_tuner.BayesianOptimization."
    )


def check_unconditional_space(hyperparameters: keras_tuner.HyperParameters | None) -> None:
    """`check_unconditional` for every hyperparameter of a space (None: nothing to check)."""
    for hp in hyperparameters.space if hyperparameters is not None else ():
        check_unconditional(hp)


def space_key(hyperparameters: keras_tuner.HyperParameters) -> str:
    """A text that changes exactly when the space does (a hypermodel may add to it), for
    rebuilding its `HPSpace` only then.

    Example:

    >>> hp = keras_tuner.HyperParameters()
    >>> before = space_key(hp)
    >>> _ = hp.Float("lr", 1e-4, 1e-1, sampling="log")
    >>> space_key(hp) != before
    True
    """
    return json.dumps(hyperparameters.get_config(), sort_keys=True, default=str)


class RefusesConditional:
    """Mixin for a keras-tuner Oracle (first in the bases) that searches its space as one
    box: a conditional hyperparameter the hypermodel declares is refused at once, by name
    (`check_unconditional`), instead of failing later in `HPSpace`."""

    def update_space(self, hyperparameters: keras_tuner.HyperParameters) -> None:
        """keras-tuner's, refusing a conditional hyperparameter first."""
        check_unconditional_space(hyperparameters)
        super().update_space(hyperparameters)


def _encode(hp: Any) -> _Numeric | _Indexed | _Categorical | None:
    if isinstance(hp, hp_module.Fixed):
        return None
    if isinstance(hp, hp_module.Boolean):
        return _Categorical(hp.name, (False, True))
    if isinstance(hp, hp_module.Choice):
        values = tuple(hp.values)
        if len(values) == 1:
            return None
        return _Indexed(hp.name, values) if hp.ordered else _Categorical(hp.name, values)
    if isinstance(hp, hp_module.Int | hp_module.Float):
        integer = isinstance(hp, hp_module.Int)
        if hp.step is not None:
            values = _grid(hp, integer)
            return _Indexed(hp.name, values) if len(values) > 1 else None
        if hp.min_value == hp.max_value:
            return None
        return _Numeric(hp.name, float(hp.min_value), float(hp.max_value), hp.sampling, integer)
    raise ConfigError(
        f"Hyperparameter {hp.name!r} is a {type(hp).__name__}; the bayes_opt tuner "
        "supports Float, Int, Choice, Boolean and Fixed."
    )


def _grid(hp: Any, integer: bool) -> tuple[Any, ...]:
    # keras-tuner's own grid (`Numerical._get_n_values` and `_get_value_by_index`), so a
    # value here is one keras-tuner's random search and grid search could draw.
    low, high, step = hp.min_value, hp.max_value, hp.step
    if hp.sampling == "linear":
        n = int((high - low) // step + 1)
        values = [low + k * step for k in range(n)]
    else:
        n = int(math.log(high / low, step) + 1e-8) + 1
        values = [low * math.pow(step, k) for k in range(n)]
        if hp.sampling == "reverse_log":
            values = [high + low - v for v in values][::-1]
    return tuple(int(v) if integer else float(v) for v in values)


def _neighbours(x: float, steps: int = 4) -> list[float]:
    out, up, down = [x], x, x
    for _ in range(steps):
        up, down = math.nextafter(up, math.inf), math.nextafter(down, -math.inf)
        out += [up, down]
    return out


def _fixed_value(hp: Any) -> Any:
    if isinstance(hp, hp_module.Fixed):
        return hp.value
    if isinstance(hp, hp_module.Choice):
        return hp.values[0]
    return hp.min_value
