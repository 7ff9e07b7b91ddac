"""LRFinder: the exponential sweep, true per-batch losses, the divergence stop, and an
exact restore of the weights and the optimizer state."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_recipes.callbacks import LRFinder
from keras_recipes.optimizers import SGD


def tiny_model(optimizer, *, jit_compile="auto"):
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(1)]
    )
    model.compile(optimizer=optimizer, loss="mse", jit_compile=jit_compile)
    assert model.jit_compile is (jit_compile is True)  # XLA when asked
    return model


def regression_data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype("float32")
    y = (x @ rng.normal(size=(8, 1)) + 0.1 * rng.normal(size=(n, 1))).astype("float32")
    return x, y


def optimizer_state(model):
    return [np.array(v.numpy()) for v in model.optimizer.variables]


def assert_same_arrays(actual, expected):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        np.testing.assert_array_equal(a, e)


class WeightsMoved(keras.callbacks.Callback):
    """Records whether the sweep changed the first kernel (so a restore is needed)."""

    def on_train_begin(self, logs=None):
        self.start = self.model.get_weights()[0]
        self.moved = False

    def on_train_batch_end(self, batch, logs=None):
        self.moved |= not np.array_equal(self.model.get_weights()[0], self.start)


@pytest.fixture(autouse=True)
def seeded():
    # Same initial weights on every run: the assertions below do not depend on
    # them, but a failure should be reproducible.
    keras.utils.set_random_seed(0)


@pytest.fixture
def mixed_float16():
    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize(
    ("optimizer_factory", "jit_compile"),
    [
        (lambda: keras.optimizers.Adam(learning_rate=1e-3), "auto"),
        (lambda: SGD(learning_rate=0.01, momentum=0.9, nesterov=True), True),
    ],
    ids=["stock-adam", "sgd-nesterov-xla"],
)
def test_restores_weights_and_optimizer_state_exactly(optimizer_factory, jit_compile):
    x, y = regression_data()
    model = tiny_model(optimizer_factory(), jit_compile=jit_compile)
    # Train first, so the slots and `iterations` hold something to restore.
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    weights, state = model.get_weights(), optimizer_state(model)
    assert int(model.optimizer.iterations.numpy()) == 4

    finder, moved = LRFinder(min_lr=1e-4, max_lr=1.0, num_steps=12), WeightsMoved()
    model.fit(x, y, batch_size=8, epochs=2, callbacks=[finder, moved], verbose=0)

    assert moved.moved and len(finder.history["lr"]) > 1
    assert_same_arrays(model.get_weights(), weights)
    assert_same_arrays(optimizer_state(model), state)
    assert int(model.optimizer.iterations.numpy()) == 4


def test_restores_a_never_trained_model_and_loss_scale_state(mixed_float16):
    x, y = regression_data()
    model = tiny_model(keras.optimizers.SGD(learning_rate=0.01, momentum=0.9))
    weights = model.get_weights()
    finder, moved = LRFinder(min_lr=1e-4, max_lr=1.0, num_steps=10), WeightsMoved()
    model.fit(x, y, batch_size=8, callbacks=[finder, moved], verbose=0)

    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert moved.moved
    assert_same_arrays(model.get_weights(), weights)
    # Built by the finder before the sweep, at its initial values, and restored to
    # them: the loss scale and its step counter, iterations, the velocity slots.
    optimizer = model.optimizer
    assert optimizer.dynamic_scale.numpy() == np.float32(32768.0)
    assert optimizer.step_counter.numpy() == 0
    assert optimizer.inner_optimizer.iterations.numpy() == 0
    assert len(optimizer.inner_optimizer.momentums) == 4
    assert all(not slot.numpy().any() for slot in optimizer.inner_optimizer.momentums)


def test_a_second_fit_runs_a_fresh_sweep_and_restores_again():
    x, y = regression_data()
    model = tiny_model(SGD(learning_rate=0.01, momentum=0.9))
    model.optimizer.build(model.trainable_variables)
    weights, state = model.get_weights(), optimizer_state(model)
    finder = LRFinder(min_lr=1e-5, max_lr=1e-2, num_steps=6)
    model.fit(x, y, batch_size=8, shuffle=False, callbacks=[finder], verbose=0)
    first = dict(finder.history)
    model.fit(x, y, batch_size=8, shuffle=False, callbacks=[finder], verbose=0)
    assert finder.history == first  # same data, same start: the same sweep
    assert len(first["lr"]) == 6
    assert_same_arrays(model.get_weights(), weights)
    assert_same_arrays(optimizer_state(model), state)


def test_sweep_is_exponential_and_is_what_the_optimizer_used():
    x, y = regression_data()
    model = tiny_model(keras.optimizers.SGD())
    used = []
    probe = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: used.append(
            float(model.optimizer.learning_rate.numpy())
        )
    )
    finder = LRFinder(min_lr=1e-6, max_lr=1e-2, num_steps=5)
    model.fit(x, y, batch_size=8, callbacks=[finder, probe], verbose=0)
    expected = [float(np.float32(1e-6 * 1e4 ** (i / 4))) for i in range(5)]
    assert finder.history["lr"] == expected
    assert used == expected
    assert expected[0] == np.float32(1e-6) and expected[-1] == np.float32(1e-2)


def test_records_each_batch_loss_not_the_running_mean():
    keras.utils.set_random_seed(0)
    x, y = regression_data(n=48)
    y[16:24] *= 10.0  # one batch with a much larger loss
    model = tiny_model(keras.optimizers.SGD())
    # Rates so small that the weights do not move: each batch's loss is its loss
    # under the initial weights.
    # A large divergence factor: the 10x batch must not stop the sweep.
    finder = LRFinder(min_lr=1e-12, max_lr=1e-11, num_steps=6, divergence_factor=1e6)
    batch_means = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: batch_means.append(logs["loss"])
    )
    predictions = model.predict(x, verbose=0)
    model.fit(x, y, batch_size=8, shuffle=False, callbacks=[finder, record], verbose=0)

    expected = [
        float(np.mean((predictions[i : i + 8] - y[i : i + 8]) ** 2)) for i in range(0, 48, 8)
    ]
    # The recovery multiplies float32 running means by the batch count, so its error
    # is float32 rounding of the running sum (~1e-7 * 500 here), not of each loss.
    np.testing.assert_allclose(finder.history["loss"], expected, rtol=1e-5, atol=1e-4)
    # Keras's logs hold the running mean, which differs from batch 1 on.
    np.testing.assert_allclose(batch_means, np.cumsum(expected) / np.arange(1, 7), rtol=1e-5)
    assert not np.allclose(batch_means[2:], expected[2:], rtol=1e-2)

    # The smoothed loss is the bias-corrected exponential average.
    average, smoothed = 0.0, []
    for i, loss in enumerate(finder.history["loss"]):
        average = 0.98 * average + 0.02 * loss
        smoothed.append(average / (1 - 0.98 ** (i + 1)))
    np.testing.assert_allclose(finder.history["smoothed_loss"], smoothed, rtol=1e-12)


def test_a_short_last_batch_is_weighed_by_its_size():
    keras.utils.set_random_seed(0)
    x, y = regression_data(n=44)  # batches of 8: five full ones and one of 4 each epoch
    y[40:] *= 10.0  # the short batch's loss differs from the epoch's mean
    model = tiny_model(keras.optimizers.SGD())
    finder = LRFinder(
        min_lr=1e-12,  # the weights do not move: each loss is the initial model's
        max_lr=1e-11,
        num_steps=12,
        divergence_factor=1e6,
        batch_size=8,
        samples_per_epoch=44,
    )
    predictions = model.predict(x, verbose=0)
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, callbacks=[finder], verbose=0)

    epoch = [float(np.mean((predictions[i : i + 8] - y[i : i + 8]) ** 2)) for i in range(0, 44, 8)]
    np.testing.assert_allclose(finder.history["loss"], epoch * 2, rtol=1e-5, atol=1e-4)


def test_find_learning_rate_records_the_short_batch_of_each_epoch_exactly():
    from keras_recipes.data import load_data
    from keras_recipes.recipes import get_recipe
    from keras_recipes.training.lr_range import find_learning_rate

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (50, 40, 40, 3), dtype=np.uint8)
    labels = np.arange(50) % 2
    # No dropout, batch norm or weight decay: a batch's training loss is the model's loss
    # on it, computed again below from the initial weights the finder restores.
    recipe = get_recipe("relu").with_overrides(
        ["regularization.dropout_rate=0", "regularization.weight_decay=0", "training.batch_size=8"]
    )
    bundle = load_data((images, labels), image_size=32, batch_size=8, preprocessing="standardize")
    assert bundle.num_train % 8 != 0  # 35 images: four batches of 8 and one of 3
    steps = 2 * bundle.steps_per_epoch
    finder = find_learning_rate(
        recipe, bundle, image_size=32, width=0.0625, num_steps=steps, min_lr=1e-12, max_lr=1e-11
    )
    model = finder.model
    expected = [
        float(keras.ops.mean(keras.losses.sparse_categorical_crossentropy(y, model(x))))
        for x, y in bundle.train_from(0).take(steps)
    ]
    np.testing.assert_allclose(finder.history["loss"], expected, rtol=1e-4, atol=1e-5)


def test_stops_when_the_smoothed_loss_diverges():
    x, y = regression_data(n=256)
    model = tiny_model(keras.optimizers.SGD())
    finder = LRFinder(min_lr=1e-3, max_lr=1e3, num_steps=100, smoothing=0.5)
    model.fit(x, y, batch_size=8, epochs=5, callbacks=[finder], verbose=0)
    smoothed = finder.history["smoothed_loss"]
    assert 2 < len(smoothed) < 100
    best_before_last = min(smoothed[:-1])
    assert not math.isfinite(smoothed[-1]) or smoothed[-1] > 4.0 * best_before_last
    # No earlier batch met the stopping rule.
    for i in range(1, len(smoothed) - 1):
        assert smoothed[i] <= 4.0 * min(smoothed[:i])


def test_find_runs_past_one_epoch_and_restores():
    x, y = regression_data(n=40)
    model = tiny_model(SGD(learning_rate=0.01, momentum=0.9))
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    weights, state = model.get_weights(), optimizer_state(model)

    # 40 samples in batches of 16: 2 batches per pass; 9 steps need 5 passes.
    finder = LRFinder.find(
        model, x, y, batch_size=16, min_lr=1e-5, max_lr=1e-2, num_steps=9, seed=1
    )
    assert len(finder.history["lr"]) == 9
    assert finder.history["lr"][-1] == np.float32(1e-2)
    assert_same_arrays(model.get_weights(), weights)
    assert_same_arrays(optimizer_state(model), state)

    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(8, drop_remainder=True)
    finder = LRFinder.find(model, dataset, min_lr=1e-5, max_lr=1e-2, num_steps=7)
    assert len(finder.history["lr"]) == 7


def test_find_rejects_too_few_samples_and_y_with_a_dataset():
    x, y = regression_data(n=8)
    model = tiny_model(keras.optimizers.SGD())
    with pytest.raises(ValueError, match=r"at least batch_size=16 samples; received 8"):
        LRFinder.find(model, x, y, batch_size=16)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    with pytest.raises(ValueError, match=r"got a tf.data.Dataset as `x` and also `y`"):
        LRFinder.find(model, dataset, y)


def test_suggestions():
    finder = LRFinder()
    lrs = [10.0**e for e in range(-6, 1)]  # 1e-6 .. 1
    finder.history = {
        "lr": lrs,
        "loss": [0.0] * 7,
        #                 1e-6 1e-5 1e-4 1e-3 1e-2 1e-1  1
        "smoothed_loss": [2.0, 1.9, 1.5, 0.7, 0.5, 0.6, 9.0],
    }
    # edge: after the minimum (0.5 at 1e-2) the first loss above 0.55 is at 1e-1.
    assert finder.suggestion() == pytest.approx(1e-2, rel=1e-12)
    assert finder.suggestion("min_loss") == pytest.approx(1e-3, rel=1e-12)  # 1e-2 / 10
    # Up to the minimum, with equal log10 spacing h = ln(10), np.gradient gives
    # (-0.1, -0.25, -0.6, -0.5, -0.2) / h: the steepest descent is at 1e-4.
    assert finder.suggestion("steepest") == lrs[2]
    with pytest.raises(
        ValueError,
        match=r"one of \['edge', 'min_loss', 'steepest'\]. Received: method='steep'. "
        r"Did you mean 'steepest'\?",
    ):
        finder.suggestion("steep")
    finder.history["smoothed_loss"] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    with pytest.raises(ValueError, match=r"lowest loss at the start of the sweep"):
        finder.suggestion("steepest")
    with pytest.raises(ValueError, match=r"needs at least 3 recorded batches"):
        LRFinder().suggestion()


def test_edge_suggestion_on_a_flat_curve():
    # A decay-dominated loss: flat with noise, then a blow-up from 1e-1.
    finder = LRFinder()
    lrs = [10.0 ** (e / 2) for e in range(-12, 1)]  # 1e-6 .. 1, half decades
    flat = [2.0, 3.0, 3.01, 2.99, 3.02, 2.98, 3.0, 3.01, 2.99, 3.0, 3.1, 4.0, 9.0]
    finder.history = {"lr": lrs, "loss": flat, "smoothed_loss": flat}
    # The lowest value after the first 10% is 2.98 (at 10**-3.5); 3.278 is first passed
    # at 10**-0.5, so the suggestion is 10**-1.5. min_loss falls for the low first value.
    assert finder.suggestion() == pytest.approx(10**-1.5, rel=1e-12)
    assert finder.suggestion("min_loss") == pytest.approx(1e-7, rel=1e-12)


def test_learning_rate_schedule_is_refused_with_the_fix():
    x, y = regression_data()
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    model = tiny_model(keras.optimizers.SGD(learning_rate=schedule))
    with pytest.raises(ValueError, match=r"LearningRateSchedule.*float learning rate"):
        model.fit(x, y, callbacks=[LRFinder()], verbose=0)


def test_plot_draws_the_recorded_sweep(tmp_path, saved_figures):
    x, y = regression_data()
    finder = LRFinder.find(tiny_model(keras.optimizers.SGD()), x, y, batch_size=8, num_steps=8)
    path = tmp_path / "lr_finder.png"
    finder.plot(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ((figure, written),) = saved_figures
    assert written == str(path)
    (axes,) = figure.axes
    assert (axes.get_xlabel(), axes.get_ylabel(), axes.get_xscale()) == (
        "learning rate",
        "loss",
        "log",
    )
    raw, smoothed = axes.get_lines()
    assert (raw.get_label(), smoothed.get_label()) == ("batch loss", "smoothed loss")
    for line, key in ((raw, "loss"), (smoothed, "smoothed_loss")):
        np.testing.assert_array_equal(line.get_xdata(), finder.history["lr"])
        np.testing.assert_array_equal(line.get_ydata(), finder.history[key])
    with pytest.raises(ValueError, match=r"nothing to draw"):
        LRFinder().plot(tmp_path / "empty.png")


def test_get_config_round_trips():
    config = LRFinder(1e-6, 1.0, 50, 0.9, 3.0, batch_size=8, samples_per_epoch=44).get_config()
    assert config == {
        "min_lr": 1e-6,
        "max_lr": 1.0,
        "num_steps": 50,
        "smoothing": 0.9,
        "divergence_factor": 3.0,
        "batch_size": 8,
        "samples_per_epoch": 44,
    }
    assert LRFinder(**config).get_config() == config


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_lr": 0.0}, r"Argument `min_lr` must be a number > 0.0. Received: min_lr=0.0"),
        (
            {"min_lr": 1.0, "max_lr": 0.5},
            r"`max_lr` must be > `min_lr`. Received: min_lr=1.0, max_lr=0.5",
        ),
        ({"num_steps": 1}, r"Argument `num_steps` must be an int >= 2. Received: num_steps=1"),
        ({"smoothing": 1.0}, r"Argument `smoothing` must be a number in \[0.0, 1.0\)"),
        ({"divergence_factor": 1.0}, r"Argument `divergence_factor` must be a number > 1.0"),
        ({"batch_size": 8}, r"`batch_size` and `samples_per_epoch` go together: give both"),
        (
            {"batch_size": 0, "samples_per_epoch": 10},
            r"Argument `batch_size` must be an int >= 1. Received: batch_size=0",
        ),
    ],
)
def test_arguments_are_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LRFinder(**kwargs)
