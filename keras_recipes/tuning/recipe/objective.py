"""`RecipeObjective`: one `keras-recipes tune` trial = the recipe of a point of the recipe space,
validated first, then one `train()` run (a forbidden combination is never trained)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from keras_recipes.recipes import Recipe
from keras_recipes.training.setup import TrainSetup
from keras_recipes.tuning.engine.objective import TrainingObjective
from keras_recipes.tuning.recipe.space import RecipeSpace


class RecipeObjective(TrainingObjective):
    """Trains the recipe of a point of `space` (the base recipe with the point's choices) and
    returns its best validation accuracy; a point the recipe validation rejects returns an
    "invalid" outcome without training.

    Everything else is `TrainingObjective`'s: the data are loaded once and shared by every
    trial, and each trial's Keras session and graphs are freed after it.

    Example:

    >>> objective = RecipeObjective("default")
    >>> point = {"activation": "selu", "init": "he_normal", "normalization": "before",
    ...          "optimizer": "adam", "schedule": "1cycle", "dropout_kind": "alpha",
    ...          "learning_rate": 1e-3, "weight_decay": 1e-5, "one_minus_momentum": 0.1}
    >>> objective(point).status  # SELU with batch norm: refused, nothing trained
    'invalid'
    >>> objective.loads  # not even the data were loaded
    0

    Args:
        recipe: TrainSetup, Recipe or str. The whole set-up, or the base recipe (every field
            the space does not set, and `training.epochs`, the per-trial epochs) with the
            set-up's other fields below.
        space: RecipeSpace. The searched choices.
        data: str, (x, y) or DataBundle. What `train()` accepts.
        image_size: int. Crop size fed to the model.
        width: float. AlexNet width multiplier.
        seed: int. The same seed for every trial, so only the recipe differs.
        save_model: bool. Write `model.keras` into each trial directory.
    """

    def __init__(
        self,
        recipe: TrainSetup | Recipe | str,
        space: RecipeSpace | None = None,
        data: Any = "demo",
        *,
        image_size: int = 227,
        width: float = 1.0,
        seed: int = 0,
        save_model: bool = False,
    ):
        super().__init__(
            recipe, data, image_size=image_size, width=width, seed=seed, save_model=save_model
        )
        self.space = space or RecipeSpace()

    refused_is_invalid = True  # another point may suit the model

    def recipe_for(self, params: Mapping[str, Any], epochs: int | None = None) -> Recipe:
        """The base recipe with the point's fields (and `epochs`), validated.

        Raises:
            ConfigError: the point is a combination the recipe validation forbids.
        """
        return self.space.recipe_for(self.recipe, params, epochs=epochs)
