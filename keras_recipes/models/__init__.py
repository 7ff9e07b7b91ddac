"""Models built from a recipe: AlexNet (original and CPU-sized) and a plain MLP."""

from keras_recipes.models.alexnet import (
    alexnet,
    check_image_size,
    conv1_geometry,
    feature_map_sizes,
)
from keras_recipes.models.mc_dropout import MCAverage, MCDropout, MCRepeat, prediction_passes
from keras_recipes.models.mlp import mlp
from keras_recipes.models.rrelu import RReLU

__all__ = [
    "MCAverage",
    "MCDropout",
    "MCRepeat",
    "RReLU",
    "alexnet",
    "check_image_size",
    "conv1_geometry",
    "feature_map_sizes",
    "mlp",
    "prediction_passes",
]
