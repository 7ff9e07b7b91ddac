"""Comparison: `keras-recipes compare` trains several recipes for several seeds on the same
data through `train()`, and reports which wins (table, CSV and validation curves)."""

from keras_recipes.comparison.compare import Comparison, compare_recipes
from keras_recipes.comparison.plot import plot_validation_curves
from keras_recipes.comparison.table import format_table, summarize

__all__ = [
    "Comparison",
    "compare_recipes",
    "format_table",
    "plot_validation_curves",
    "summarize",
]
