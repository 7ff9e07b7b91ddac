"""train(model=...): your own model with the recipe applied, on images or on data that are
not images (arrays, a tf.data pair), with the run folder, resume and the tuning objective."""

import json

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from keras_recipes.errors import ConfigError, DataError
from keras_recipes.recipes import get_recipe
from keras_recipes.training import TrainSetup, train
from keras_recipes.training.fit import TrainingInterrupted
from keras_recipes.training.user_model import resolve_model
from keras_recipes.tuning.bo.objective import TrainObjective

EPOCHS = 3


def tabular(n=120, features=20, seed=0):
    """Two standardised classes with 20 features."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    return x, y


def mlp(input_shape, num_classes):
    inputs = keras.Input(input_shape)
    x = keras.layers.Dense(16, activation="relu", name="fc1")(inputs)
    x = keras.layers.Dense(16, activation="relu", name="fc2")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="out")(x)
    return keras.Model(inputs, outputs, name="mlp")


def selu(epochs=EPOCHS):
    overrides = [f"training.epochs={epochs}", "training.batch_size=16"]
    return get_recipe("selu").with_overrides(overrides)


class StopAfter(keras.callbacks.Callback):
    """Ctrl-C at the end of epoch `epoch` (1-based), after the checkpoint was written."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            raise KeyboardInterrupt


def test_a_tabular_mlp_trains_with_selu_and_writes_its_run_folder(tmp_path):
    full = train(selu(1), tabular(), model=mlp, run_dir=tmp_path, verbose=0, tensorboard=False)
    assert full.summary["data"]["layout"] == "arrays (not images)"
    assert full.summary["data"]["num_train"] == 84 and "test_accuracy" in full.summary
    assert full.model.get_layer("fc1_selu") is not None  # the recipe was applied
    for name in ("history.csv", "summary.json", "recipe.toml", "model.keras"):
        assert (tmp_path / name).exists()


@pytest.mark.slow  # three runs: 9 s on 2 busy cores
def test_a_tabular_run_cut_after_epoch_1_resumes_exactly(tmp_path):
    data, quiet = tabular(), {"verbose": 0, "tensorboard": False, "save_model": False}
    full = train(selu(), data, model=mlp, run_dir=tmp_path / "full", **quiet)
    run = tmp_path / "cut"
    with pytest.raises(TrainingInterrupted):
        train(selu(), data, model=mlp, run_dir=run, callbacks=[StopAfter(1)], **quiet)
    train(selu(), data, model=mlp, run_dir=run, resume=True, **quiet)
    resumed = pd.read_csv(run / "history.csv")
    assert json.loads((run / "summary.json").read_text())["resumed_at_epoch"] == 1
    pd.testing.assert_frame_equal(resumed, full.history.astype(resumed.dtypes.to_dict()))


def test_a_keras_model_gets_the_recipe_and_is_left_as_it_was():
    mine = mlp((20,), 2)
    before = [w.copy() for w in mine.get_weights()]
    result = train(selu(1), tabular(), model=mine, verbose=0)
    assert result.model is not mine
    assert [layer.name for layer in mine.layers[1:]] == ["fc1", "fc2", "out"]
    assert all(np.array_equal(a, b) for a, b in zip(before, mine.get_weights(), strict=True))
    assert "fc1_selu" in [layer.name for layer in result.model.layers]


def test_train_objective_runs_one_trial_on_tabular_data():
    objective = TrainObjective(selu(1), tabular(), model=mlp)
    outcome = objective({"log10_learning_rate": -2.0, "log10_weight_decay": -4.0})
    assert outcome.status == "completed" and 0 <= outcome.score <= 1


