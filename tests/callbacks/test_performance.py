"""PerformanceScheduler: the original reduce-on-plateau rule on scripted metric
sequences, against hand-computed traces and against Keras's ReduceLROnPlateau."""

import json

import keras
import numpy as np
import pytest

from keras_recipes.callbacks import PerformanceScheduler


def tiny_model(learning_rate=0.1, *, optimizer=None, jit_compile="auto"):
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    optimizer = optimizer or keras.optimizers.SGD(learning_rate=learning_rate)
    model.compile(optimizer=optimizer, loss="mse", jit_compile=jit_compile)
    assert model.jit_compile is (jit_compile is True)  # XLA when asked
    return model


def drive(callback, model, monitor, values):
    """Calls on_epoch_end with scripted metrics; returns (logged lr, lr after) per epoch."""
    callback.set_model(model)
    callback.on_train_begin()
    logged, after = [], []
    for epoch, value in enumerate(values):
        logs = {monitor: value, "loss": 1.0}
        callback.on_epoch_end(epoch, logs)
        logged.append(logs.get("learning_rate"))
        after.append(float(model.optimizer.learning_rate.numpy()))
    return logged, after


def f32(values):
    return [float(np.float32(v)) for v in values]


class InjectMetric(keras.callbacks.Callback):
    """Puts a scripted value into the epoch logs, before the scheduler reads them."""

    def __init__(self, name, values):
        super().__init__()
        self.name, self.values = name, values

    def on_epoch_end(self, epoch, logs=None):
        logs[self.name] = self.values[epoch]


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


# Accuracy in percent creeping up by 0.001 per epoch: a relative threshold of 1e-4
# asks for more than 50 * 1e-4 = 0.005 above the best, so the first five epochs
# after the first are bad; Keras's absolute min_delta=1e-4 sees progress each epoch.
PERCENT_CREEP = [50.0 + 0.001 * epoch for epoch in range(10)]


def test_percent_scale_creep_reduces_after_more_than_patience_bad_epochs():
    scheduler = PerformanceScheduler(monitor="val_accuracy", patience=3)
    logged, after = drive(scheduler, tiny_model(0.1), "val_accuracy", PERCENT_CREEP)
    # e0 sets best = 50.0; e1-e4 are bad 1..4 and 4 > 3 reduces at e4. e5 (50.005)
    # is not above 50.0 * 1.0001 = 50.005: bad 1. e6 (50.006) is: best = 50.006.
    # e7-e9 are bad 1..3, not more than the patience.
    assert after == f32([0.1] * 4 + [0.01] * 6)
    assert logged == f32([0.1] * 5 + [0.01] * 5)
    assert scheduler.get_state() == {"best": 50.006, "num_bad_epochs": 3, "cooldown_counter": 0}


def test_keras_reduce_lr_on_plateau_never_reduces_on_the_same_creep():
    keras_callback = keras.callbacks.ReduceLROnPlateau(
        monitor="val_accuracy", mode="max", min_delta=1e-4, patience=3
    )
    _, after = drive(keras_callback, tiny_model(0.1), "val_accuracy", PERCENT_CREEP)
    assert after == f32([0.1] * 10)


def test_threshold_mode_abs_with_cooldown_and_min_lr_matches_hand_trace():
    scheduler = PerformanceScheduler(
        monitor="val_loss",
        factor=0.5,
        patience=1,
        threshold=0.1,
        threshold_mode="abs",
        cooldown=2,
        min_lr=0.2,
    )
    values = [
        1.0,
        0.95,
        0.92,
        0.91,
        0.5,
        0.45,
        0.445,
        0.44,
        0.435,
        0.43,
        0.425,
        0.42,
        0.415,
        0.41,
        0.405,
    ]
    logged, after = drive(scheduler, tiny_model(1.0), "val_loss", values)
    # e0 best=1.0 | e1 bad1 | e2 bad2>1: lr 0.5, cooldown 2 | e3 bad, cooldown 1 |
    # e4 0.5 < 0.9: best, cooldown 0 | e5 bad1 | e6 bad2: lr 0.25, cooldown 2 |
    # e7, e8 in cooldown | e9 bad1 | e10 bad2: lr max(0.125, 0.2) = 0.2 | e11, e12
    # cooldown | e13 bad1 | e14 bad2: max(0.1, 0.2) = 0.2, no change (< eps).
    assert after == f32(
        [1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.2, 0.2, 0.2, 0.2, 0.2]
    )
    # The logged rate is the one the epoch used, before its own reduction.
    assert logged == [1.0, *after[:-1]]
    assert scheduler.get_state() == {"best": 0.5, "num_bad_epochs": 0, "cooldown_counter": 2}


