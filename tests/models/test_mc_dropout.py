"""Monte Carlo dropout: a prediction is the mean of the softmax of T stochastic passes,
for predict, evaluate (fit's validation) and 10-crop TTA alike."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_recipes.data import predict_tta
from keras_recipes.models import MCAverage, MCRepeat, alexnet, mlp, prediction_passes
from keras_recipes.recipes import get_recipe
from keras_recipes.training.run_dir import seed_states

T = 5


def mc_recipe(passes=T, base="relu"):
    return get_recipe(base).with_overrides(
        ["regularization.dropout_kind=mc", f"regularization.mc_passes={passes}"]
    )


def images(n=3, size=32):
    return np.random.default_rng(0).random((n, size, size, 3)).astype("float32")


class Rewind:
    """Puts the dropout generators back where they were, so two calls draw the same masks."""

    def __init__(self, model):
        self.variables = seed_states(model)
        self.saved = [v.numpy() for v in self.variables]

    def __call__(self):
        for variable, value in zip(self.variables, self.saved, strict=True):
            variable.assign(value)


def each_pass(model, x):
    """The T stochastic softmax outputs behind one MC prediction: (T, batch, classes)."""
    passes = keras.Model(model.input, model.get_layer("softmax").output)
    return np.asarray(passes(x, training=False)).reshape(T, len(x), -1)


@pytest.fixture(scope="module")
def model():
    return alexnet(mc_recipe(), (32, 32, 3), width=0.125, seed=0)


def test_prediction_is_the_mean_of_t_independent_stochastic_passes(model):
    x = images()
    rewind = Rewind(model)
    prediction = np.asarray(model(x, training=False))
    rewind()
    passes = each_pass(model, x)
    np.testing.assert_allclose(prediction, passes.mean(axis=0), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(passes.sum(axis=-1), 1.0, rtol=1e-6)  # each pass a softmax
    # Every pass drew its own masks: no two are the same, and none is the average.
    assert len({p.tobytes() for p in passes}) == T
    assert not any(np.allclose(p, prediction) for p in passes)
    assert prediction_passes(model) == T


def test_predict_and_evaluate_average_the_passes_too():
    # evaluate() runs the test step that fit() validates with.
    model = alexnet(mc_recipe(), (32, 32, 3), width=0.125, seed=0)
    x, y = images(4), np.array([0, 1, 1, 0])
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rewind = Rewind(model)
    logs = model.evaluate(x, y, batch_size=4, verbose=0, return_dict=True)
    rewind()
    predicted = model.predict(x, batch_size=4, verbose=0)
    rewind()
    mean = each_pass(model, x).mean(axis=0)
    np.testing.assert_allclose(predicted, mean, rtol=1e-6, atol=1e-7)
    nll = -np.log(mean[np.arange(4), y]).mean()
    decay = float(sum(model.losses))  # the recipe's l2 term is part of Keras's loss
    assert logs["loss"] == pytest.approx(nll + decay, rel=1e-5)
    assert logs["accuracy"] == np.mean(mean.argmax(axis=1) == y)


def test_ten_crop_tta_averages_the_passes_of_every_crop(model):
    full = images(2, size=36)
    rewind = Rewind(model)
    tta = predict_tta(model, tf.data.Dataset.from_tensors(full), 32)
    rewind()
    corners = [(0, 0), (0, 4), (4, 0), (4, 4), (2, 2)]  # the four corners, the centre
    crops = np.stack([full[:, top : top + 32, left : left + 32] for top, left in corners])
    crops = np.concatenate([crops, crops[:, :, :, ::-1]]).reshape(-1, 32, 32, 3)
    per_crop = each_pass(model, crops).mean(axis=0).reshape(10, 2, -1)
    np.testing.assert_allclose(tta, per_crop.mean(axis=0), rtol=1e-5, atol=1e-6)


def test_more_passes_give_a_steadier_prediction():
    # The MC estimate's spread over repeated predictions shrinks like 1 / sqrt(T).
    x = np.random.default_rng(1).standard_normal((8, 6)).astype("float32")

    def spread(passes):
        net = mlp(mc_recipe(passes, "elu"), (6,), hidden_units=(32,), seed=0)
        return np.std([np.asarray(net(x, training=False)) for _ in range(40)], axis=0).mean()

    assert spread(16) < 0.5 * spread(1)


def test_training_steps_take_one_pass(model):
    x = images(2)
    assert model(x, training=True).shape == (2, 2)
    assert np.asarray(MCRepeat(3)(x, training=True)).shape == x.shape
    probabilities = np.full((6, 2), 0.5, "float32")
    assert np.asarray(MCAverage(3)(probabilities, training=True)).shape == (6, 2)


@pytest.mark.parametrize("kind", ["dropout", "alpha"])
def test_other_dropout_kinds_predict_with_one_deterministic_pass(kind):
    recipe = get_recipe("relu").with_overrides([f"regularization.dropout_kind={kind}"])
    model = alexnet(recipe, (32, 32, 3), width=0.125, seed=0)
    x = images()
    assert prediction_passes(model) == 1
    np.testing.assert_array_equal(model(x, training=False), model(x, training=False))


def test_mc_model_saves_and_loads_with_its_passes(model, tmp_path):
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    assert prediction_passes(loaded) == T
    assert loaded.predict(images(), verbose=0).shape == (3, 2)


@pytest.mark.parametrize("passes", [0, 2.5, True])
def test_bad_pass_counts_are_clear_errors(passes):
    with pytest.raises(ValueError, match=r"`passes` must be an int >= 1. Received: passes="):
        MCRepeat(passes)
