"""train(): every recipe trains, the run directory, reproducibility, schedules, divergence."""

import json
import math

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from keras_recipes import cli
from keras_recipes.data import load_data
from keras_recipes.errors import ConfigError
from keras_recipes.models import alexnet
from keras_recipes.recipes import get_recipe, list_recipes
from keras_recipes.training.fit import train

SIZE, WIDTH = 32, 0.0625


@pytest.fixture(scope="module")
def tiny_bundle(tiny_folder):
    """The tiny demo set, decoded once for the module."""
    return load_data(str(tiny_folder), image_size=SIZE, batch_size=16, seed=0)


def tiny(recipe, **training):
    settings = {"epochs": 1, "batch_size": 16, **training}
    return get_recipe(recipe).replace(training=settings)


@pytest.mark.slow
@pytest.mark.parametrize("name", list_recipes())
def test_every_builtin_recipe_trains_one_epoch(name, tiny_bundle):
    result = train(tiny(name), tiny_bundle, image_size=SIZE, width=WIDTH, verbose=0)
    assert result.status == "completed"
    assert len(result.history) == 1
    assert np.isfinite(result.history["loss"]).all()
    assert 0.0 <= result.best_val_accuracy <= 1.0


def test_run_directory_holds_every_artefact(tiny_bundle, tmp_path):
    run_dir = tmp_path / "run"
    recipe = tiny("alexnet2012", epochs=2)
    result = train(recipe, tiny_bundle, image_size=SIZE, width=WIDTH, run_dir=run_dir, verbose=0)
    names = {p.name for p in run_dir.iterdir()}
    expected = {"recipe.toml", "history.csv", "summary.json", "model.keras"}
    assert expected | {"learning_curves.png"} <= names

    history = pd.read_csv(run_dir / "history.csv")
    assert list(history.columns) == [
        "epoch",
        "loss",
        "accuracy",
        "val_loss",
        "val_accuracy",
        "learning_rate",
    ]
    assert history["epoch"].tolist() == [1, 2]

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["best_val_accuracy"] == pytest.approx(history["val_accuracy"].max())
    assert summary["best_epoch"] == int(history["val_accuracy"].idxmax()) + 1
    assert (summary["status"], summary["epochs_run"], summary["epochs_requested"]) == (
        "completed",
        2,
        2,
    )
    assert summary["final_learning_rate"] == pytest.approx(history["learning_rate"].iloc[-1])
    assert (summary["recipe"], summary["seed"], summary["image_size"], summary["width"]) == (
        "alexnet2012",
        0,
        SIZE,
        WIDTH,
    )
    # The parameter count of the network the recipe builds, counted independently.
    built = alexnet(recipe, (SIZE, SIZE, 3), width=WIDTH)
    assert summary["parameters"] == built.count_params() == result.model.count_params()
    # Accuracies are fractions of the test split: whole numbers of images.
    num_test = summary["data"]["num_test"]
    assert num_test == tiny_bundle.num_test > 0
    for key in ("test_accuracy", "test_accuracy_tta"):
        assert 0 <= summary[key] <= 1
        assert summary[key] * num_test == pytest.approx(round(summary[key] * num_test), abs=1e-4)
    assert summary["wall_seconds"] > 0 and summary["train_images_per_second"] > 0
    assert summary["data"]["num_train"] == tiny_bundle.num_train
    assert summary["versions"]["keras"] == keras.__version__
    assert summary["versions"]["numpy"] == np.__version__
    assert set(summary["versions"]) >= {"tensorflow", "keras", "keras_recipes", "numpy"}

    # The run can be replayed from its own recipe.toml.
    assert get_recipe(str(run_dir / "recipe.toml")) == recipe
    model = keras.models.load_model(run_dir / "model.keras", safe_mode=True)
    np.testing.assert_array_equal(model.get_weights()[0], result.model.get_weights()[0])


@pytest.mark.slow
def test_seeded_runs_repeat_exactly(tiny_bundle):
    recipe = tiny("default", epochs=2)
    first = train(recipe, tiny_bundle, image_size=SIZE, width=WIDTH, seed=3, verbose=0)
    second = train(recipe, tiny_bundle, image_size=SIZE, width=WIDTH, seed=3, verbose=0)
    pd.testing.assert_frame_equal(first.history, second.history)
    other = train(recipe, tiny_bundle, image_size=SIZE, width=WIDTH, seed=4, verbose=0)
    assert not np.allclose(first.history["loss"], other.history["loss"])


def test_exponential_schedule_is_honoured(tiny_bundle):
    recipe = tiny("relu", epochs=3).replace(
        optimizer={"learning_rate": 0.01},
        schedule={"name": "exponential", "decay_epochs": 1.0, "decay_rate": 0.5},
    )
    result = train(recipe, tiny_bundle, image_size=SIZE, width=WIDTH, verbose=0)
    # After epoch e the optimizer has taken e * steps steps: lr = 0.01 * 0.5 ** e.
    np.testing.assert_allclose(result.history["learning_rate"], [0.005, 0.0025, 0.00125], rtol=1e-5)


