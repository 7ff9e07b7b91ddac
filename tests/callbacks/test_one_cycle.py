"""OneCycleScheduler: PyTorch OneCycleLR's traces, momentum that really changes the
updates (compiled and XLA), errors that name the fix, resuming."""

import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_recipes.callbacks import OneCycleScheduler
from keras_recipes.optimizers import SGD, Adam, Nadam


def torch_one_cycle(
    step,
    total_steps,
    max_lr,
    *,
    pct_start=0.3,
    div_factor=25.0,
    final_div_factor=1e4,
    anneal="cos",
    three_phase=False,
    base_momentum=0.85,
    max_momentum=0.95,
):
    """PyTorch `OneCycleLR.get_lr()` as documented, written out independently."""
    initial_lr = max_lr / div_factor
    min_lr = initial_lr / final_div_factor
    if three_phase:
        ends = [pct_start * total_steps - 1, 2 * pct_start * total_steps - 2, total_steps - 1]
        lrs = [(initial_lr, max_lr), (max_lr, initial_lr), (initial_lr, min_lr)]
        moms = [
            (max_momentum, base_momentum),
            (base_momentum, max_momentum),
            (max_momentum, max_momentum),
        ]
    else:
        ends = [pct_start * total_steps - 1, total_steps - 1]
        lrs = [(initial_lr, max_lr), (max_lr, min_lr)]
        moms = [(max_momentum, base_momentum), (base_momentum, max_momentum)]

    def interpolate(start, end, pct):
        if anneal == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    start_step = 0
    for i, end_step in enumerate(ends):
        if step <= end_step or i == len(ends) - 1:
            pct = (step - start_step) / (end_step - start_step)
            return interpolate(*lrs[i], pct), interpolate(*moms[i], pct)
        start_step = end_step
    raise AssertionError("unreachable")


def tiny_model(optimizer, *, jit_compile="auto", run_eagerly=False, weights=None):
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(1)]
    )
    if weights is not None:
        model.set_weights(weights)
    model.compile(optimizer=optimizer, loss="mse", jit_compile=jit_compile, run_eagerly=run_eagerly)
    assert model.jit_compile is (jit_compile is True)  # XLA when asked
    return model