def test_a_tf_data_pair_trains_as_given():
    x, y = tabular()
    train_ds = tf.data.Dataset.from_tensor_slices((x[:96], y[:96])).shuffle(96, seed=0)
    val_ds = tf.data.Dataset.from_tensor_slices((x[96:], y[96:])).batch(12)
    result = train(selu(2), (train_ds.batch(32), val_ds), model=mlp, verbose=0)
    assert result.summary["data"]["steps_per_epoch"] == 3
    assert len(result.history) == 2 and "test_accuracy" not in result.summary


def test_data_that_are_not_images_need_a_model():
    with pytest.raises(ConfigError, match=r"not images \(x of shape \(120, 20\)\).*model="):
        train(selu(1), tabular(), verbose=0)


def test_the_model_input_must_match_the_data():
    with pytest.raises(ConfigError, match=r"takes inputs of shape \(8,\), but the data's are"):
        train(selu(1), tabular(), model=mlp((8,), 2), verbose=0)


def test_a_function_that_returns_no_model_is_named():
    def build(input_shape, num_classes):
        return [input_shape, num_classes]

    with pytest.raises(ConfigError, match=r"Model function .*build returned list \(\[\(20,\), 2\]"):
        train(selu(1), tabular(), model=build, verbose=0)


def test_a_subclassed_model_and_selu_on_a_residual_model_are_refused():
    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2, activation="softmax")

        def call(self, x):
            return self.dense(x)

    with pytest.raises(ConfigError, match=r"is not a Sequential or Functional Keras model"):
        train(selu(1), tabular(), model=lambda shape, n: Sub(), verbose=0)

    def residual(input_shape, num_classes):
        inputs = keras.Input(input_shape)
        x = keras.layers.Dense(20, activation="relu")(inputs)
        x = keras.layers.Add(name="skip")([inputs, x])
        return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))

    with pytest.raises(ConfigError, match=r"uses SELU.*'skip' merge branches"):
        train(selu(1), tabular(), model=residual, verbose=0)


def test_bad_labels_are_a_data_error():
    x, _ = tabular()
    with pytest.raises(DataError, match=r"Labels y must be integers 0..K-1"):
        train(selu(1), (x, np.full(len(x), 0.5)), model=mlp, verbose=0)


def test_model_and_model_builder_together_are_an_error():
    with pytest.raises(ConfigError, match="not both"):
        train(selu(1), tabular(), model=mlp, model_builder=lambda r, s, n: None, verbose=0)


# -- the spec: MODULE:FUNCTION or path/to/file.py:FUNCTION --------------------------------------


def test_specs_resolve_from_a_file_and_a_module(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text("def build(input_shape, num_classes):\n    return None\nVALUE = 3\n")
    assert resolve_model(f"{path}:build").__name__ == "build"
    assert resolve_model("keras_recipes.models.mlp:mlp").__name__ == "mlp"


@pytest.mark.parametrize(
    ("source", "name", "message"),
    [
        (None, "build", r"no file .*missing\.py \(relative paths are read from"),
        ("import no_such_package_q\n", "build", r"cannot import file .*ModuleNotFoundError"),
        ("def build(a, b):\n    pass\n", "buld", r"has no function 'buld'; its callables: build"),
        ("VALUE = 3\n", "VALUE", r"is a int, not a function"),
    ],
)
def test_bad_specs_are_clear_errors(tmp_path, source, name, message):
    path = tmp_path / "missing.py"
    if source is not None:
        path.write_text(source)
    with pytest.raises(ConfigError, match=message):
        resolve_model(f"{path}:{name}")


def test_a_spec_without_a_function_is_an_error():
    with pytest.raises(ConfigError, match="expected MODULE:FUNCTION"):
        resolve_model("examples/my_model.py")


def test_the_setup_records_the_spec_only_when_set():
    plain = TrainSetup("relu", "demo", image_size=64)
    assert "model" not in plain.to_json()
    mine = plain.replace(model="examples/my_model.py:build")
    assert TrainSetup.from_json(mine.to_json()) == mine
    assert mine.train_kwargs()["model"] == "examples/my_model.py:build"
    assert "model examples/my_model.py:build" in mine.describe()
