"""`keras-recipes list` (and `train.py --list-recipes`): the registered recipes as a table."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def recipes_table() -> str:
    """The registered recipes as a text table.

    Example:

    >>> recipes_table().split()[:3]
    ['recipe', 'init', 'activation']
    """
    import pandas as pd

    from keras_recipes.recipes import get_recipe, list_recipes

    rows = []
    for name in list_recipes():
        r = get_recipe(name)
        norm = "none" if r.normalization.kind == "none" else f"bn-{r.normalization.placement}"
        rows.append(
            {
                "recipe": name,
                "init": r.init.kernel,
                "activation": r.activation.name,
                "norm": norm,
                "dropout": f"{r.regularization.dropout_kind} {r.regularization.dropout_rate:g}",
                "decay": f"{r.regularization.weight_decay_mode} {r.regularization.weight_decay:g}",
                "optimizer": f"{r.optimizer.name} {r.optimizer.learning_rate:g}",
                "schedule": r.schedule.name,
                "inputs": r.training.preprocessing,
            }
        )
    return pd.DataFrame(rows).to_string(index=False)


def main(argv: Sequence[str] | None = None, prog: str = "keras-recipes list") -> int:
    """Prints the table; returns the exit code."""
    if argv:
        extra = " ".join(argv)
        print(f"usage: {prog}\n{prog}: error: takes no arguments, got {extra}", file=sys.stderr)
        return 2
    print(recipes_table())
    return 0
