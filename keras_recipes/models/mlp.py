"""A plain dense network with a recipe applied, for the self-normalising experiments."""

from __future__ import annotations

import keras

import keras_recipes.models.blocks as blocks
from keras_recipes.errors import ConfigError
from keras_recipes.recipes import Recipe


def mlp(
    recipe: Recipe,
    input_shape: tuple[int, ...],
    num_classes: int = 2,
    hidden_units: tuple[int, ...] = (100,) * 10,
    name: str = "mlp",
    seed: int | None = None,
) -> keras.Model:
    """Builds Flatten -> Dense x N -> softmax, every hidden layer built from `recipe`.

    A plain sequential stack, as SELU's self-normalisation requires; dropout, when the
    recipe has any, follows the last hidden layer. The hidden layers take the recipe's
    init, activation and batch norm; the classifier takes Glorot init, the rule for its
    softmax (`RecipeLayers.output_dense`). Under MC dropout the prediction is the mean of
    `regularization.mc_passes` passes through the dropout and the classifier.

    Args:
        recipe: Recipe. Init, activation, normalisation, decay and dropout, as above.
        input_shape: tuple. Shape of one input example.
        num_classes: int. Outputs of the softmax layer.
        hidden_units: tuple of int. Units of each hidden layer.
        name: str. The model's name.
        seed: int or None. The run's seed, from which the dropout (and RReLU) seeds are
            derived; None: Keras's global seed picks them.

    Example:

    >>> from keras_recipes.recipes import get_recipe
    >>> model = mlp(get_recipe("selu"), (8,), hidden_units=(16, 16))
    >>> [layer.name for layer in model.layers][1:4]
    ['flatten', 'dense1', 'dense1_selu']
    """
    if not hidden_units or any(u < 1 for u in hidden_units):
        raise ConfigError(f"hidden_units must be positive integers; got {hidden_units!r}.")
    layers = blocks.RecipeLayers(recipe, seed)
    inputs = keras.Input(shape=input_shape, name="inputs")
    x = keras.layers.Flatten(name="flatten")(inputs)
    for index, units in enumerate(hidden_units, start=1):
        x = layers.dense_block(x, units, name=f"dense{index}", table_std=0.01, table_bias=0.0)
    x = layers.mc_repeat(x)
    dropout = layers.dropout("dropout")
    if dropout is not None:
        x = dropout(x)
    x = layers.output_dense(num_classes, name="logits", table_std=0.01)(x)
    outputs = keras.layers.Activation("softmax", dtype="float32", name="softmax")(x)
    outputs = layers.mc_average(outputs)
    return keras.Model(inputs, outputs, name=name)
