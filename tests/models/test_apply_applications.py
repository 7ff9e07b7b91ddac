"""apply_recipe on keras.applications models, for every built-in recipe: applied where the
recipe's conditions allow (the effect checked on every layer, one train step run), refused
with the reason otherwise."""

import functools

import keras
import numpy as np
import pytest

from keras_recipes.errors import ConfigError
from keras_recipes.models import MCDropout, RReLU, apply_recipe
from keras_recipes.recipes import get_recipe, list_recipes

SHAPE = (32, 32, 3)
CLASSES = 4
APPLICATIONS = {
    "ResNet50": lambda: keras.applications.ResNet50(
        weights=None, input_shape=SHAPE, classes=CLASSES
    ),
    "MobileNetV2": lambda: keras.applications.MobileNetV2(
        weights=None, input_shape=SHAPE, classes=CLASSES, alpha=0.35
    ),
    "EfficientNetB0": lambda: keras.applications.EfficientNetB0(
        weights=None, input_shape=SHAPE, classes=CLASSES
    ),
    "DenseNet121": lambda: keras.applications.DenseNet121(
        weights=None, input_shape=SHAPE, classes=CLASSES
    ),
    "VGG16": lambda: keras.applications.VGG16(weights=None, input_shape=SHAPE, classes=CLASSES),
}
# Why a recipe is refused, per model (the rest apply).
REFUSED = {
    ("ResNet50", "selu"): r"'conv2_block1_add'.* merge branches .*'conv1_bn'.* batch norm",
    ("MobileNetV2", "selu"): r"'block_2_add'.* merge branches .*'bn_Conv1'.* batch norm",
    ("EfficientNetB0", "selu"): r"'block1a_se_excite'.* merge branches .*'stem_bn'",
    ("DenseNet121", "selu"): r"'conv2_block1_concat'.* merge branches .*'conv1_bn'",
}
REFUSED.update({(app, "alexnet2012"): r"no entry for layer '\w+'" for app in APPLICATIONS})
OUTPUT = "predictions"

ACTIVATION_TYPES = {
    "elu": keras.layers.ELU,
    "leaky_relu": keras.layers.LeakyReLU,
    "prelu": keras.layers.PReLU,
    "rrelu": RReLU,
}
DROPOUT_TYPES = {
    "dropout": keras.layers.Dropout,
    "alpha": keras.layers.AlphaDropout,
    "mc": MCDropout,
}
ACTIVATIONS = (keras.layers.Activation, keras.layers.ReLU, *ACTIVATION_TYPES.values())
WEIGHTS = (keras.layers.Dense, keras.layers.Conv2D, keras.layers.DepthwiseConv2D)


def producers_and_consumers(model):
    """Who feeds whom in a freshly built model (each layer called once)."""
    by_output = {id(layer.output): layer for layer in model.layers}
    inputs, consumers = {}, {layer.name: [] for layer in model.layers}
    for layer in model.layers[1:]:
        sources = [by_output[id(t)] for t in keras.tree.flatten(layer.input)]
        inputs[layer.name] = sources
        for source in sources:
            consumers[source.name].append(layer)
    return inputs, consumers


def is_recipe_activation(layer, name):
    if name in ACTIVATION_TYPES:
        return type(layer) is ACTIVATION_TYPES[name]
    return type(layer) is keras.layers.Activation and layer.activation.__name__ == name


def gate(layer, consumers):
    return any(isinstance(c, keras.layers.Multiply) for c in consumers[layer.name])


def check_weights(layer, recipe, consumers):
    init = "glorot_uniform" if layer.name == OUTPUT else recipe.init.kernel
    cls = type(keras.initializers.get(init))
    attr = "depthwise" if isinstance(layer, keras.layers.DepthwiseConv2D) else "kernel"
    assert type(getattr(layer, f"{attr}_initializer")) is cls, layer.name
    regularizer = getattr(layer, f"{attr}_regularizer")
    assert regularizer.l2 == pytest.approx(recipe.regularization.weight_decay / 2), layer.name
    after = consumers[layer.name]
    feeds_bn = bool(after) and all(isinstance(c, keras.layers.BatchNormalization) for c in after)
    assert layer.use_bias is not feeds_bn, layer.name
    activation = layer.activation.__name__
    assert activation == "linear" or layer.name == OUTPUT or gate(layer, consumers), layer.name


def check_activation(layer, recipe, inputs, consumers):
    name = recipe.activation.name
    if layer.name == OUTPUT or type(layer) is keras.layers.Softmax or gate(layer, consumers):
        return
    assert is_recipe_activation(layer, name), (layer.name, type(layer).__name__)
    if recipe.normalization.kind == "batch":
        # Behind a conv or dense (straight, or through its batch norm), the activation
        # has its batch norm right before or right after it.
        source = inputs[layer.name][0]
        before = isinstance(source, keras.layers.BatchNormalization)
        after = any(isinstance(c, keras.layers.BatchNormalization) for c in consumers[layer.name])
        assert before or after or not isinstance(source, WEIGHTS), layer.name


def assert_recipe_on_every_layer(model, recipe):
    inputs, consumers = producers_and_consumers(model)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert bool(norms) is (recipe.normalization.kind == "batch")
    assert all(layer.momentum == recipe.normalization.momentum for layer in norms)
    for layer in model.layers:
        if isinstance(layer, WEIGHTS):
            check_weights(layer, recipe, consumers)
        elif isinstance(layer, ACTIVATIONS):
            check_activation(layer, recipe, inputs, consumers)
        elif type(layer) in DROPOUT_TYPES.values() and layer.noise_shape is None:
            assert type(layer) is DROPOUT_TYPES[recipe.regularization.dropout_kind], layer.name
    # L2 on every trainable variable: kernels, biases, BN's gamma and beta, PReLU's slope.
    assert len(model.losses) == len(model.trainable_variables)


def one_train_step(model):
    model.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy", run_eagerly=True)
    x = np.random.default_rng(0).standard_normal((2, *SHAPE)).astype("float32")
    loss = model.train_on_batch(x, np.array([0, 1]))
    assert np.isfinite(loss)


@functools.cache
def user_model(app):
    """Built once per model: apply_recipe leaves the user's model as it was."""
    return APPLICATIONS[app]()


def takes_a_train_step(app, recipe_name):
    """One model per recipe (in turn) also takes a train step: every recipe and every model
    train once, at a fifth of the cost of a step for every pair."""
    recipes, apps = list_recipes(), list(APPLICATIONS)
    start = recipes.index(recipe_name) % len(apps)
    allowed = [a for a in apps[start:] + apps[:start] if (a, recipe_name) not in REFUSED]
    return recipe_name == "default" or allowed[:1] == [app]


def check(app, recipe_name):
    model = user_model(app)
    if (app, recipe_name) in REFUSED:
        with pytest.raises(ConfigError, match=REFUSED[app, recipe_name]):
            apply_recipe(model, recipe_name)
        return
    new = apply_recipe(model, recipe_name)
    assert_recipe_on_every_layer(new, get_recipe(recipe_name))
    if takes_a_train_step(app, recipe_name):
        one_train_step(new)


def test_mobilenet_default_recipe_on_every_layer_and_a_train_step():
    check("MobileNetV2", "default")


@pytest.mark.slow  # 5 models x 9 recipes
@pytest.mark.parametrize("recipe_name", list_recipes())
@pytest.mark.parametrize("app", list(APPLICATIONS))
def test_every_builtin_recipe_on_applications(app, recipe_name):
    check(app, recipe_name)
