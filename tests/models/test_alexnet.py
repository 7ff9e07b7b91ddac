"""AlexNet: the exact 227-px geometry, the scaled geometry, and the recipe on every layer."""

import keras
import numpy as np
import pytest

from keras_recipes.errors import ConfigError
from keras_recipes.models import alexnet, feature_map_sizes
from keras_recipes.recipes import get_recipe

ORIGINAL_SHAPES = {
    "conv1": (None, 55, 55, 96),
    "pool1": (None, 27, 27, 96),
    "conv2": (None, 27, 27, 256),
    "pool2": (None, 13, 13, 256),
    "conv3": (None, 13, 13, 384),
    "conv4": (None, 13, 13, 384),
    "conv5": (None, 13, 13, 256),
    "pool5": (None, 6, 6, 256),
    "flatten": (None, 9216),
    "fc6": (None, 4096),
    "fc6_dropout": (None, 4096),
    "fc7": (None, 4096),
    "fc7_dropout": (None, 4096),
    "fc8": (None, 2),
    "softmax": (None, 2),
}


@pytest.fixture(scope="module")
def original():
    return alexnet(get_recipe("alexnet2012"))


def test_original_geometry_layer_by_layer(original):
    shapes = {layer.name: tuple(layer.output.shape) for layer in original.layers}
    for name, shape in ORIGINAL_SHAPES.items():
        assert shapes[name] == shape, name


def test_original_parameter_count(original):
    conv = [(11, 3, 96), (5, 96, 256), (3, 256, 384), (3, 384, 384), (3, 384, 256)]
    dense = [(9216, 4096), (4096, 4096), (4096, 2)]
    expected = sum(k * k * cin * cout + cout for k, cin, cout in conv)
    expected += sum(i * o + o for i, o in dense)
    assert original.count_params() == expected == 58_289_538


def test_original_init_table(original):
    biases = {
        "conv1": 0.0,
        "conv2": 0.1,
        "conv3": 0.0,
        "conv4": 0.1,
        "conv5": 0.1,
        "fc6": 0.1,
        "fc7": 0.1,
        "fc8": 0.0,
    }
    for name, bias in biases.items():
        np.testing.assert_array_equal(original.get_layer(name).bias.numpy(), np.float32(bias))
    stds = {"conv1": 0.01, "conv2": 0.01, "conv5": 0.01, "fc6": 0.005, "fc7": 0.005}
    for name, std in stds.items():
        kernel = original.get_layer(name).kernel.numpy()
        assert abs(kernel.std() - std) < 0.05 * std, name
        assert abs(kernel.mean()) < 0.05 * std, name


def test_second_dropout_is_applied(original):
    # The original fed fc8 from fc7's pre-dropout output; here fc8 reads the dropout.
    fc8 = original.get_layer("fc8")
    assert fc8.input is original.get_layer("fc7_dropout").output


def test_l2_decay_covers_every_trainable_variable(original):
    wd = 5e-4
    expected = (
        wd
        * sum(
            float(np.sum(v.numpy().astype(np.float64) ** 2)) for v in original.trainable_variables
        )
        / 2
    )
    total = float(sum(float(loss) for loss in original.losses))
    assert len(original.losses) == len(original.trainable_variables) == 16
    assert total == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(
    "size, pools",
    [
        (32, [30, 14, 6, 2]),
        (64, [30, 14, 6, 2]),
        (96, [46, 22, 10, 4]),
        (128, [62, 30, 14, 6]),
        (227, [55, 27, 13, 6]),
    ],
)
def test_scaled_geometry(size, pools):
    assert feature_map_sizes(size) == pools
    model = alexnet(get_recipe("relu"), (size, size, 3), width=0.125)
    assert tuple(model.get_layer("pool5").output.shape) == (None, pools[3], pools[3], 32)


def test_width_multiplier_scales_every_layer():
    model = alexnet(get_recipe("relu"), (64, 64, 3), num_classes=3, width=0.25)
    widths = {n: model.get_layer(n).output.shape[-1] for n in ("conv1", "conv2", "conv3", "fc6")}
    assert widths == {"conv1": 24, "conv2": 64, "conv3": 96, "fc6": 1024}
    assert model.output_shape == (None, 3)


def test_too_small_image_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"Image size 8 is too small .* at least \d+ px"):
        alexnet(get_recipe("relu"), (8, 8, 3))


def test_bad_width_is_a_clear_error():
    with pytest.raises(ConfigError, match="Invalid width multiplier 0"):
        alexnet(get_recipe("relu"), (64, 64, 3), width=0)


def test_batch_norm_before_drops_the_bias():
    model = alexnet(get_recipe("bn-before"), (64, 64, 3), width=0.125)
    assert not model.get_layer("conv1").use_bias
    names = [layer.name for layer in model.layers]
    assert names.index("conv1_bn") < names.index("conv1_elu")


def test_batch_norm_after_keeps_the_bias():
    model = alexnet(get_recipe("bn-after"), (64, 64, 3), width=0.125)
    assert model.get_layer("conv1").use_bias
    names = [layer.name for layer in model.layers]
    assert names.index("conv1_elu") < names.index("conv1_bn")
    assert model.get_layer("conv1_bn").momentum == 0.9


def test_selu_recipe_uses_lecun_init_and_alpha_dropout():
    model = alexnet(get_recipe("selu"), (64, 64, 3), width=0.125)
    assert isinstance(model.get_layer("fc6_dropout"), keras.layers.AlphaDropout)
    init = model.get_layer("conv2").kernel_initializer
    assert isinstance(init, keras.initializers.LecunNormal)
    assert model.get_layer("conv2_selu").activation.__name__ == "selu"


