"""What the engine needs of a search space (`TrialSpace`), and keras-tuner's values as an
objective sees them (`param_value`).

`train-with-bo`'s `SearchSpace` (bounded continuous parameters) and `keras-recipes tune`'s
`RecipeSpace` (recipe choices and log-scale numbers) both satisfy it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol


class TrialSpace(Protocol):
    """A search space as the trial engine uses it."""

    @property
    def names(self) -> Sequence[str]:
        """The parameters, as keras-tuner names them and the objective receives them."""

    @property
    def value_names(self) -> Sequence[str]:
        """The `trials.csv` columns of the values a point stands for."""

    def values(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """A point's values, by `value_names`."""


def param_value(value: Any) -> float | str:
    """A keras-tuner value as the objective sees it: numbers as float, choices unchanged.

    Example:

    >>> param_value(3), param_value("selu")
    (3.0, 'selu')
    """
    if isinstance(value, str):
        return value
    return float(value)
