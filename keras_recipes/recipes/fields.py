"""Type checking of recipe values read from TOML or `--set`, against the dataclass hints."""

from __future__ import annotations

import difflib
import math
import types
import typing
from dataclasses import fields
from typing import Any, Literal, get_args, get_origin

from keras_recipes.errors import ConfigError


def closest(name: str, choices: typing.Iterable[str]) -> str:
    """Returns " Did you mean 'x'?" for the closest choice, or "" when none is close."""
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" Did you mean '{match[0]}'?" if match else ""


def field_types(cls: type) -> dict[str, Any]:
    """Maps each field of dataclass `cls` to its resolved type hint."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in fields(cls)}


def describe_type(hint: Any) -> str:
    """A short human name for a type hint, used in error messages."""
    if get_origin(hint) is Literal:
        return "one of " + ", ".join(repr(v) for v in get_args(hint))
    if get_origin(hint) is tuple:
        return f"a list of {describe_type(get_args(hint)[0])}"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
        hint, str(hint)
    )


def coerce(value: Any, hint: Any, where: str) -> Any:
    """Checks `value` against `hint` and converts it (int -> float, list -> tuple).

    Raises:
        ConfigError: naming `where`, the value received and the type or choices expected.
    """
    origin = get_origin(hint)
    if origin is Literal:
        choices = get_args(hint)
        if value in choices and type(value) is type(choices[0]):
            return value
        hint_text = closest(str(value), [str(c) for c in choices])
        raise ConfigError(
            f"Invalid value for `{where}`: {value!r}. Valid values: "
            f"{', '.join(repr(c) for c in choices)}.{hint_text}"
        )
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(
                f"Invalid value for `{where}`: {value!r} ({type(value).__name__}); "
                f"expected {describe_type(hint)}."
            )
        item = get_args(hint)[0]
        return tuple(coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if origin in (types.UnionType, typing.Union):  # pragma: no cover - not used by the schema
        raise TypeError(f"Unsupported hint {hint}")
    ok = (
        (hint is bool and isinstance(value, bool))
        or (hint is int and isinstance(value, int) and not isinstance(value, bool))
        or (hint is float and isinstance(value, int | float) and not isinstance(value, bool))
        or (hint is str and isinstance(value, str))
    )
    if not ok:
        raise ConfigError(
            f"Invalid value for `{where}`: {value!r} ({type(value).__name__}); "
            f"expected {describe_type(hint)}."
        )
    if hint is float and not math.isfinite(value):
        raise ConfigError(f"Invalid value for `{where}`: {value!r}; expected a finite number.")
    return float(value) if hint is float else value


def section_from_dict(cls: type, data: Any, where: str) -> Any:
    """Builds dataclass `cls` from a TOML table, rejecting unknown keys by name."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"`{where}` must be a table of keys, got {data!r} ({type(data).__name__})."
        )
    hints = field_types(cls)
    kwargs = {}
    for key, value in data.items():
        if key not in hints:
            raise ConfigError(
                f"Unknown key `{where}.{key}`. Valid keys of [{where}]: "
                f"{', '.join(hints)}.{closest(key, hints)}"
            )
        kwargs[key] = coerce(value, hints[key], f"{where}.{key}")
    return cls(**kwargs)


def section_to_dict(section: Any) -> dict[str, Any]:
    """The TOML table of a section: every field, tuples as lists."""
    return {
        f.name: list(v) if isinstance(v := getattr(section, f.name), tuple) else v
        for f in fields(section)
    }
