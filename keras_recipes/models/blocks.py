"""Recipe -> Keras layers: the initializer, activation, normalisation, regulariser and dropout
that a recipe asks for, applied the same way to every model the toolkit builds.

Where each part goes:
- init, activation and batch norm: every hidden conv and dense layer (`hidden_block`);
- dropout: after the hidden dense layers the model chooses (AlexNet: fc6 and fc7; the
  MLP: the last one) (`dropout_layer`);
- weight decay: every trainable variable, the classifier and batch norm's included;
  max-norm: every conv and dense kernel, the classifier's included;
- the classifier (`output_layer`, followed by the softmax) takes the init that the
  init-by-activation rule gives softmax, Glorot, not the hidden layers' (He for ReLU and
  ELU, LeCun for SELU); only the original `alexnet2012` table sets it (normal(0, 0.01)).

The random layers (dropout, RReLU) take seeds derived from the run's seed and their
names (`layer_seed`), so `--seed` changes their masks and a seed repeats them.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from keras_recipes.models.mc_dropout import MCAverage, MCDropout, MCRepeat
from keras_recipes.models.rrelu import RReLU
from keras_recipes.recipes import ALEXNET_INIT_TABLE, Recipe


def layer_seed(seed: int | None, name: str) -> int | None:
    """The seed of the random layer `name` in a model built with the run's `seed`.

    A Keras `SeedGenerator` given a seed ignores the global one
    (`keras.utils.set_random_seed`), so each layer's seed is drawn from the run's seed and
    the layer's name (NumPy's `SeedSequence`): other seeds give other masks, the same seed
    the same ones, and no two layers of a model share a stream. `None` stays None: Keras
    then draws the seed from its global random state.

    Example:

    >>> layer_seed(0, "fc6_dropout") == layer_seed(0, "fc6_dropout")
    True
    >>> layer_seed(0, "fc6_dropout") != layer_seed(1, "fc6_dropout")
    True
    >>> layer_seed(0, "fc6_dropout") != layer_seed(0, "fc7_dropout")
    True
    """
    if seed is None:
        return None
    entropy = [int(seed), *name.encode()]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def uses_init_table(recipe: Recipe) -> bool:
    """True when the recipe asks for the original per-layer normal(0, std) table."""
    return recipe.init.kernel == ALEXNET_INIT_TABLE


def kernel_initializer(recipe: Recipe, table_std: float) -> keras.initializers.Initializer:
    """normal(0, table_std) under the original table, else the recipe's Keras initializer."""
    if uses_init_table(recipe):
        return keras.initializers.RandomNormal(0.0, table_std)
    return keras.initializers.get(recipe.init.kernel)


def bias_initializer(recipe: Recipe, table_bias: float) -> keras.initializers.Initializer:
    """The table's bias constant under the original table, else `init.bias`."""
    value = table_bias if uses_init_table(recipe) else recipe.init.bias
    return keras.initializers.Constant(value)


def l2_regularizer(recipe: Recipe) -> keras.regularizers.Regularizer | None:
    """wd * sum(w**2) / 2, the original's decay term, for every trainable variable.

    Keras's L2(l) computes l * sum(w**2), so l = wd / 2 gives the original's term exactly.
    """
    reg = recipe.regularization
    if reg.weight_decay_mode != "l2" or reg.weight_decay == 0:
        return None
    return keras.regularizers.L2(reg.weight_decay / 2.0)


def weight_kwargs(recipe: Recipe, table_std: float, table_bias: float, use_bias: bool) -> dict:
    """Keyword arguments shared by Conv2D and Dense for one recipe."""
    max_norm = recipe.regularization.max_norm
    return {
        "use_bias": use_bias,
        "kernel_initializer": kernel_initializer(recipe, table_std),
        "bias_initializer": bias_initializer(recipe, table_bias),
        "kernel_regularizer": l2_regularizer(recipe),
        "bias_regularizer": l2_regularizer(recipe) if use_bias else None,
        "kernel_constraint": keras.constraints.MaxNorm(max_norm) if max_norm else None,
    }


def activation_layer(
    recipe: Recipe, name: str, shared_axes=None, seed: int | None = None
) -> keras.layers.Layer:
    """The recipe's hidden activation as a layer (PReLU shares its slope over `shared_axes`;
    RReLU draws its slopes from `layer_seed(seed, name)`)."""
    act = recipe.activation
    if act.name == "leaky_relu":
        return keras.layers.LeakyReLU(negative_slope=act.negative_slope, name=name)
    if act.name == "prelu":
        return keras.layers.PReLU(
            alpha_initializer=keras.initializers.Constant(0.25),
            alpha_regularizer=l2_regularizer(recipe),
            shared_axes=shared_axes,
            name=name,
        )
    if act.name == "rrelu":
        return RReLU(act.rrelu_lower, act.rrelu_upper, seed=layer_seed(seed, name), name=name)
    if act.name == "elu":
        return keras.layers.ELU(alpha=act.elu_alpha, name=name)
    return keras.layers.Activation(act.name, name=name)


