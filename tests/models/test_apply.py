"""apply_recipe on hand-built models: the effect on the weights, activations, batch norm,
decay and dropout, the same layers as the toolkit's own MLP, and every refusal by name."""

import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_recipes
from keras_recipes.errors import ConfigError
from keras_recipes.models import (
    MCAverage,
    MCDropout,
    MCRepeat,
    apply_recipe,
    mlp,
    prediction_passes,
)
from keras_recipes.recipes import get_recipe, list_recipes

L = keras.layers
RECIPES = [name for name in list_recipes() if name != "alexnet2012"]


def dense_net(units=256, dropout=0.5, name="mine"):
    return keras.Sequential(
        [
            keras.Input((units,)),
            L.Dense(units, activation="relu", name="h1"),
            L.Dense(units, activation="relu", name="h2"),
            L.Dropout(dropout, name="drop"),
            L.Dense(3, activation="softmax", name="out"),
        ],
        name=name,
    )


def conv_net(*middle, use_bias=True):
    """Input -> conv -> middle layers -> pool -> softmax classifier."""
    inputs = keras.Input((8, 8, 3))
    x = L.Conv2D(4, 3, padding="same", use_bias=use_bias, name="conv")(inputs)
    for layer in middle:
        x = layer(x)
    x = L.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, L.Dense(2, activation="softmax", name="out")(x), name="convnet")


def residual_net():
    inputs = keras.Input((8, 8, 4))
    x = L.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inputs)
    x = L.Add(name="skip")([inputs, x])
    x = L.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, L.Dense(2, activation="softmax", name="out")(x))


def names(model):
    return [layer.name for layer in model.layers[1:]]


def kernel_std(model, name):
    return float(np.std(model.get_layer(name).kernel.numpy()))


# -- the same layers as the toolkit's own models ------------------------------------------


def signature(model):
    """Every layer's type and config, names and dtypes aside, in order."""
    rows = []
    for layer in model.layers[1:]:
        config = {k: v for k, v in layer.get_config().items() if k not in ("name", "dtype")}
        rows.append((type(layer).__name__, config))
    return rows


@pytest.mark.parametrize("recipe_name", RECIPES)
def test_a_plain_stack_gets_the_layers_of_the_toolkit_mlp(recipe_name):
    # The user's own version of mlp(recipe, (8,), hidden_units=(16, 16)).
    mine = keras.Sequential(
        [
            keras.Input((8,)),
            L.Flatten(),
            L.Dense(16, activation="relu"),
            L.Dense(16, activation="tanh"),
            L.Dropout(0.3),
            L.Dense(2),
            L.Activation("softmax"),
        ]
    )
    recipe = get_recipe(recipe_name)
    assert signature(apply_recipe(mine, recipe)) == signature(
        mlp(recipe, (8,), hidden_units=(16, 16))
    )


# -- weights ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "recipe_name, variance",
    [("selu", 1.0), ("relu", 2.0)],  # LeCun 1/fan_in, He 2/fan_in
)
def test_drawn_weights_follow_the_recipe_init_and_glorot_at_the_output(recipe_name, variance):
    model = apply_recipe(dense_net(), recipe_name)
    for name in ("h1", "h2"):
        assert kernel_std(model, name) == pytest.approx((variance / 256) ** 0.5, rel=0.05)
    # Glorot uniform for the softmax: var 2 / (fan_in + fan_out).
    assert kernel_std(model, "out") == pytest.approx((2 / (256 + 3)) ** 0.5, rel=0.1)


def test_weights_are_fresh_and_the_users_model_is_left_as_it_was():
    mine = dense_net(units=16)
    before = [w.numpy().copy() for w in mine.weights]
    config = mine.get_config()
    model = apply_recipe(mine, "elu")
    assert mine.get_config() == config
    for old, now in zip(before, mine.weights, strict=True):
        np.testing.assert_array_equal(old, now.numpy())
    assert not {id(v) for v in model.weights} & {id(v) for v in mine.weights}
    assert not np.allclose(model.get_layer("h1").kernel.numpy(), before[0])


def test_l2_decay_covers_every_trainable_variable_as_the_recipe_defines_it():
    model = apply_recipe(conv_net(L.ReLU(name="relu")), "default")
    variables = model.trainable_variables
    assert len(model.losses) == len(variables) == 5  # conv kernel, BN gamma/beta, out kernel/bias
    squares = sum(float(np.sum(v.numpy().astype("float64") ** 2)) for v in variables)
    assert float(sum(model.losses)) == pytest.approx(5e-4 * squares / 2, rel=1e-5)


