"""`TrainObjective`: one `train-with-bo` trial = one `train()` run at a (learning rate,
weight decay)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from keras_recipes.recipes import Recipe
from keras_recipes.tuning.engine.objective import TrainingObjective

PARAMS = ("log10_learning_rate", "log10_weight_decay")


class TrainObjective(TrainingObjective):
    """Trains the base recipe with `learning_rate = 10**x`, `weight_decay = 10**y`; returns the
    best validation accuracy over the epochs (the rest is `TrainingObjective`'s).

    Example:

    >>> import numpy as np
    >>> from keras_recipes.recipes import get_recipe
    >>> x = np.random.default_rng(0).integers(0, 255, (40, 40, 40, 3), dtype=np.uint8)
    >>> recipe = get_recipe("relu").with_overrides(["training.epochs=1", "training.batch_size=8"])
    >>> objective = TrainObjective(recipe, (x, np.arange(40) % 2), image_size=32, width=0.1)
    >>> outcome = objective({"log10_learning_rate": -2.0, "log10_weight_decay": -4.0})
    >>> outcome.epochs_run, outcome.status
    (1, 'completed')
    """

    def recipe_for(self, params: Mapping[str, float], epochs: int | None = None) -> Recipe:
        """The recipe with `10**params` as learning rate and weight decay (and `epochs`)."""
        sections: dict[str, dict[str, Any]] = {
            "optimizer": {"learning_rate": 10.0 ** float(params["log10_learning_rate"])},
            "regularization": {"weight_decay": 10.0 ** float(params["log10_weight_decay"])},
        }
        if epochs is not None:
            sections["training"] = {"epochs": int(epochs)}
        return self.recipe.replace(**sections)