def batch_norm(recipe: Recipe, name: str) -> keras.layers.Layer:
    """BatchNormalization with the recipe's momentum and the decay term on gamma and beta.

    Built under a strategy with several replicas, the batch statistics are synchronised
    across them, so a step on a split global batch is the step on the whole batch.
    """
    return keras.layers.BatchNormalization(
        momentum=recipe.normalization.momentum,
        synchronized=tf.distribute.get_strategy().num_replicas_in_sync > 1,
        gamma_regularizer=l2_regularizer(recipe),
        beta_regularizer=l2_regularizer(recipe),
        name=name,
    )


def hidden_block(
    x: keras.KerasTensor,
    recipe: Recipe,
    make_layer: Callable[..., keras.layers.Layer],
    *,
    name: str,
    table_std: float,
    table_bias: float,
    shared_axes=None,
    seed: int | None = None,
) -> keras.KerasTensor:
    """weights -> [BN] -> activation -> [BN], with BN placed as the recipe says.

    A hidden layer: the recipe's init (or the table's `table_std` / `table_bias`),
    activation and batch norm. With BN before the activation the weight layer has no bias:
    BN's beta replaces it. `seed` is the run's seed (for RReLU).
    """
    norm = recipe.normalization
    bn_before = norm.kind == "batch" and norm.placement == "before"
    bn_after = norm.kind == "batch" and norm.placement == "after"
    x = make_layer(**weight_kwargs(recipe, table_std, table_bias, not bn_before), name=name)(x)
    if bn_before:
        x = batch_norm(recipe, f"{name}_bn")(x)
    x = activation_layer(recipe, f"{name}_{recipe.activation.name}", shared_axes, seed)(x)
    if bn_after:
        x = batch_norm(recipe, f"{name}_bn")(x)
    return x


def dropout_layer(recipe: Recipe, name: str, seed: int | None = None) -> keras.layers.Layer | None:
    """The recipe's dropout kind at its rate, seeded by `layer_seed(seed, name)`; None when
    the rate is 0."""
    reg = recipe.regularization
    if reg.dropout_rate == 0:
        return None
    layer_cls = {
        "dropout": keras.layers.Dropout,
        "alpha": keras.layers.AlphaDropout,
        "mc": MCDropout,
    }[reg.dropout_kind]
    return layer_cls(reg.dropout_rate, seed=layer_seed(seed, name), name=name)


def mc_passes(recipe: Recipe) -> int:
    """Passes averaged per prediction: `regularization.mc_passes` under MC dropout, else 1."""
    reg = recipe.regularization
    if reg.dropout_kind == "mc" and reg.dropout_rate > 0:
        return reg.mc_passes
    return 1


def mc_repeat(recipe: Recipe, x: keras.KerasTensor) -> keras.KerasTensor:
    """Before the first MC dropout: T copies of the batch at inference (see `MCRepeat`)."""
    passes = mc_passes(recipe)
    return MCRepeat(passes, name="mc_repeat")(x) if passes > 1 else x


def mc_average(recipe: Recipe, probabilities: keras.KerasTensor) -> keras.KerasTensor:
    """After the softmax: the mean of the T copies at inference (see `MCAverage`)."""
    passes = mc_passes(recipe)
    return MCAverage(passes, name="mc_average")(probabilities) if passes > 1 else probabilities


def output_layer(recipe: Recipe, num_classes: int, table_std: float, name: str):
    """The classifier, a Dense layer the softmax follows.

    Its init follows the init-by-activation rule for its own activation, softmax: Glorot
    uniform with zero bias, whatever the hidden layers use (He, LeCun, ...). The original
    `alexnet2012` table is the exception: it gives fc8 normal(0, `table_std`) and bias 0.
    Weight decay and max-norm apply as to the hidden layers.
    """
    kwargs = weight_kwargs(recipe, table_std, 0.0, True)
    if not uses_init_table(recipe):
        kwargs["kernel_initializer"] = keras.initializers.GlorotUniform()
        kwargs["bias_initializer"] = keras.initializers.Zeros()
    return keras.layers.Dense(num_classes, name=name, **kwargs)
