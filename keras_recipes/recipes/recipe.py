"""`Recipe`: a named, frozen bundle of init, activation, normalisation, regularisation,
optimizer, schedule and training settings, with a TOML round trip and `--set` overrides."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from keras_recipes import atomic
from keras_recipes.errors import ConfigError
from keras_recipes.recipes.fields import (
    closest,
    coerce,
    field_types,
    section_from_dict,
    section_to_dict,
)
from keras_recipes.recipes.sections import (
    ActivationSection,
    InitSection,
    NormalizationSection,
    OptimizerSection,
    RegularizationSection,
    ScheduleSection,
    TrainingSection,
)
from keras_recipes.recipes.validation import validate

SECTIONS: dict[str, type] = {
    "init": InitSection,
    "activation": ActivationSection,
    "normalization": NormalizationSection,
    "regularization": RegularizationSection,
    "optimizer": OptimizerSection,
    "schedule": ScheduleSection,
    "training": TrainingSection,
}
TOP_LEVEL_KEYS = ("name", "description")


@dataclass(frozen=True)
class Recipe:
    """A training recipe. Every field has a default; TOML files only list what differs.

    Example:

    >>> recipe = Recipe.from_dict({"name": "mine", "activation": {"name": "elu"}})
    >>> recipe.activation.name, recipe.optimizer.name
    ('elu', 'momentum')
    >>> recipe.with_overrides(["optimizer.learning_rate=0.02"]).optimizer.learning_rate
    0.02
    """

    name: str = "custom"
    description: str = ""
    init: InitSection = field(default_factory=InitSection)
    activation: ActivationSection = field(default_factory=ActivationSection)
    normalization: NormalizationSection = field(default_factory=NormalizationSection)
    regularization: RegularizationSection = field(default_factory=RegularizationSection)
    optimizer: OptimizerSection = field(default_factory=OptimizerSection)
    schedule: ScheduleSection = field(default_factory=ScheduleSection)
    training: TrainingSection = field(default_factory=TrainingSection)

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "recipe") -> Recipe:
        """Builds and validates a recipe from nested dicts (a parsed TOML document).

        Raises:
            ConfigError: for an unknown table or key, a mistyped or invalid value.
        """
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: a recipe must be a table, got {type(data).__name__}.")
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key in SECTIONS:
                kwargs[key] = section_from_dict(SECTIONS[key], value, key)
            elif key in TOP_LEVEL_KEYS:
                kwargs[key] = coerce(value, str, key)
            else:
                valid = [*TOP_LEVEL_KEYS, *SECTIONS]
                raise ConfigError(
                    f"{source}: unknown key `{key}`. Valid top-level keys: "
                    f"{', '.join(valid)}.{closest(key, valid)}"
                )
        recipe = cls(**kwargs)
        validate(recipe)
        return recipe

    @classmethod
    def from_toml(cls, path: str | Path) -> Recipe:
        """Loads a recipe from a TOML file (parsed as data, never executed)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"Recipe file not found: {path}") from None
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"Cannot read recipe file {path}: {err}") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{path} is not valid TOML: {err}") from None
        data.setdefault("name", path.stem)
        return cls.from_dict(data, source=str(path))

    # -- output ---------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Every field, as nested dicts that `from_dict` reads back to an equal recipe."""
        out: dict[str, Any] = {"name": self.name, "description": self.description}
        for key in SECTIONS:
            out[key] = section_to_dict(getattr(self, key))
        return out

    def to_toml(self, path: str | Path | None = None) -> str:
        """Returns the TOML text, and writes it to `path` when given."""
        text = tomli_w.dumps(self.to_dict())
        if path is not None:
            atomic.write_text(path, text)
        return text

    # -- changes --------------------------------------------------------------------------

    def replace(self, **sections: dict[str, Any]) -> Recipe:
        """A validated copy with some section fields changed.

        Example: `recipe.replace(optimizer={"learning_rate": 0.1})`.
        """
        data = self.to_dict()
        for key, values in sections.items():
            if key in TOP_LEVEL_KEYS:
                data[key] = values
            elif key in SECTIONS:
                data[key] = {**data[key], **values}
            else:
                valid = [*TOP_LEVEL_KEYS, *SECTIONS]
                raise ConfigError(
                    f"Unknown recipe section `{key}`. Valid: {', '.join(valid)}."
                    f"{closest(key, valid)}"
                )
        return Recipe.from_dict(data)

    def with_overrides(self, overrides: list[str]) -> Recipe:
        """Applies `section.key=value` strings; values are parsed as TOML values.

        A bare word that is not valid TOML (`activation.name=elu`) is read as a string.
        """
        data = self.to_dict()
        for item in overrides:
            section, key, value = parse_override(item)
            data[section][key] = value
        return Recipe.from_dict(data, source="--set")

    def dotted_items(self) -> dict[str, Any]:
        """Flat `section.key -> value` view, for tables and tuner search spaces."""
        return {
            f"{section}.{key}": value
            for section in SECTIONS
            for key, value in section_to_dict(getattr(self, section)).items()
        }


def parse_override(item: str) -> tuple[str, str, Any]:
    """Splits `section.key=value` and parses the value; errors name the valid keys."""
    if "=" not in item:
        raise ConfigError(
            f"Override {item!r} must look like section.key=value, "
            "e.g. optimizer.learning_rate=0.02."
        )
    dotted, raw = item.split("=", 1)
    dotted = dotted.strip()
    if dotted.count(".") != 1:
        raise ConfigError(
            f"Override key {dotted!r} must be section.key, e.g. optimizer.learning_rate. "
            f"Sections: {', '.join(SECTIONS)}."
        )
    section, key = dotted.split(".")
    if section not in SECTIONS:
        raise ConfigError(
            f"Unknown section in override {dotted!r}. Valid sections: "
            f"{', '.join(SECTIONS)}.{closest(section, SECTIONS)}"
        )
    hints = field_types(SECTIONS[section])
    if key not in hints:
        raise ConfigError(
            f"Unknown override key `{dotted}`. Valid keys of [{section}]: "
            f"{', '.join(hints)}.{closest(key, hints)}"
        )
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return section, key, value


def recipe_fields() -> list[str]:
    """Every overridable `section.key`."""
    return [f"{s}.{f.name}" for s, cls in SECTIONS.items() for f in dataclasses.fields(cls)]
