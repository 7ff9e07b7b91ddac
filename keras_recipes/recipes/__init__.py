"""Recipes: named bundles of init, activation, normalisation, regularisation, optimizer,
schedule and training settings. Built-ins live in `builtin/*.toml`."""

from keras_recipes.recipes.recipe import Recipe, parse_override, recipe_fields
from keras_recipes.recipes.registry import get_recipe, list_recipes, register
from keras_recipes.recipes.sections import (
    ALEXNET_INIT_TABLE,
    ActivationSection,
    InitSection,
    NormalizationSection,
    OptimizerSection,
    RegularizationSection,
    ScheduleSection,
    TrainingSection,
)
from keras_recipes.recipes.validation import self_normalizing_violations, validate

__all__ = [
    "ALEXNET_INIT_TABLE",
    "ActivationSection",
    "InitSection",
    "NormalizationSection",
    "OptimizerSection",
    "Recipe",
    "RegularizationSection",
    "ScheduleSection",
    "TrainingSection",
    "get_recipe",
    "list_recipes",
    "parse_override",
    "recipe_fields",
    "register",
    "self_normalizing_violations",
    "validate",
]
