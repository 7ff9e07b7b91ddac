"""`SearchSpace`: the named, bounded, continuous parameters a search explores."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from keras_recipes.errors import ConfigError

LOG10_PREFIX = "log10_"

#: The tuned space of `train-with-bo`: value used = 10**x (bounds from the original post).
TRAIN_BOUNDS: dict[str, tuple[float, float]] = {
    "log10_learning_rate": (-5.0, -1.0),
    "log10_weight_decay": (-5.0, -1.0),
}


@dataclass(frozen=True)
class SearchSpace:
    """Ordered, named parameter bounds, each searched uniformly in `[low, high]`.

    A parameter named `log10_<name>` is searched in log10 space and used as `10**x`
    (`values()` returns both).

    Example:

    >>> space = SearchSpace.from_specs(["log10_weight_decay=-6,-2"], TRAIN_BOUNDS)
    >>> space.pbounds
    {'log10_learning_rate': (-5.0, -1.0), 'log10_weight_decay': (-6.0, -2.0)}
    >>> space.values({"log10_learning_rate": -2.0, "log10_weight_decay": -4.0})
    {'learning_rate': 0.01, 'weight_decay': 0.0001}

    Args:
        bounds: tuple of (name, low, high), in search order.
    """

    bounds: tuple[tuple[str, float, float], ...]

    def __post_init__(self) -> None:
        if not self.bounds:
            raise ConfigError("A search space needs at least one parameter; got none.")
        seen: set[str] = set()
        for name, low, high in self.bounds:
            if name in seen:
                raise ConfigError(f"Parameter {name!r} appears twice in the search space.")
            seen.add(name)
            if not (math.isfinite(low) and math.isfinite(high)):
                raise ConfigError(
                    f"Bounds of {name!r} must be finite numbers; got low={low}, high={high}."
                )
            if low >= high:
                raise ConfigError(
                    f"Bounds of {name!r} must have low < high; got low={low:g}, high={high:g}."
                )

    @classmethod
    def from_mapping(cls, bounds: Mapping[str, Iterable[float]]) -> SearchSpace:
        """From `{"name": (low, high)}` (the form bayes_opt calls `pbounds`)."""
        items = []
        for name, pair in bounds.items():
            low, high = (float(v) for v in pair)
            items.append((str(name), low, high))
        return cls(tuple(items))

    @classmethod
    def from_specs(
        cls, specs: Iterable[str], defaults: Mapping[str, tuple[float, float]]
    ) -> SearchSpace:
        """`defaults` with some bounds replaced by `NAME=LOW,HIGH` strings (`--bounds`).

        Raises:
            ConfigError: a spec is malformed, names an unknown parameter (the valid names
                and the closest one are listed) or has `low >= high`.
        """
        bounds = {name: (float(low), float(high)) for name, (low, high) in defaults.items()}
        for spec in specs:
            name, low, high = _parse_spec(spec)
            if name not in bounds:
                raise ConfigError(
                    f"Unknown parameter {name!r} in --bounds {spec}.{_did_you_mean(name, bounds)}"
                    f" Valid parameters: {', '.join(bounds)}."
                )
            if low >= high:
                raise ConfigError(
                    f"--bounds {spec}: low must be < high; got low={low:g}, high={high:g}."
                )
            bounds[name] = (low, high)
        return cls.from_mapping(bounds)

    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names, in search order."""
        return tuple(name for name, _, _ in self.bounds)

    @property
    def pbounds(self) -> dict[str, tuple[float, float]]:
        """`{"name": (low, high)}`, the form bayes_opt takes."""
        return {name: (low, high) for name, low, high in self.bounds}

    @property
    def value_names(self) -> tuple[str, ...]:
        """Names of the values used: `log10_x` -> `x`; other names unchanged."""
        return tuple(_value_name(name) for name in self.names)

    def values(self, params: Mapping[str, float]) -> dict[str, float]:
        """The values used for a point: `10**x` for each `log10_` parameter."""
        out = {}
        for name in self.names:
            x = float(params[name])
            out[_value_name(name)] = 10.0**x if name.startswith(LOG10_PREFIX) else x
        return out

    def to_json(self) -> dict[str, list[float]]:
        """`{"name": [low, high]}`, as written to `tuning.json`."""
        return {name: [low, high] for name, low, high in self.bounds}

    def describe(self) -> str:
        """`name=low,high name=low,high`, the `--bounds` form."""
        return " ".join(f"{name}={low:g},{high:g}" for name, low, high in self.bounds)


def _value_name(name: str) -> str:
    return name[len(LOG10_PREFIX) :] if name.startswith(LOG10_PREFIX) else name


def _parse_spec(spec: Any) -> tuple[str, float, float]:
    text = str(spec)
    name, sep, rest = text.partition("=")
    parts = rest.split(",")
    if not sep or not name.strip() or len(parts) != 2:
        raise ConfigError(
            f"--bounds expects NAME=LOW,HIGH (e.g. log10_learning_rate=-5,-1); got {text!r}."
        )
    try:
        low, high = (float(p) for p in parts)
    except ValueError:
        raise ConfigError(f"--bounds {text}: LOW and HIGH must be numbers.") from None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ConfigError(f"--bounds {text}: LOW and HIGH must be finite numbers.")
    return name.strip(), low, high


def _did_you_mean(name: str, valid: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.5)
    return f" Did you mean {close[0]!r}?" if close else ""