def test_decoupled_decay_adds_no_loss_term():
    recipe = get_recipe("elu").replace(regularization={"weight_decay_mode": "decoupled"})
    model = apply_recipe(dense_net(units=8), recipe)
    assert model.losses == []


def test_max_norm_holds_after_a_step():
    recipe = get_recipe("relu").replace(regularization={"max_norm": 0.5, "weight_decay": 0.0})
    model = apply_recipe(dense_net(units=8), recipe)
    model.compile(keras.optimizers.SGD(100.0), "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).standard_normal((16, 8)).astype("float32")
    model.train_on_batch(x, np.arange(16) % 3)
    for name in ("h1", "h2", "out"):
        norms = np.linalg.norm(model.get_layer(name).kernel.numpy(), axis=0)
        assert norms.max() <= 0.5 + 1e-5, name


def test_max_norm_bounds_each_unit_of_every_kind_of_kernel():
    # A unit's incoming weights: a whole filter of a conv, one channel's (and multiplier's)
    # window of a depthwise conv, a Dense column. Keras's default axis 0 would bound only
    # slices of a conv filter, which then grows past the bound as a whole.
    inputs = keras.Input((8, 8, 3))
    x = L.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", name="depthwise")(x)
    x = L.SeparableConv2D(4, 3, padding="same", name="separable")(x)
    x = L.Conv2DTranspose(4, 3, padding="same", name="transpose")(x)
    x = L.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, L.Dense(3, activation="softmax", name="out")(x))
    recipe = get_recipe("relu").replace(regularization={"max_norm": 0.5, "weight_decay": 0.0})
    model = apply_recipe(model, recipe)
    model.compile(keras.optimizers.SGD(1000.0), "sparse_categorical_crossentropy")
    images = np.random.default_rng(0).standard_normal((16, 8, 8, 3)).astype("float32")
    model.train_on_batch(images, np.arange(16) % 3)
    kernels = {
        "conv": (model.get_layer("conv").kernel, (0, 1, 2)),
        "depthwise": (model.get_layer("depthwise").kernel, (0, 1)),
        "separable depthwise": (model.get_layer("separable").depthwise_kernel, (0, 1)),
        "separable pointwise": (model.get_layer("separable").pointwise_kernel, (0, 1, 2)),
        "transpose": (model.get_layer("transpose").kernel, (0, 1, 3)),
        "out": (model.get_layer("out").kernel, (0,)),
    }
    for name, (kernel, axes) in kernels.items():
        norms = np.sqrt(np.sum(np.square(kernel.numpy()), axis=axes))
        assert norms.max() <= 0.5 + 1e-5, name
        assert norms.max() == pytest.approx(0.5, abs=1e-5), name  # the step hit the bound


def test_each_output_keeps_its_activation_and_takes_the_init_it_asks_for():
    inputs = keras.Input((16,))
    x = L.Dense(16, activation="tanh", name="hidden")(inputs)
    label = L.Dense(3, activation="softmax", name="label")(x)
    count = L.Dense(1, activation="relu", name="count")(x)  # a ReLU output: He init
    model = apply_recipe(keras.Model(inputs, {"label": label, "count": count}), "selu")
    layer = model.get_layer
    assert type(layer("hidden").kernel_initializer) is keras.initializers.LecunNormal
    assert type(layer("label").kernel_initializer) is keras.initializers.GlorotUniform
    assert type(layer("count").kernel_initializer) is keras.initializers.HeNormal
    assert [layer(n).activation.__name__ for n in ("label", "count")] == ["softmax", "relu"]
    assert isinstance(model.output, dict)


# -- activations --------------------------------------------------------------------------


def test_hidden_activations_really_change_and_the_output_keeps_its_own():
    model = apply_recipe(dense_net(units=8), "leaky-relu")
    slope = model.get_layer("h1_leaky_relu")(np.array([[-1.0, 2.0]], "float32"))
    np.testing.assert_allclose(np.asarray(slope), [[-0.3, 2.0]], rtol=1e-6)
    x = np.random.default_rng(0).standard_normal((32, 8)).astype("float32")
    hidden = keras.Model(model.input, model.get_layer("h2_leaky_relu").output)
    assert np.asarray(hidden(x)).min() < 0  # a ReLU never gives a negative value
    np.testing.assert_allclose(np.asarray(model(x)).sum(axis=1), 1.0, rtol=1e-5)  # softmax


