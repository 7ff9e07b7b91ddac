"""The recipe registry: built-in TOML recipes plus any a user registers.

Example:

>>> from keras_recipes.recipes import get_recipe, list_recipes
>>> "selu" in list_recipes()
True
>>> get_recipe("selu").activation.name
'selu'
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from keras_recipes.errors import ConfigError
from keras_recipes.recipes.fields import closest
from keras_recipes.recipes.recipe import Recipe

_REGISTRY: dict[str, Recipe] = {}


def _builtin_files() -> dict[str, resources.abc.Traversable]:
    folder = resources.files("keras_recipes.recipes") / "builtin"
    return {f.name.removesuffix(".toml"): f for f in folder.iterdir() if f.name.endswith(".toml")}


def _load_builtins() -> None:
    if _REGISTRY:
        return
    for name, file in sorted(_builtin_files().items()):
        with resources.as_file(file) as path:
            recipe = Recipe.from_toml(path)
        _REGISTRY[name] = recipe


def register(recipe: Recipe, *, overwrite: bool = False) -> Recipe:
    """Adds `recipe` under `recipe.name`; refuses to replace an entry unless `overwrite`."""
    _load_builtins()
    if recipe.name in _REGISTRY and not overwrite:
        raise ConfigError(
            f"A recipe named {recipe.name!r} is already registered; pass overwrite=True "
            "or choose another name."
        )
    _REGISTRY[recipe.name] = recipe
    return recipe


def list_recipes() -> list[str]:
    """Names of every registered recipe, sorted."""
    _load_builtins()
    return sorted(_REGISTRY)


def get_recipe(name_or_path: str | Path) -> Recipe:
    """A registered recipe by name, or a recipe loaded from a `.toml` file.

    Raises:
        ConfigError: for an unknown name (with the closest valid one) or a bad file.
    """
    _load_builtins()
    text = str(name_or_path)
    if text.endswith(".toml") or Path(text).is_file():
        return Recipe.from_toml(text)
    key = text.replace("_", "-")
    if key in _REGISTRY:
        return _REGISTRY[key]
    if text in _REGISTRY:
        return _REGISTRY[text]
    raise ConfigError(
        f"Unknown recipe {text!r}. Valid recipes: {', '.join(list_recipes())}, "
        f"or a path to a .toml file.{closest(key, _REGISTRY)}"
    )
