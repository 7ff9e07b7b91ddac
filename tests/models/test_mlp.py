"""The MLP builder and the self-normalising property it exists to show."""

import numpy as np
import pytest

from keras_recipes.errors import ConfigError
from keras_recipes.models import RReLU, mlp
from keras_recipes.recipes import get_recipe


def test_selu_mlp_keeps_activations_near_mean_0_std_1():
    recipe = get_recipe("selu").with_overrides(["regularization.dropout_rate=0"])
    model = mlp(recipe, (100,), hidden_units=(100,) * 20)
    x = np.random.default_rng(0).standard_normal((2000, 100)).astype("float32")
    import keras

    last = keras.Model(model.inputs, model.get_layer("dense20_selu").output)
    out = np.asarray(last(x))
    assert abs(out.mean()) < 0.2
    assert 0.8 < out.std() < 1.2


def test_layers_and_output():
    model = mlp(get_recipe("elu"), (4, 4), num_classes=3, hidden_units=(8, 8))
    assert model.output_shape == (None, 3)
    assert model.get_layer("dense2").units == 8


def test_empty_hidden_units_is_an_error():
    with pytest.raises(ConfigError, match="hidden_units must be positive integers"):
        mlp(get_recipe("elu"), (4,), hidden_units=())


def test_rrelu_slope_training_and_inference():
    layer = RReLU(lower=0.1, upper=0.3, seed=0)
    x = -np.ones((1, 1000), "float32")
    np.testing.assert_allclose(np.asarray(layer(x, training=False)), -0.2, rtol=1e-6)
    slopes = -np.asarray(layer(x, training=True))
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3 and slopes.std() > 0.03
    with pytest.raises(ValueError, match="0 <= lower <= upper"):
        RReLU(lower=0.5, upper=0.1)