def data(n=20, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype("float32")
    y = rng.normal(size=(n, 1)).astype("float32")
    return x, y


class ProbeOptimizer(keras.callbacks.Callback):
    """Reads back, after every batch, the learning rate and momentum the step used."""

    def __init__(self):
        super().__init__()
        self.lr, self.momentum = [], []

    def on_train_batch_end(self, batch, logs=None):
        optimizer = self.model.optimizer
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            optimizer = optimizer.inner_optimizer
        self.lr.append(float(optimizer.learning_rate.numpy()))
        self.momentum.append(float(optimizer.momentum_variable.numpy()))


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


TRACE_CASES = [("cos", False), ("linear", False), ("cos", True), ("linear", True)]


@pytest.mark.parametrize(("anneal", "three_phase"), TRACE_CASES)
def test_traces_equal_pytorch_one_cycle_lr(anneal, three_phase):
    # 20 samples, batch 2, 2 epochs: T = 20 steps; pct_start 0.3 puts the peak at
    # step 5 and (three-phase) the end of the cool-down at step 10.
    x, y = data()
    scheduler = OneCycleScheduler(max_lr=0.1, anneal=anneal, three_phase=three_phase)
    probe = ProbeOptimizer()
    model = tiny_model(SGD(momentum=0.9))
    model.fit(x, y, batch_size=2, epochs=2, shuffle=False, callbacks=[scheduler, probe], verbose=0)

    expected = [
        torch_one_cycle(s, 20, 0.1, anneal=anneal, three_phase=three_phase) for s in range(20)
    ]
    expected_lr = np.float32([lr for lr, _ in expected])
    expected_momentum = np.float32([m for _, m in expected])
    assert scheduler.history["step"] == list(range(20))
    np.testing.assert_array_equal(np.float32(scheduler.history["lr"]), expected_lr)
    np.testing.assert_array_equal(np.float32(scheduler.history["momentum"]), expected_momentum)
    # What the optimizer actually held during each step.
    np.testing.assert_array_equal(np.float32(probe.lr), expected_lr)
    np.testing.assert_array_equal(np.float32(probe.momentum), expected_momentum)

    # The defining points: start, peak, phase boundaries, end.
    lr, momentum = scheduler.history["lr"], scheduler.history["momentum"]
    assert (lr[0], momentum[0]) == (np.float32(0.1 / 25), np.float32(0.95))
    assert (lr[5], momentum[5]) == (np.float32(0.1), np.float32(0.85))
    if three_phase:
        assert (lr[10], momentum[10]) == (np.float32(0.1 / 25), np.float32(0.95))
        assert momentum[10:] == [np.float32(0.95)] * 10
    assert (lr[19], momentum[19]) == (np.float32(0.1 / 25 / 1e4), np.float32(0.95))


def test_learning_rate_is_logged_per_epoch():
    x, y = data()
    scheduler = OneCycleScheduler(max_lr=0.1)
    history = tiny_model(SGD(momentum=0.9)).fit(
        x, y, batch_size=2, epochs=2, callbacks=[scheduler], verbose=0
    )
    assert history.history["learning_rate"] == [
        scheduler.history["lr"][9],
        scheduler.history["lr"][19],
    ]


def _final_weights(optimizer_cls, *, cycle_momentum, initial, **compile_kwargs):
    x, y = data(n=32, seed=1)
    kwargs = {"momentum": 0.9, "nesterov": True} if optimizer_cls is SGD else {}
    model = tiny_model(
        optimizer_cls(learning_rate=0.01, **kwargs), weights=initial, **compile_kwargs
    )
    scheduler = OneCycleScheduler(max_lr=0.05, cycle_momentum=cycle_momentum)
    model.fit(x, y, batch_size=4, epochs=2, shuffle=False, callbacks=[scheduler], verbose=0)
    return np.concatenate([w.ravel() for w in model.get_weights()])


@pytest.mark.slow
@pytest.mark.parametrize("optimizer_cls", [SGD, Adam, Nadam])
def test_momentum_cycling_takes_effect_compiled_and_xla(optimizer_cls):
    keras.utils.set_random_seed(0)
    initial = tiny_model(SGD()).get_weights()
    eager = _final_weights(optimizer_cls, cycle_momentum=True, initial=initial, run_eagerly=True)
    compiled = _final_weights(
        optimizer_cls, cycle_momentum=True, initial=initial, jit_compile=False
    )
    xla = _final_weights(optimizer_cls, cycle_momentum=True, initial=initial, jit_compile=True)
    without = _final_weights(optimizer_cls, cycle_momentum=False, initial=initial, jit_compile=True)

    np.testing.assert_allclose(compiled, eager, rtol=0, atol=1e-6)
    np.testing.assert_allclose(xla, eager, rtol=0, atol=1e-6)
    # Cycling changed the updates: the run that keeps momentum fixed ends elsewhere.
    assert np.max(np.abs(without - eager)) > 1e-4


def test_stock_optimizer_with_cycle_momentum_is_refused():
    x, y = data()
    model = tiny_model(keras.optimizers.SGD(momentum=0.9))
    with pytest.raises(ValueError, match=r"keras_recipes\.optimizers\.SGD.*cycle_momentum=False"):
        model.fit(x, y, callbacks=[OneCycleScheduler(max_lr=0.1)], verbose=0)


def test_stock_optimizer_without_momentum_cycling_gets_the_lr_schedule():
    x, y = data()
    model = tiny_model(keras.optimizers.Adam())
    scheduler = OneCycleScheduler(max_lr=0.01, cycle_momentum=False)
    model.fit(x, y, batch_size=2, epochs=1, callbacks=[scheduler], verbose=0)
    assert set(scheduler.history) == {"step", "lr"}
    expected = [np.float32(torch_one_cycle(s, 10, 0.01)[0]) for s in range(10)]
    assert scheduler.history["lr"] == expected
    assert float(model.optimizer.learning_rate.numpy()) == expected[-1]


def test_learning_rate_schedule_is_refused_with_the_fix():
    x, y = data()
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    model = tiny_model(SGD(learning_rate=schedule, momentum=0.9))
    with pytest.raises(ValueError, match=r"LearningRateSchedule.*float learning rate"):
        model.fit(x, y, callbacks=[OneCycleScheduler(max_lr=0.1)], verbose=0)


@pytest.mark.filterwarnings("ignore:Your input ran out of data")
def test_unknown_length_dataset_needs_total_steps():
    x, y = data()
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).filter(lambda *_: True).batch(4)
    model = tiny_model(SGD(momentum=0.9))
    with pytest.raises(ValueError, match=r"Pass OneCycleScheduler\(max_lr, total_steps=\.\.\.\)"):
        model.fit(dataset, callbacks=[OneCycleScheduler(max_lr=0.1)], shuffle=False, verbose=0)
    # With total_steps it runs: 20 samples in batches of 4 are 5 steps.
    scheduler = OneCycleScheduler(max_lr=0.1, total_steps=5)
    model.fit(dataset, callbacks=[scheduler], shuffle=False, verbose=0)
    assert scheduler.history["step"] == [0, 1, 2, 3, 4]


