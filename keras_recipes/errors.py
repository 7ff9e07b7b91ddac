"""Errors the toolkit raises for bad user input; the CLI prints them without a traceback."""


class KerasRecipesError(Exception):
    """Base class: a user error with a message that names the bad value and the valid ones."""


class ConfigError(KerasRecipesError):
    """A recipe, TOML file, override or flag is invalid."""


class DataError(KerasRecipesError):
    """A data source is missing, empty, unreadable or unusable."""
