"""Every optimizer of keras_recipes.optimizers: equal to the stock one while momentum
is constant, a momentum change that takes effect under XLA, `.keras` round trips."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_recipes.optimizers import SGD, Adam, AdamW, Nadam

# name: (ours, stock, constructor kwargs, attribute holding the momentum)
OPTIMIZERS = {
    "SGD": (SGD, keras.optimizers.SGD, {"momentum": 0.9}, "momentum"),
    "SGD-nesterov": (SGD, keras.optimizers.SGD, {"momentum": 0.9, "nesterov": True}, "momentum"),
    "Adam": (Adam, keras.optimizers.Adam, {}, "beta_1"),
    "Adam-amsgrad": (Adam, keras.optimizers.Adam, {"amsgrad": True}, "beta_1"),
    "Nadam": (Nadam, keras.optimizers.Nadam, {}, "beta_1"),
    "AdamW": (AdamW, keras.optimizers.AdamW, {"weight_decay": 0.05}, "beta_1"),
}
NAMES = list(OPTIMIZERS)


def make_variables():
    rng = np.random.default_rng(0)
    return [
        keras.Variable(rng.normal(size=(3, 4)).astype("float32"), name="kernel"),
        keras.Variable(rng.normal(size=(4,)).astype("float32"), name="bias"),
    ]


def gradients(steps):
    rng = np.random.default_rng(1)
    return [
        [
            tf.constant(rng.normal(size=(3, 4)), tf.float32),
            tf.constant(rng.normal(size=4), tf.float32),
        ]
        for _ in range(steps)
    ]


def values(variables):
    return np.concatenate([np.ravel(v.numpy()) for v in variables])


@pytest.mark.parametrize("name", NAMES)
def test_equals_the_stock_optimizer_while_momentum_is_constant(name):
    ours_cls, stock_cls, kwargs, _ = OPTIMIZERS[name]
    results = []
    for cls in (ours_cls, stock_cls):
        variables = make_variables()
        optimizer = cls(learning_rate=0.05, **kwargs)
        for grads in gradients(6):
            optimizer.apply(grads, variables)
        results.append(values(variables))
    np.testing.assert_allclose(results[0], results[1], rtol=0, atol=1e-6)
    assert not np.allclose(results[0], values(make_variables()))


@pytest.mark.parametrize("name", NAMES)
def test_a_momentum_change_takes_effect_under_xla(name):
    ours_cls, stock_cls, kwargs, attribute = OPTIMIZERS[name]
    schedule = [0.9, 0.5, 0.95, 0.7, 0.85]
    grads_per_step = gradients(len(schedule))

    # Reference: the stock optimizer run eagerly, where its Python float is read
    # afresh at every step.
    eager_variables, stock = make_variables(), stock_cls(learning_rate=0.05, **kwargs)
    for momentum, grads in zip(schedule, grads_per_step, strict=True):
        setattr(stock, attribute, momentum)
        stock.apply(grads, eager_variables)

    variables, optimizer = make_variables(), ours_cls(learning_rate=0.05, **kwargs)
    optimizer.build(variables)
    step = tf.function(lambda grads: optimizer.apply(grads, variables), jit_compile=True)
    for momentum, grads in zip(schedule, grads_per_step, strict=True):
        optimizer.momentum_variable.assign(momentum)
        step(grads)
    np.testing.assert_allclose(values(variables), values(eager_variables), rtol=0, atol=1e-6)

    # The stock optimizer compiled the same way keeps the value it was traced with.
    frozen_variables, frozen = make_variables(), stock_cls(learning_rate=0.05, **kwargs)
    frozen.build(frozen_variables)
    frozen_step = tf.function(lambda grads: frozen.apply(grads, frozen_variables), jit_compile=True)
    for momentum, grads in zip(schedule, grads_per_step, strict=True):
        setattr(frozen, attribute, momentum)
        frozen_step(grads)
    assert np.max(np.abs(values(frozen_variables) - values(eager_variables))) > 1e-4


@pytest.mark.parametrize("name", NAMES)
def test_momentum_attribute_is_the_variable_and_assigning_a_float_assigns_it(name):
    ours_cls, _, kwargs, attribute = OPTIMIZERS[name]
    optimizer = ours_cls(**kwargs)
    variable = optimizer.momentum_variable
    assert getattr(optimizer, attribute) is variable
    assert variable.trainable is False and variable.shape == ()
    assert any(v is variable for v in optimizer.variables)
    setattr(optimizer, attribute, 0.75)
    assert optimizer.momentum_variable is variable
    assert variable.numpy() == np.float32(0.75)
    assert optimizer.get_config()[attribute] == 0.75
    with pytest.raises(ValueError, match=rf"Argument `{attribute}` must be a float in \[0, 1"):
        setattr(optimizer, attribute, 1.5)


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trip_keeps_the_class_and_every_argument(name):
    ours_cls, stock_cls, kwargs, attribute = OPTIMIZERS[name]
    optimizer = ours_cls(learning_rate=0.02, clipnorm=1.0, **kwargs)
    config = optimizer.get_config()
    assert set(config) == set(stock_cls(**kwargs).get_config())
    assert config[attribute] == 0.9 and config["learning_rate"] == pytest.approx(0.02)
    assert ours_cls.from_config(config).get_config() == config
    rebuilt = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(rebuilt) is ours_cls
    assert rebuilt.get_config() == config
    assert isinstance(optimizer, stock_cls)


@pytest.mark.parametrize("name", ["SGD-nesterov", "Adam", "Nadam", "AdamW"])
def test_keras_file_round_trip_restores_class_and_momentum(name, tmp_path):
    ours_cls, _, kwargs, attribute = OPTIMIZERS[name]
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 8)).astype("float32"), rng.normal(size=(8, 1)).astype("float32")
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    model.compile(optimizer=ours_cls(learning_rate=0.01, **kwargs), loss="mse")
    model.fit(x, y, batch_size=4, verbose=0)
    model.optimizer.momentum_variable.assign(0.7)
    path = tmp_path / "model.keras"
    model.save(path)

    loaded = keras.models.load_model(path)
    assert type(loaded.optimizer) is ours_cls
    assert loaded.optimizer.momentum_variable.numpy() == np.float32(0.7)
    assert loaded.optimizer.get_config()[attribute] == 0.7
    assert loaded.optimizer.iterations.numpy() == 2
    for saved, restored in zip(model.optimizer.variables, loaded.optimizer.variables, strict=True):
        np.testing.assert_array_equal(restored.numpy(), saved.numpy())
