"""Errors the toolkit raises for bad user input; the CLI prints them without a traceback."""


class KerasRecipesError(Exception):
    """Base class: a user error with a message that names the bad value and the valid ones."""


class ConfigError(KerasRecipesError):
    """A recipe, TOML file, override or flag is invalid."""


class RecipeRefused(ConfigError):
    """A model cannot take a recipe: a condition of the recipe (SELU's self-normalising
    graph, MC dropout's single chain, the AlexNet init table) does not hold on it."""


class DataError(KerasRecipesError):
    """A data source is missing, empty, unreadable or unusable."""


def check_int(flag: str, value: object, minimum: int) -> int:
    """`value` if it is an integer >= `minimum`, else a ConfigError naming `flag`.

    Example:

    >>> check_int("--max-trials", 3, 1)
    3
    >>> check_int("--max-trials", 0, 1)
    Traceback (most recent call last):
    keras_recipes.errors.ConfigError: --max-trials must be an integer >= 1; got 0.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{flag} must be an integer >= {minimum}; got {value!r}.")
    return value