def test_activation_layers_are_replaced_in_place():
    model = apply_recipe(conv_net(L.ReLU(max_value=6.0, name="relu6")), "elu")
    assert isinstance(model.get_layer("relu6"), L.ELU)
    out = model.get_layer("relu6")(np.array([-1.0, 10.0], "float32"))
    np.testing.assert_allclose(np.asarray(out), [np.exp(-1) - 1, 10.0], rtol=1e-6)  # not clipped


def test_gates_and_a_hidden_softmax_are_kept():
    inputs = keras.Input((4, 4, 8))
    squeeze = L.GlobalAveragePooling2D(keepdims=True, name="squeeze")(inputs)
    squeeze = L.Conv2D(2, 1, activation="relu", name="reduce")(squeeze)
    gate = L.Conv2D(8, 1, activation="sigmoid", name="gate")(squeeze)
    x = L.Multiply(name="excite")([inputs, gate])
    x = L.Softmax(name="attention")(x)
    x = L.GlobalAveragePooling2D(name="pool")(x)
    outputs = L.Dense(2, activation="softmax", name="out")(x)
    model, report = apply_recipe(keras.Model(inputs, outputs), "elu", report=True)
    assert model.get_layer("gate").activation.__name__ == "sigmoid"
    assert model.get_layer("reduce").activation.__name__ == "linear"
    assert isinstance(model.get_layer("reduce_elu"), L.ELU)
    assert isinstance(model.get_layer("attention"), L.Softmax)
    assert report.changes("attention") == ["kept: softmax gates or normalises"]


# -- batch norm ---------------------------------------------------------------------------


def bn_layers(model):
    return [layer for layer in model.layers if isinstance(layer, L.BatchNormalization)]


def test_batch_norm_before_is_inserted_and_takes_the_bias():
    model = apply_recipe(conv_net(L.Activation("relu", name="act")), "default")
    assert names(model)[:3] == ["conv", "conv_bn", "act"]
    assert [v.name for v in model.get_layer("conv").weights] == ["kernel"]
    assert model.get_layer("conv_bn").momentum == 0.9
    # In training, BN standardises the conv's output per channel.
    x = np.random.default_rng(0).standard_normal((16, 8, 8, 3)).astype("float32") * 5 + 3
    bn_out = keras.Model(model.input, model.get_layer("conv_bn").output)(x, training=True)
    np.testing.assert_allclose(np.asarray(bn_out).mean(axis=(0, 1, 2)), 0.0, atol=1e-4)


def test_batch_norm_after_follows_the_activation_and_the_bias_stays():
    model = apply_recipe(conv_net(L.Activation("relu", name="act")), "bn-after")
    assert names(model)[:3] == ["conv", "act", "conv_bn"]
    assert model.get_layer("conv").use_bias


def test_an_existing_batch_norm_is_kept_with_the_recipe_momentum():
    mine = conv_net(L.BatchNormalization(epsilon=0.01, name="bn"), L.ReLU(name="relu"))
    model = apply_recipe(mine, "default")
    assert [layer.name for layer in bn_layers(model)] == ["bn"]
    assert (model.get_layer("bn").momentum, model.get_layer("bn").epsilon) == (0.9, 0.01)
    assert not model.get_layer("conv").use_bias
    assert isinstance(model.get_layer("relu"), L.ELU)


def test_a_batch_norm_after_the_activation_is_not_doubled():
    mine = conv_net(L.ReLU(name="relu"), L.BatchNormalization(name="bn"))
    model = apply_recipe(mine, "default")
    assert [layer.name for layer in bn_layers(model)] == ["bn"]
    assert model.get_layer("conv").use_bias  # BN after the activation: the bias stays


def test_batch_norm_is_removed_when_the_recipe_has_none():
    mine = conv_net(L.BatchNormalization(name="bn"), L.ReLU(name="relu"), use_bias=False)
    model, report = apply_recipe(mine, "relu", report=True)
    assert bn_layers(model) == []
    assert model.get_layer("conv").use_bias
    assert report.changes("bn") == ["removed: not in the recipe"]