@pytest.mark.parametrize(
    "recipe, layer_name, layer_type",
    [
        ("leaky-relu", "conv1_leaky_relu", keras.layers.LeakyReLU),
        ("prelu", "conv1_prelu", keras.layers.PReLU),
        ("elu", "conv1_elu", keras.layers.ELU),
    ],
)
def test_activation_layers(recipe, layer_name, layer_type):
    model = alexnet(get_recipe(recipe), (64, 64, 3), width=0.125)
    assert isinstance(model.get_layer(layer_name), layer_type)


def test_prelu_shares_its_slope_over_space():
    model = alexnet(get_recipe("prelu"), (64, 64, 3), width=0.125)
    assert tuple(model.get_layer("conv1_prelu").alpha.shape) == (1, 1, 12)


def test_mc_dropout_stays_on_at_inference():
    recipe = get_recipe("relu").with_overrides(["regularization.dropout_kind=mc"])
    model = alexnet(recipe, (32, 32, 3), width=0.125)
    x = np.random.default_rng(0).random((4, 32, 32, 3)).astype("float32")
    assert not np.allclose(model(x, training=False), model(x, training=False))


def test_max_norm_constraint():
    recipe = get_recipe("relu").with_overrides(["regularization.max_norm=2.0"])
    model = alexnet(recipe, (32, 32, 3), width=0.125)
    assert model.get_layer("fc6").kernel_constraint.max_value == 2.0
    # A conv kernel is bounded filter by filter: those above 2 are scaled to exactly 2.
    constraint = model.get_layer("conv1").kernel_constraint
    kernel = np.random.default_rng(0).standard_normal((3, 3, 3, 8)).astype("float32")
    kernel[..., :4] *= 0.05  # norm about 0.26: left alone
    bounded = np.asarray(constraint(kernel))
    norms = np.linalg.norm(bounded.reshape(-1, 8), axis=0)
    np.testing.assert_allclose(norms[4:], 2.0, rtol=1e-5)
    np.testing.assert_allclose(bounded[..., :4], kernel[..., :4], rtol=1e-5)


def test_model_saves_and_loads(tmp_path):
    recipe = get_recipe("relu").with_overrides(
        ["activation.name=rrelu", "regularization.dropout_kind=mc"]
    )
    model = alexnet(recipe, (32, 32, 3), width=0.125)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    for a, b in zip(model.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def dropout_masks(model, name):
    """What the layer does to a batch of ones in training: its mask (AlphaDropout's too)."""
    layer = model.get_layer(name)
    return np.asarray(layer(np.ones((8, 64), "float32"), training=True))


@pytest.mark.parametrize("kind", ["dropout", "alpha", "mc"])
def test_dropout_masks_follow_the_seed(kind):
    recipe = get_recipe("relu").with_overrides([f"regularization.dropout_kind={kind}"])

    def build(seed):
        return alexnet(recipe, (32, 32, 3), width=0.125, seed=seed)

    # Each layer's first mask, drawn once (a second draw would advance its generator).
    first, again, other = (build(seed) for seed in (1, 1, 2))
    mask = dropout_masks(first, "fc6_dropout")
    np.testing.assert_array_equal(mask, dropout_masks(again, "fc6_dropout"))
    assert not np.array_equal(mask, dropout_masks(other, "fc6_dropout"))
    # fc6's and fc7's dropout draw from different streams.
    assert not np.array_equal(mask, dropout_masks(first, "fc7_dropout"))


def test_rrelu_slopes_follow_the_seed():
    recipe = get_recipe("relu").with_overrides(["activation.name=rrelu"])
    x = -np.ones((4, 64), "float32")

    def slopes(seed):
        layer = alexnet(recipe, (32, 32, 3), width=0.125, seed=seed).get_layer("fc6_rrelu")
        return np.asarray(layer(x, training=True))

    np.testing.assert_array_equal(slopes(1), slopes(1))
    assert not np.array_equal(slopes(1), slopes(2))


def kernel_std(model, name):
    return float(np.std(model.get_layer(name).kernel.numpy()))


def fans(model, name):
    kernel = model.get_layer(name).kernel.shape
    receptive = int(np.prod(kernel[:-2]))
    return receptive * kernel[-2], receptive * kernel[-1]


def test_recipe_init_goes_to_the_hidden_layers_and_glorot_to_the_classifier():
    # Init by activation: SELU's hidden layers LeCun normal (var 1 / fan_in), the softmax
    # classifier Glorot (var 2 / (fan_in + fan_out)), measured on the drawn weights.
    model = alexnet(get_recipe("selu"), (32, 32, 3), width=0.125, seed=0)
    for name in ("conv2", "conv3", "conv4", "conv5", "fc6", "fc7"):
        fan_in, _ = fans(model, name)
        assert kernel_std(model, name) == pytest.approx(fan_in**-0.5, rel=0.1), name
    fan_in, fan_out = fans(model, "fc8")
    glorot, lecun = (2 / (fan_in + fan_out)) ** 0.5, fan_in**-0.5
    assert kernel_std(model, "fc8") == pytest.approx(glorot, rel=0.1)
    assert abs(kernel_std(model, "fc8") - lecun) > 0.2 * lecun


def test_the_original_table_sets_the_classifier_too(original):
    assert kernel_std(original, "fc8") == pytest.approx(0.01, rel=0.05)