def test_min_mode_relative_threshold():
    scheduler = PerformanceScheduler(monitor="val_loss", factor=0.5, patience=0)
    # Better means below best * (1 - 1e-4): 0.99995 is not (bad, reduce), 0.9 is,
    # 0.89995 is not (0.9 * 0.9999 = 0.89991).
    _, after = drive(scheduler, tiny_model(1.0), "val_loss", [1.0, 0.99995, 0.9, 0.89995])
    assert after == [1.0, 0.5, 0.5, 0.25]


@pytest.mark.parametrize(
    ("monitor", "maximize"),
    [
        ("val_accuracy", True),
        ("acc", True),
        ("val_sparse_categorical_accuracy", True),
        ("val_loss", False),
        ("loss", False),
        ("val_auc", False),
    ],
)
def test_auto_mode(monitor, maximize):
    scheduler = PerformanceScheduler(monitor=monitor, factor=0.5, patience=0)
    # Rising values are progress in max mode and bad epochs in min mode.
    _, after = drive(scheduler, tiny_model(1.0), monitor, [1.0, 2.0, 3.0])
    assert after == ([1.0, 1.0, 1.0] if maximize else [1.0, 0.5, 0.25])


def test_through_fit_with_xla_and_two_consecutive_fits():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 8)).astype("float32"), rng.normal(size=(16, 1)).astype("float32")
    model = tiny_model(0.1, jit_compile=True)
    scheduler = PerformanceScheduler(monitor="val_accuracy", patience=3)
    first = model.fit(
        x,
        y,
        epochs=3,
        verbose=0,
        callbacks=[InjectMetric("val_accuracy", PERCENT_CREEP[:3]), scheduler],
    )
    second = model.fit(
        x,
        y,
        epochs=7,
        verbose=0,
        callbacks=[InjectMetric("val_accuracy", PERCENT_CREEP[3:]), scheduler],
    )
    # The second fit continues the count: the reduction comes at overall epoch 4.
    logged = first.history["learning_rate"] + second.history["learning_rate"]
    assert logged == f32([0.1] * 5 + [0.01] * 5)
    assert float(model.optimizer.learning_rate.numpy()) == np.float32(0.01)


def test_mixed_precision(mixed_float16):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 8)).astype("float32"), rng.normal(size=(16, 1)).astype("float32")
    model = tiny_model(0.1)
    scheduler = PerformanceScheduler(monitor="val_accuracy", patience=3)
    history = model.fit(
        x,
        y,
        epochs=6,
        verbose=0,
        callbacks=[InjectMetric("val_accuracy", PERCENT_CREEP), scheduler],
    )
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert history.history["learning_rate"] == f32([0.1] * 5 + [0.01])


def test_restore_best_weights_on_reduction():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 8)).astype("float32"), rng.normal(size=(16, 1)).astype("float32")
    model = tiny_model(0.1)
    snapshots = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: snapshots.append(model.get_weights())
    )
    # Best at epoch 1, then bad epochs 2 and 3: with patience 1 the reduction comes
    # at the end of epoch 3 and brings back epoch 1's weights.
    metric = InjectMetric("val_accuracy", [0.5, 0.6, 0.55, 0.55, 0.55])
    scheduler = PerformanceScheduler(patience=1, restore_best_weights=True)
    history = model.fit(
        x, y, epochs=5, shuffle=False, verbose=0, callbacks=[metric, scheduler, record]
    )
    assert history.history["learning_rate"] == f32([0.1] * 4 + [0.01])
    for restored, best in zip(snapshots[3], snapshots[1], strict=True):
        np.testing.assert_array_equal(restored, best)
    # Training did move the weights in between, so the equality is the restore.
    assert not np.array_equal(snapshots[2][0], snapshots[1][0])


