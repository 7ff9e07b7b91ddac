"""Models built from a recipe: AlexNet (original and CPU-sized), a plain MLP, and the layer
factory they share (`RecipeLayers`), which your own models can use too, and `apply_recipe`,
which puts a recipe onto your own Sequential or Functional model."""

from keras_recipes.models.alexnet import (
    alexnet,
    check_image_size,
    conv1_geometry,
    feature_map_sizes,
)
from keras_recipes.models.apply import LayerChange, RecipeReport, apply_recipe
from keras_recipes.models.blocks import RecipeLayers, layer_seed
from keras_recipes.models.mc_dropout import MCAverage, MCDropout, MCRepeat, prediction_passes
from keras_recipes.models.mlp import mlp
from keras_recipes.models.rrelu import RReLU

__all__ = [
    "LayerChange",
    "MCAverage",
    "MCDropout",
    "MCRepeat",
    "RReLU",
    "RecipeLayers",
    "RecipeReport",
    "alexnet",
    "apply_recipe",
    "check_image_size",
    "conv1_geometry",
    "feature_map_sizes",
    "layer_seed",
    "mlp",
    "prediction_passes",
]