def test_two_fits_continue_the_cycle_then_hold_the_final_value():
    x, y = data()
    split = OneCycleScheduler(max_lr=0.1, total_steps=20)
    model = tiny_model(SGD(momentum=0.9))
    model.fit(x, y, batch_size=2, epochs=1, callbacks=[split], verbose=0)
    model.fit(x, y, batch_size=2, epochs=1, callbacks=[split], verbose=0)
    whole = OneCycleScheduler(max_lr=0.1, total_steps=20)
    tiny_model(SGD(momentum=0.9)).fit(x, y, batch_size=2, epochs=2, callbacks=[whole], verbose=0)
    assert split.history == whole.history
    assert split.step == 20

    with pytest.warns(
        UserWarning, match=r"step 20 is past the end of the cycle \(total_steps=20\)"
    ):
        model.fit(x, y, batch_size=2, epochs=1, callbacks=[split], verbose=0)
    final_lr, final_momentum = np.float32(0.1 / 25 / 1e4), np.float32(0.95)
    assert split.history["step"][20:] == list(range(20, 30))
    assert split.history["lr"][20:] == [final_lr] * 10
    assert split.history["momentum"][20:] == [final_momentum] * 10
    assert float(model.optimizer.learning_rate.numpy()) == final_lr


def test_total_steps_is_fixed_by_the_first_fit():
    x, y = data()
    scheduler = OneCycleScheduler(max_lr=0.1)
    model = tiny_model(SGD(momentum=0.9))
    model.fit(x, y, batch_size=4, epochs=2, callbacks=[scheduler], verbose=0)
    assert scheduler.get_state()["total_steps"] == 10


def test_state_resumes_in_a_new_callback_through_json():
    x, y = data()
    uninterrupted = OneCycleScheduler(max_lr=0.1)
    tiny_model(SGD(momentum=0.9)).fit(
        x, y, batch_size=2, epochs=2, callbacks=[uninterrupted], verbose=0
    )

    model = tiny_model(SGD(momentum=0.9))
    interrupted = OneCycleScheduler(max_lr=0.1)
    stop = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: setattr(model, "stop_training", True)
    )
    model.fit(x, y, batch_size=2, epochs=2, callbacks=[interrupted, stop], verbose=0)
    saved = json.loads(json.dumps(interrupted.get_state()))
    assert saved == {"step": 10, "total_steps": 20, "history": interrupted.history}

    resumed = OneCycleScheduler(max_lr=0.1)
    resumed.set_state(saved)
    probe = ProbeOptimizer()
    model.fit(x, y, batch_size=2, epochs=2, initial_epoch=1, callbacks=[resumed, probe], verbose=0)
    assert resumed.history == uninterrupted.history
    assert resumed.get_state() == uninterrupted.get_state()
    assert probe.lr == uninterrupted.history["lr"][10:]


@pytest.mark.parametrize(
    ("state", "match"),
    [
        ({"step": 0, "history": {}}, r"keys \['step', 'total_steps', 'history'\]"),
        (
            {"step": -1, "total_steps": 5, "history": {"step": [], "lr": [], "momentum": []}},
            r"state\['step'\]` must be an int >= 0",
        ),
        (
            {"step": 0, "total_steps": 5, "history": {"step": [], "lr": []}},
            r"state\['history'\] must have the keys \['lr', 'momentum', 'step'\]",
        ),
        (
            {"step": 1, "total_steps": 5, "history": {"step": [0], "lr": [0.1], "momentum": []}},
            r"equal lengths",
        ),
        (
            {"step": 0, "total_steps": 7, "history": {"step": [], "lr": [], "momentum": []}},
            r"saved with total_steps=7, but this OneCycleScheduler has total_steps=5",
        ),
    ],
)
def test_set_state_rejects_bad_states(state, match):
    with pytest.raises(ValueError, match=match):
        OneCycleScheduler(max_lr=0.1, total_steps=5).set_state(state)


def test_mixed_precision_cycles_the_inner_optimizer(mixed_float16):
    x, y = data()
    scheduler = OneCycleScheduler(max_lr=0.1)
    probe = ProbeOptimizer()
    model = tiny_model(SGD(momentum=0.9), jit_compile=True)
    model.fit(x, y, batch_size=2, epochs=1, callbacks=[scheduler, probe], verbose=0)
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    expected = [torch_one_cycle(s, 10, 0.1) for s in range(10)]
    assert probe.lr == [np.float32(lr) for lr, _ in expected]
    assert probe.momentum == [np.float32(m) for _, m in expected]


