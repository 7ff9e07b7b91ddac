"""PowerDecay: exact values, agreement with the formula, serialisation, validation."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_recipes.schedules import PowerDecay


@pytest.mark.parametrize(
    ("power", "step", "expected"),
    [
        (1.0, 0, 1.0),
        (1.0, 10, 0.5),  # 1 / (1 + 1)
        (1.0, 30, 0.25),  # 1 / (1 + 3)
        (2.0, 30, 0.0625),  # 1 / 4**2
        (0.5, 30, 0.5),  # 1 / sqrt(4)
        (1.0, 5, np.float32(1.0) / np.float32(1.5)),
    ],
)
def test_exact_values(power, step, expected):
    schedule = PowerDecay(initial_learning_rate=1.0, decay_steps=10, power=power)
    assert schedule(step).numpy() == np.float32(expected)


def test_matches_the_formula_over_many_steps_and_step_types():
    schedule = PowerDecay(initial_learning_rate=0.01, decay_steps=250, power=0.75)
    steps = np.arange(0, 5000, 37)
    expected = 0.01 / (1 + steps / 250) ** 0.75
    actual = [schedule(tf.constant(s, tf.int64)).numpy() for s in steps]
    np.testing.assert_allclose(actual, expected, rtol=1e-6)
    assert schedule(keras.Variable(250, dtype="int64")).numpy() == schedule(250.0).numpy()


def test_equals_keras_inverse_time_decay_at_power_one():
    ours = PowerDecay(0.1, 20)
    keras_schedule = keras.optimizers.schedules.InverseTimeDecay(0.1, 20, decay_rate=1.0)
    for step in (0, 7, 20, 133):
        assert ours(step).numpy() == keras_schedule(step).numpy()


def test_drives_an_optimizer_in_compiled_fit():
    schedule = PowerDecay(initial_learning_rate=0.1, decay_steps=2, power=2.0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=schedule), loss="mse")
    x, y = np.ones((12, 8), "float32"), np.ones((12, 1), "float32")
    model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    # Six steps: the optimizer now reads lr(6) = 0.1 / (1 + 3)**2.
    assert model.optimizer.learning_rate.numpy() == np.float32(0.1) / np.float32(16.0)


def test_config_round_trip_and_keras_file(tmp_path):
    schedule = PowerDecay(0.05, 100, power=1.5, name="power")
    config = schedule.get_config()
    assert config == {
        "initial_learning_rate": 0.05,
        "decay_steps": 100,
        "power": 1.5,
        "name": "power",
    }
    assert PowerDecay.from_config(config).get_config() == config
    rebuilt = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert type(rebuilt) is PowerDecay and rebuilt.get_config() == config

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=schedule), loss="mse")
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    lr_config = loaded.optimizer.get_config()["learning_rate"]
    assert keras.optimizers.schedules.deserialize(lr_config).get_config() == config


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"initial_learning_rate": 0, "decay_steps": 10},
            r"Argument `initial_learning_rate` must be a number > 0. "
            r"Received: initial_learning_rate=0",
        ),
        (
            {"initial_learning_rate": 0.1, "decay_steps": 0},
            r"Argument `decay_steps` must be a number > 0. Received: decay_steps=0",
        ),
        (
            {"initial_learning_rate": 0.1, "decay_steps": 10, "power": -1.0},
            r"Argument `power` must be a number > 0. Received: power=-1.0",
        ),
        ({"initial_learning_rate": 0.1, "decay_steps": True}, r"Received: decay_steps=True"),
    ],
)
def test_arguments_are_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PowerDecay(**kwargs)
