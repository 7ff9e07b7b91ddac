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


def check_int_in(flag: str, value: object, low: int, high: int, what: str = "") -> int:
    """`value` if it is an integer in `low..high`, else a ConfigError naming `flag` and
    the range (`what` says where the range comes from).

    Example:

    >>> check_int_in("--min-epochs", 3, 1, 9)
    3
    >>> check_int_in("--min-epochs", 10, 1, 9, " (of 9 epochs)")
    Traceback (most recent call last):
    keras_recipes.errors.ConfigError: --min-epochs must be an integer in 1..9 (of 9 epochs); got 10.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{flag} must be an integer in {low}..{high}{what}; got {value!r}.")
    return value