def test_piecewise_schedule_boundaries_are_epochs(tiny_bundle):
    recipe = tiny("relu", epochs=3).replace(
        schedule={"name": "piecewise", "boundaries": [1, 2], "values": [0.02, 0.01, 0.001]}
    )
    result = train(recipe, tiny_bundle, image_size=SIZE, width=WIDTH, verbose=0)
    # values[i] through epoch boundaries[i]; the rate logged at an epoch's end is the one the
    # next epoch trains with.
    np.testing.assert_allclose(result.history["learning_rate"], [0.01, 0.001, 0.001], rtol=1e-6)


def test_one_cycle_recipe_ends_at_the_minimum_rate(tiny_bundle):
    result = train(tiny("selu", epochs=2), tiny_bundle, image_size=SIZE, width=WIDTH, verbose=0)
    lr = get_recipe("selu").optimizer.learning_rate
    assert result.history["learning_rate"].iloc[-1] == pytest.approx(lr / 25 / 1e4, rel=1e-5)


def test_until_epoch_trains_the_start_of_the_recipes_cycle(tiny_bundle, tmp_path):
    whole = train(tiny("selu", epochs=3), tiny_bundle, image_size=SIZE, width=WIDTH, verbose=0)
    start = train(
        tiny("selu", epochs=3),
        tiny_bundle,
        image_size=SIZE,
        width=WIDTH,
        verbose=0,
        run_dir=tmp_path,
        until_epoch=2,
    )
    # The same 3-epoch cycle, cut after epoch 2 (not a 2-epoch cycle): the same run so far.
    pd.testing.assert_frame_equal(start.history, whole.history.head(2), check_exact=True)
    assert whole.history["learning_rate"].iloc[1] > 10 * whole.history["learning_rate"].iloc[2]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert (summary["status"], summary["until_epoch"], summary["epochs_run"]) == ("completed", 2, 2)


@pytest.mark.parametrize("until_epoch", [0, 4, True, 2.0])
def test_until_epoch_outside_the_recipes_epochs_is_refused(tiny_bundle, tmp_path, until_epoch):
    message = (
        rf"until_epoch must be an integer in 1\.\.3 \(the recipe's epochs\); got {until_epoch!r}\."
    )
    with pytest.raises(ConfigError, match=message):
        train(
            tiny("selu", epochs=3),
            tiny_bundle,
            image_size=SIZE,
            width=WIDTH,
            run_dir=tmp_path / "run",
            until_epoch=until_epoch,
        )
    assert not (tmp_path / "run").exists()


def test_diverged_training_stops_and_keeps_its_artefacts(tiny_bundle, tmp_path):
    recipe = tiny("relu", epochs=3).replace(
        optimizer={"learning_rate": 1e6}, schedule={"name": "constant"}
    )
    result = train(recipe, tiny_bundle, image_size=SIZE, width=WIDTH, run_dir=tmp_path, verbose=0)
    assert result.status == "diverged"
    assert (tmp_path / "summary.json").exists()
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "diverged"


