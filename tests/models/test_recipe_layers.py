"""RecipeLayers: the layer factory AlexNet, the MLP and apply_recipe build from."""

import dataclasses

import keras
import numpy as np
import pytest

import keras_recipes
from keras_recipes.errors import ConfigError
from keras_recipes.models import RecipeLayers, layer_seed
from keras_recipes.recipes import NormalizationSection, get_recipe

L = keras.layers


def block(recipe_name, **kwargs):
    layers = RecipeLayers(recipe_name, **kwargs)
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, layers.conv_block(inputs, 4, 3, name="conv"))
    return model, [layer.name for layer in model.layers[1:]]


@pytest.mark.parametrize(
    "recipe_name, names, bias",
    [
        ("default", ["conv", "conv_bn", "conv_elu"], False),
        ("bn-after", ["conv", "conv_elu", "conv_bn"], True),
        ("selu", ["conv", "conv_selu"], True),
        ("prelu", ["conv", "conv_prelu"], True),
    ],
)
def test_conv_block_places_batch_norm_as_the_recipe_says(recipe_name, names, bias):
    model, built = block(recipe_name)
    assert built == names
    assert model.get_layer("conv").use_bias is bias


def test_prelu_shares_its_slope_over_space_in_a_conv_block():
    model, _ = block("prelu")
    assert tuple(model.get_layer("conv_prelu").alpha.shape) == (1, 1, 4)


def test_normalization_and_dropout_are_none_where_the_recipe_has_none():
    layers = RecipeLayers(get_recipe("relu").replace(regularization={"dropout_rate": 0.0}))
    assert layers.normalization("bn") is None
    assert layers.dropout("drop") is None
    assert type(layers.dropout("drop", rate=0.2)) is L.Dropout


@pytest.mark.parametrize(
    "activation, initializer",
    [
        ("softmax", keras.initializers.GlorotUniform),
        ("sigmoid", keras.initializers.GlorotUniform),
        (None, keras.initializers.GlorotUniform),
        ("relu", keras.initializers.HeNormal),
        ("selu", keras.initializers.LecunNormal),
    ],
)
def test_the_output_layer_init_follows_its_activation(activation, initializer):
    dense = RecipeLayers("selu").output_dense(3, activation, name="out")
    assert type(dense.kernel_initializer) is initializer
    assert dense.bias_initializer.get_config() == {}  # Zeros


def test_the_alexnet_table_needs_each_layers_entry():
    layers = RecipeLayers("alexnet2012")
    with pytest.raises(ConfigError, match=r"no entry for layer 'fc'.*pass its table_std"):
        layers.dense(4, name="fc")
    dense = layers.dense(4, name="fc", table_std=0.005, table_bias=0.1)
    assert dense.kernel_initializer.stddev == 0.005
    assert dense.bias_initializer.value == 0.1


def test_decay_follows_the_recipe_mode():
    decoupled = get_recipe("elu").replace(regularization={"weight_decay_mode": "decoupled"})
    assert RecipeLayers(decoupled).dense(4).kernel_regularizer is None
    assert RecipeLayers("elu").dense(4).kernel_regularizer.l2 == pytest.approx(2.5e-4)


def test_unnamed_random_layers_get_their_own_streams_from_the_seed():
    def seeds(seed):
        layers = RecipeLayers("relu", seed=seed)
        return [layers.dropout().seed for _ in range(2)]

    first, second = seeds(1)
    assert first != second
    assert seeds(1) == [first, second]
    assert seeds(2) != [first, second]
    assert RecipeLayers("relu", seed=1).dropout("drop").seed == layer_seed(1, "drop")


def test_accepts_a_name_a_toml_path_or_a_validated_recipe(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('[activation]\nname = "leaky_relu"\n')
    assert isinstance(RecipeLayers(path).activation("act"), L.LeakyReLU)
    assert keras_recipes.RecipeLayers is RecipeLayers
    # A Recipe built directly skips from_dict's checks; the factory runs them.
    broken = dataclasses.replace(get_recipe("selu"), normalization=NormalizationSection("batch"))
    with pytest.raises(ConfigError, match=r"breaks its self-normalising conditions"):
        RecipeLayers(broken)


def test_a_block_trains():
    layers = RecipeLayers("default", seed=0)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.GlobalAveragePooling2D()(layers.conv_block(inputs, 4, 3, name="conv"))
    x = layers.dropout("drop")(layers.dense_block(x, 8, name="fc"))
    model = keras.Model(inputs, layers.output_dense(2, "softmax", name="out")(x))
    model.compile("sgd", "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).standard_normal((4, 8, 8, 3)).astype("float32")
    assert np.isfinite(model.train_on_batch(x, np.array([0, 1, 0, 1])))
    assert len(model.losses) == len(model.trainable_variables)