# -- dropout ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, kind, rate",
    [
        ({"dropout_kind": "alpha", "dropout_rate": 0.1}, L.AlphaDropout, 0.1),
        ({"dropout_kind": "mc", "mc_passes": 1}, MCDropout, 0.5),
        ({"dropout_rate": 0.0}, L.Dropout, 0.2),  # no rate in the recipe: the model's
    ],
)
def test_dropout_takes_the_recipe_kind_and_rate(overrides, kind, rate):
    recipe = get_recipe("relu").replace(regularization=overrides)
    layer = apply_recipe(dense_net(units=8, dropout=0.2), recipe).get_layer("drop")
    assert type(layer) is kind
    assert layer.rate == rate


def test_mc_dropout_averages_its_passes_from_the_first_dropout():
    recipe = get_recipe("relu").replace(regularization={"dropout_kind": "mc", "mc_passes": 4})
    model = apply_recipe(dense_net(units=8), recipe)
    assert names(model) == [
        "h1",
        "h1_relu",
        "h2",
        "h2_relu",
        "mc_repeat",
        "drop",
        "out",
        "mc_average",
    ]
    assert prediction_passes(model) == 4
    x = np.random.default_rng(0).standard_normal((3, 8)).astype("float32")
    assert not np.allclose(model(x, training=False), model(x, training=False))


def test_mc_dropout_needs_one_chain_to_the_output():
    inputs = keras.Input((8,))
    x = L.Dropout(0.5, name="drop")(L.Dense(8, activation="relu")(inputs))
    outputs = L.Dense(2, activation="softmax", name="out")(L.Concatenate()([x, inputs]))
    recipe = get_recipe("relu").replace(regularization={"dropout_kind": "mc"})
    with pytest.raises(ConfigError, match=r"first dropout layer \('drop'\).*mc_passes=1"):
        apply_recipe(keras.Model(inputs, outputs), recipe)


def test_dropout_masks_follow_the_seed():
    def mask(seed):
        layer = apply_recipe(dense_net(units=8), "relu", seed=seed).get_layer("drop")
        return np.asarray(layer(np.ones((4, 64), "float32"), training=True))

    np.testing.assert_array_equal(mask(1), mask(1))
    assert not np.array_equal(mask(1), mask(2))


# -- SELU's conditions, checked on the graph -------------------------------------------------


def test_selu_applies_to_a_plain_stack_and_turns_dropout_into_alpha_dropout():
    model = apply_recipe(dense_net(units=8), "selu")
    assert model.get_layer("h1_selu").activation.__name__ == "selu"
    assert type(model.get_layer("drop")) is L.AlphaDropout


@pytest.mark.parametrize(
    "make, message",
    [
        (residual_net, r"layers 'skip' merge branches \(skip connections"),
        (
            lambda: conv_net(L.BatchNormalization(name="bn"), L.ReLU()),
            r"layers 'bn' are batch norm \(SELU needs none",
        ),
        (
            lambda: conv_net(L.ReLU(), L.SpatialDropout2D(0.2, name="spatial")),
            r"layers 'spatial' are dropout other than AlphaDropout",
        ),
    ],
)
def test_selu_names_the_layer_and_the_broken_condition(make, message):
    with pytest.raises(ConfigError, match=r"Recipe 'selu' uses SELU.*" + message):
        apply_recipe(make(), "selu")


def test_selu_refuses_frozen_weights_it_cannot_initialise():
    norm = L.LayerNormalization(name="frozen_norm")
    norm.trainable = False
    with pytest.raises(ConfigError, match=r"'frozen_norm' keep their own frozen weights"):
        apply_recipe(conv_net(L.ReLU(), norm), "selu")


# -- refusals -----------------------------------------------------------------------------


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__(name="subclassed")
        self.dense = L.Dense(2)

    def call(self, x):
        return self.dense(x)


def test_a_subclassed_model_is_refused():
    with pytest.raises(ConfigError, match=r"'subclassed' \(Subclassed\) is not a Sequential.*"):
        apply_recipe(Subclassed(), "elu")


def test_a_nested_model_is_refused():
    inner = keras.Sequential([keras.Input((4,)), L.Dense(4)], name="backbone")
    inputs = keras.Input((4,))
    outer = keras.Model(inputs, L.Dense(2, name="out")(inner(inputs)))
    with pytest.raises(ConfigError, match=r"Layer 'backbone' is a nested model"):
        apply_recipe(outer, "elu")