def test_steps_per_execution_records_every_step():
    x, y = data()
    scheduler = OneCycleScheduler(max_lr=0.1)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    model.compile(optimizer=SGD(momentum=0.9), loss="mse", steps_per_execution=3)
    model.fit(x, y, batch_size=2, epochs=1, callbacks=[scheduler], verbose=0)
    # 10 steps run as 3 + 3 + 3 + 1; each call sets the value of its first step.
    assert scheduler.history["step"] == list(range(10))
    table = [np.float32(torch_one_cycle(s, 10, 0.1)[0]) for s in range(10)]
    assert scheduler.history["lr"] == [table[s] for s in (0, 0, 0, 3, 3, 3, 6, 6, 6, 9)]


def test_plot_draws_the_learning_rate_and_momentum_of_every_step(tmp_path, saved_figures):
    x, y = data()
    scheduler = OneCycleScheduler(max_lr=0.1)
    tiny_model(SGD(momentum=0.9)).fit(x, y, batch_size=4, callbacks=[scheduler], verbose=0)
    path = tmp_path / "one_cycle.png"
    scheduler.plot(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ((figure, _),) = saved_figures
    lr_axes, momentum_axes = figure.axes
    assert (lr_axes.get_ylabel(), momentum_axes.get_ylabel()) == ("learning rate", "momentum")
    assert momentum_axes.get_xlabel() == "step"
    for axes, key in ((lr_axes, "lr"), (momentum_axes, "momentum")):
        (line,) = axes.get_lines()
        np.testing.assert_array_equal(line.get_xdata(), scheduler.history["step"])
        np.testing.assert_array_equal(line.get_ydata(), scheduler.history[key])
    lrs = lr_axes.get_lines()[0].get_ydata()
    assert lrs[0] < max(lrs) > lrs[-1]  # one cycle: up, then down
    with pytest.raises(ValueError, match="no batch has been scheduled yet"):
        OneCycleScheduler(max_lr=0.1).plot(tmp_path / "empty.png")


def test_get_config_round_trips():
    scheduler = OneCycleScheduler(
        0.3,
        100,
        pct_start=0.25,
        div_factor=10.0,
        final_div_factor=100.0,
        anneal="linear",
        three_phase=True,
        cycle_momentum=False,
        base_momentum=0.8,
        max_momentum=0.9,
    )
    config = scheduler.get_config()
    assert config == {
        "max_lr": 0.3,
        "total_steps": 100,
        "pct_start": 0.25,
        "div_factor": 10.0,
        "final_div_factor": 100.0,
        "anneal": "linear",
        "three_phase": True,
        "cycle_momentum": False,
        "base_momentum": 0.8,
        "max_momentum": 0.9,
    }
    assert OneCycleScheduler(**config).get_config() == config


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_lr": 0.0}, r"Argument `max_lr` must be a number > 0.0. Received: max_lr=0.0"),
        (
            {"max_lr": 0.1, "total_steps": 0},
            r"`total_steps` must be an int >= 1. Received: total_steps=0",
        ),
        ({"max_lr": 0.1, "total_steps": 2.5}, r"Received: total_steps=2.5"),
        ({"max_lr": 0.1, "pct_start": 1.5}, r"`pct_start` must be a number in \[0.0, 1.0\]"),
        ({"max_lr": 0.1, "div_factor": 0}, r"`div_factor` must be a number > 0.0"),
        ({"max_lr": 0.1, "final_div_factor": -1.0}, r"`final_div_factor` must be a number > 0.0"),
        (
            {"max_lr": 0.1, "anneal": "cosine"},
            r"one of \['cos', 'linear'\]. Received: anneal='cosine'. Did you mean 'cos'\?",
        ),
        ({"max_lr": 0.1, "three_phase": 1}, r"`three_phase` must be a bool"),
        ({"max_lr": 0.1, "cycle_momentum": "yes"}, r"`cycle_momentum` must be a bool"),
        (
            {"max_lr": 0.1, "base_momentum": 1.2},
            r"`base_momentum` must be a number in \[0.0, 1.0\]",
        ),
        ({"max_lr": 0.1, "max_momentum": -0.1}, r"`max_momentum` must be a number in \[0.0, 1.0\]"),
    ],
)
def test_arguments_are_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        OneCycleScheduler(**kwargs)