def test_missing_metric_warns_with_available_metrics():
    scheduler = PerformanceScheduler(monitor="val_accuracy")
    scheduler.set_model(tiny_model())
    scheduler.on_train_begin()
    logs = {"loss": 0.5, "accuracy": 0.7}
    with pytest.warns(UserWarning, match=r"`val_accuracy`.*Available metrics are: loss,accuracy"):
        scheduler.on_epoch_end(0, logs)
    assert logs["learning_rate"] == np.float32(0.1)
    assert scheduler.get_state() == {"best": None, "num_bad_epochs": 0, "cooldown_counter": 0}


def test_learning_rate_schedule_is_refused_with_the_fix():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    scheduler = PerformanceScheduler()
    scheduler.set_model(tiny_model(optimizer=keras.optimizers.SGD(learning_rate=schedule)))
    with pytest.raises(ValueError, match=r"LearningRateSchedule.*float learning rate"):
        scheduler.on_train_begin()


def test_state_round_trips_through_json_and_resumes():
    whole = PerformanceScheduler(monitor="val_accuracy", patience=3)
    _, expected = drive(whole, tiny_model(0.1), "val_accuracy", PERCENT_CREEP)

    model = tiny_model(0.1)
    first = PerformanceScheduler(monitor="val_accuracy", patience=3)
    _, head = drive(first, model, "val_accuracy", PERCENT_CREEP[:6])
    state = json.loads(json.dumps(first.get_state()))
    assert state == {"best": 50.0, "num_bad_epochs": 1, "cooldown_counter": 0}
    resumed = PerformanceScheduler(monitor="val_accuracy", patience=3)
    resumed.set_state(state)
    _, tail = drive(resumed, model, "val_accuracy", PERCENT_CREEP[6:])
    assert head + tail == expected


@pytest.mark.parametrize(
    ("state", "match"),
    [
        ({"best": 1.0}, r"keys \['best', 'num_bad_epochs', 'cooldown_counter'\]"),
        (
            {"best": "x", "num_bad_epochs": 0, "cooldown_counter": 0},
            r"`state\['best'\]` must be a number",
        ),
        (
            {"best": None, "num_bad_epochs": -1, "cooldown_counter": 0},
            r"`state\['num_bad_epochs'\]` must be an int >= 0",
        ),
    ],
)
def test_set_state_rejects_bad_states(state, match):
    with pytest.raises(ValueError, match=match):
        PerformanceScheduler().set_state(state)


def test_get_config_round_trips():
    config = PerformanceScheduler(
        monitor="val_loss",
        factor=0.5,
        patience=2,
        threshold=0.01,
        threshold_mode="abs",
        mode="min",
        cooldown=1,
        min_lr=1e-5,
        eps=1e-9,
        restore_best_weights=True,
    ).get_config()
    assert config == {
        "monitor": "val_loss",
        "factor": 0.5,
        "patience": 2,
        "threshold": 0.01,
        "threshold_mode": "abs",
        "mode": "min",
        "cooldown": 1,
        "min_lr": 1e-5,
        "eps": 1e-9,
        "restore_best_weights": True,
    }
    assert PerformanceScheduler(**config).get_config() == config


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"monitor": ""}, r"Argument `monitor` must be a non-empty str. Received: monitor=''"),
        (
            {"factor": 1.0},
            r"Argument `factor` must be a number in \(0.0, 1.0\). Received: factor=1.0",
        ),
        ({"patience": -1}, r"Argument `patience` must be an int >= 0. Received: patience=-1"),
        ({"threshold": -0.1}, r"Argument `threshold` must be a number >= 0.0"),
        (
            {"threshold_mode": "relative"},
            r"one of \['rel', 'abs'\]. Received: threshold_mode='relative'. Did you mean 'rel'\?",
        ),
        (
            {"mode": "maximum"},
            r"one of \['auto', 'min', 'max'\]. Received: mode='maximum'. Did you mean 'max'\?",
        ),
        ({"cooldown": 0.5}, r"Argument `cooldown` must be an int >= 0"),
        ({"min_lr": -1.0}, r"Argument `min_lr` must be a number >= 0.0"),
        ({"eps": float("nan")}, r"Argument `eps` must be a number >= 0.0"),
        ({"restore_best_weights": 1}, r"Argument `restore_best_weights` must be a bool"),
    ],
)
def test_arguments_are_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PerformanceScheduler(**kwargs)