def test_a_shared_layer_is_refused():
    shared = L.Dense(4, activation="relu", name="shared")
    inputs = keras.Input((4,))
    outputs = L.Dense(2, name="out")(shared(shared(inputs)))
    with pytest.raises(ConfigError, match=r"Layer 'shared' .* is shared: it is called 2 times"):
        apply_recipe(keras.Model(inputs, outputs), "elu")


def test_a_layer_with_weights_the_recipe_does_not_cover_is_refused():
    inputs = keras.Input((5,), dtype="int32")
    x = L.Embedding(10, 4, name="embed")(inputs)
    outputs = L.Dense(2, name="out")(L.Flatten()(x))
    with pytest.raises(ConfigError, match=r"Layer 'embed' \(Embedding\) has trainable weights"):
        apply_recipe(keras.Model(inputs, outputs), "elu")


def test_an_unbuilt_sequential_is_refused():
    with pytest.raises(ConfigError, match=r"has no input shape yet: start it with keras.Input"):
        apply_recipe(keras.Sequential([L.Dense(2)]), "elu")


def test_the_alexnet_table_is_refused_for_other_models():
    with pytest.raises(ConfigError, match=r"no entry for layer 'h1' of model 'mine'"):
        apply_recipe(dense_net(units=8), "alexnet2012")


def test_bad_recipes_are_clear_errors():
    with pytest.raises(ConfigError, match=r"Unknown recipe 'defualt'.*Did you mean 'default'"):
        apply_recipe(dense_net(units=8), "defualt")
    with pytest.raises(ConfigError, match=r"Invalid recipe 3 \(int\); expected a Recipe"):
        apply_recipe(dense_net(units=8), 3)


# -- the rest -----------------------------------------------------------------------------


def test_a_recipe_from_a_toml_file(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('[activation]\nname = "elu"\n[normalization]\nkind = "none"\n')
    model = apply_recipe(dense_net(units=8), path)
    assert isinstance(model.get_layer("h1_elu"), L.ELU)


def test_preprocessing_state_is_copied():
    norm = L.Normalization(name="norm")
    norm.adapt(np.arange(12, dtype="float32").reshape(6, 2))
    inputs = keras.Input((2,))
    mine = keras.Model(inputs, L.Dense(2, name="out")(norm(inputs)))
    model = apply_recipe(mine, "elu")
    x = np.array([[5.0, 6.0], [0.0, 1.0]], "float32")
    normalized = keras.Model(model.input, model.get_layer("norm").output)(x)
    np.testing.assert_allclose(np.asarray(normalized), np.asarray(norm(x)), rtol=1e-6)
    assert np.asarray(normalized)[0].tolist() == [0.0, 0.0]  # the adapted mean, not 0


def test_the_report_lists_what_changed_per_layer():
    model, report = apply_recipe(dense_net(units=8), "default", report=True)
    assert report.changes("h1") == [
        "hidden: init he_normal, no bias (batch norm follows), L2 0.00025"
    ]
    assert report.changes("h1_elu") == ["activation relu -> elu (moved out of h1)"]
    assert report.changes("out") == ["output (softmax): init glorot_uniform, bias, L2 0.00025"]
    assert report.changes("drop") == ["Dropout(0.5) -> Dropout(0.5)"]
    text = str(report)
    assert text.splitlines()[0] == "Recipe 'default' applied to model 'mine': 8 rows"
    assert {row.layer for row in report.rows} <= set(names(model))


def test_exported_lazily_from_the_package():
    assert keras_recipes.apply_recipe is apply_recipe
    code = "import sys, keras_recipes; print('keras' in sys.modules, 'tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    with pytest.raises(AttributeError, match="has no attribute 'apply_recipes'"):
        keras_recipes.apply_recipes  # noqa: B018


def test_mc_layers_of_a_toolkit_model_are_replaced_not_doubled():
    recipe = get_recipe("relu").replace(regularization={"dropout_kind": "mc", "mc_passes": 3})
    model = apply_recipe(mlp(recipe, (8,), hidden_units=(8,)), recipe)
    assert [type(layer) for layer in model.layers].count(MCRepeat) == 1
    assert [type(layer) for layer in model.layers].count(MCAverage) == 1
    assert prediction_passes(model) == 3