def test_cli_reports_divergence_with_exit_3(capsys, tmp_path, tiny_bundle):
    folder = tiny_bundle.describe()["source"]
    code = cli.main(
        [
            "train",
            "--recipe",
            "relu",
            "--data",
            folder,
            "--image-size",
            str(SIZE),
            "--width",
            str(WIDTH),
            "--epochs",
            "2",
            "--batch-size",
            "16",
            "--set",
            "optimizer.learning_rate=1e6",
            "--set",
            "schedule.name=constant",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 3
    assert "training diverged" in err and "optimizer.learning_rate" in err
    assert out.strip().splitlines()[-1].startswith("best_val_accuracy=")
    assert "status=diverged" in out


def test_cli_last_line_and_artefacts(capsys, tmp_path, tiny_bundle):
    folder = tiny_bundle.describe()["source"]
    code = cli.main(
        [
            "train",
            "--recipe",
            "elu",
            "--data",
            folder,
            "--image-size",
            str(SIZE),
            "--width",
            str(WIDTH),
            "--epochs",
            "1",
            "--batch-size",
            "16",
            "--out",
            str(tmp_path),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    last = out.strip().splitlines()[-1]
    assert last.startswith("best_val_accuracy=")
    value = float(last.split()[0].split("=")[1])
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert value == pytest.approx(summary["best_val_accuracy"], abs=5e-5)
    assert math.isfinite(value)


@pytest.mark.slow
def test_mixed_precision_computes_in_half_precision_and_restores_the_policy(tiny_bundle):
    result = train(
        tiny("default"), tiny_bundle, image_size=SIZE, width=WIDTH, verbose=0, mixed_precision=True
    )
    model = result.model
    conv = next(layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
    # No GPU here: bfloat16 compute, float32 weights, float32 softmax.
    assert result.summary["dtype_policy"] == "mixed_bfloat16"
    assert conv.compute_dtype == "bfloat16" and conv.kernel.dtype == "float32"
    assert model.layers[-1].compute_dtype == "float32"
    assert np.isfinite(result.history["loss"]).all()
    # The next run in the same process is float32 again.
    assert keras.config.dtype_policy().name == "float32"
    plain = train(tiny("default"), tiny_bundle, image_size=SIZE, width=WIDTH, verbose=0)
    assert plain.summary["dtype_policy"] == "float32"


def test_train_hands_the_process_back_with_op_determinism_as_it_found_it(tiny_bundle):
    # Determinism is process-wide; left on after a deterministic run, the caller's own
    # compile(jit_compile=True) would quietly drop XLA (Keras's model_supports_jit).
    from keras_recipes import _compat

    def caller_compiles_with_xla():
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        model.compile("sgd", "mse", jit_compile=True)
        return model.jit_compile

    _compat.disable_op_determinism()
    result = train(tiny("relu"), tiny_bundle, image_size=SIZE, width=WIDTH, verbose=0)
    assert result.summary["deterministic"] is True  # on for the run
    assert caller_compiles_with_xla() is True
    tf.config.experimental.enable_op_determinism()
    try:
        train(tiny("relu"), tiny_bundle, image_size=SIZE, width=WIDTH, verbose=0, jit_compile=True)
        assert _compat.op_determinism_enabled()  # off for the XLA run, on again after it
        assert caller_compiles_with_xla() is False
    finally:
        _compat.disable_op_determinism()


@pytest.mark.slow
def test_jit_compile_reaches_the_compiled_step(tiny_bundle):
    result = train(
        tiny("relu"), tiny_bundle, image_size=SIZE, width=WIDTH, verbose=0, jit_compile=True
    )
    assert result.model.jit_compile is True
    assert result.summary["jit_compile"] is True
    assert np.isfinite(result.history["loss"]).all()


def test_inverse_sqrt_schedule_decays_per_epoch(tiny_bundle):
    recipe = tiny("relu", epochs=3).with_overrides(
        ["optimizer.learning_rate=0.01", "schedule.name=inverse_sqrt"]
    )
    result = train(recipe, tiny_bundle, image_size=SIZE, width=WIDTH, verbose=0)
    # The rate logged after epoch e is the one epoch e + 1 trains with: 0.01 / sqrt(e + 1).
    expected = [0.01 / math.sqrt(2), 0.01 / math.sqrt(3), 0.01 / 2]
    np.testing.assert_allclose(result.history["learning_rate"], expected, rtol=1e-6)


def dropout_output(model, name="fc6_dropout"):
    layer = model.get_layer(name)
    return np.asarray(layer(np.ones((8, layer.input.shape[-1]), "float32"), training=True))


@pytest.mark.slow
def test_the_runs_seed_drives_the_dropout_masks(tiny_bundle):
    # Before: every run's dropout layers had seeds 0 and 1 whatever --seed said.
    def run(seed):
        return train(tiny("relu"), tiny_bundle, image_size=SIZE, width=WIDTH, seed=seed, verbose=0)

    # Each model's next mask, drawn once (a second draw would advance its generator).
    first, again, other = (dropout_output(run(seed).model) for seed in (0, 0, 1))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


class StatesBeforeValidation(keras.callbacks.Callback):
    """The dropout generators' states when fit() starts validating an epoch."""

    def on_test_begin(self, logs=None):
        self.states = [v.numpy() for v in self.model.variables if "seed_generator" in v.path]


def test_validation_in_fit_averages_the_mc_passes(tiny_bundle):
    passes = 4
    recipe = tiny("relu", epochs=2).with_overrides(
        ["regularization.dropout_kind=mc", f"regularization.mc_passes={passes}"]
    )
    spy = StatesBeforeValidation()
    result = train(
        recipe, tiny_bundle, image_size=SIZE, width=WIDTH, callbacks=[spy], tta=True, verbose=0
    )
    model = result.model
    # Replay the last validation with the same masks, one softmax per pass, and average.
    generators = [v for v in model.variables if "seed_generator" in v.path]
    for variable, state in zip(generators, spy.states, strict=True):
        variable.assign(state)
    each_pass = keras.Model(model.input, model.get_layer("softmax").output)
    probs, labels = [], []
    # The validation split as train() prepared it (the recipe's preprocessing).
    val = tiny_bundle.with_settings(
        batch_size=16, preprocessing=recipe.training.preprocessing, seed=0
    ).val
    for x, y in val:
        out = np.asarray(each_pass(x, training=False))
        probs.append(out.reshape(passes, len(y), -1).mean(axis=0))
        labels.append(np.asarray(y))
    probs, labels = np.concatenate(probs), np.concatenate(labels)
    last = result.history.iloc[-1]
    nll = -np.log(probs[np.arange(len(labels)), labels]).mean() + float(sum(model.losses))
    assert last["val_loss"] == pytest.approx(nll, rel=1e-5)
    assert last["val_accuracy"] == pytest.approx(np.mean(probs.argmax(axis=1) == labels))
    assert result.summary["prediction_passes"] == passes
    assert 0 <= result.summary["test_accuracy_tta"] <= 1


def test_summary_says_one_pass_without_mc_dropout(tiny_bundle):
    result = train(tiny("relu"), tiny_bundle, image_size=SIZE, width=WIDTH, verbose=0)
    assert result.summary["prediction_passes"] == 1
