"""InverseSqrtDecay: exact values per step and per epoch, serialisation, validation."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_recipes.schedules import InverseSqrtDecay


def f32_formula(lr0, k, t):
    return np.float32(lr0) * np.float32(k) / np.sqrt(np.float32(t))


@pytest.mark.parametrize(("step", "expected"), [(0, 1.0), (3, 0.5), (15, 0.25), (63, 0.125)])
def test_per_step_exact_values(step, expected):
    # lr0 * k / sqrt(step + 1) with lr0 = 0.5, k = 2.
    schedule = InverseSqrtDecay(initial_learning_rate=0.5, k=2.0)
    assert schedule(step).numpy() == np.float32(expected)


def test_per_step_matches_the_formula():
    schedule = InverseSqrtDecay(initial_learning_rate=0.01, k=3.0)
    for step in (1, 2, 9, 99, 12345):
        assert schedule(tf.constant(step, tf.int64)).numpy() == f32_formula(0.01, 3.0, step + 1)


def test_per_epoch_is_constant_within_an_epoch():
    schedule = InverseSqrtDecay(initial_learning_rate=0.5, k=2.0, steps_per_epoch=4)
    actual = [schedule(step).numpy() for step in range(16)]
    # Epochs 1..4 of 4 steps each: 1/sqrt(1), 1/sqrt(2), 1/sqrt(3), 1/sqrt(4).
    expected = [f32_formula(0.5, 2.0, step // 4 + 1) for step in range(16)]
    assert actual == expected
    assert actual[0] == 1.0 and actual[12] == 0.5
    assert schedule(keras.Variable(7, dtype="int64")).numpy() == expected[7]


def test_drives_an_optimizer_in_compiled_fit():
    schedule = InverseSqrtDecay(initial_learning_rate=0.1, steps_per_epoch=3)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=schedule), loss="mse")
    x, y = np.ones((12, 8), "float32"), np.ones((12, 1), "float32")
    model.fit(x, y, batch_size=4, epochs=3, verbose=0)
    # Nine steps done: step 9 starts epoch 4, lr = 0.1 / sqrt(4).
    assert model.optimizer.learning_rate.numpy() == np.float32(0.05)


def test_config_round_trip():
    schedule = InverseSqrtDecay(0.1, k=0.5, steps_per_epoch=100, name="isqrt")
    config = schedule.get_config()
    assert config == {
        "initial_learning_rate": 0.1,
        "k": 0.5,
        "steps_per_epoch": 100,
        "name": "isqrt",
    }
    assert InverseSqrtDecay.from_config(config).get_config() == config
    rebuilt = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert type(rebuilt) is InverseSqrtDecay and rebuilt.get_config() == config
    optimizer = keras.optimizers.Adam.from_config(keras.optimizers.Adam(schedule).get_config())
    assert optimizer.learning_rate.numpy() == np.float32(0.05)  # k * lr0 at step 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"initial_learning_rate": -0.1},
            r"Argument `initial_learning_rate` must be a number > 0. "
            r"Received: initial_learning_rate=-0.1",
        ),
        (
            {"initial_learning_rate": 0.1, "k": 0.0},
            r"Argument `k` must be a number > 0. Received: k=0.0",
        ),
        (
            {"initial_learning_rate": 0.1, "steps_per_epoch": 0},
            r"Argument `steps_per_epoch` must be None or an int > 0. Received: steps_per_epoch=0",
        ),
        ({"initial_learning_rate": 0.1, "steps_per_epoch": 2.5}, r"Received: steps_per_epoch=2.5"),
    ],
)
def test_arguments_are_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        InverseSqrtDecay(**kwargs)
