"""ResumableEarlyStopping: the count, best value and best weights carry over to a new fit()."""

import json

import keras
import numpy as np
import pytest

from keras_recipes.callbacks.resumable_early_stopping import ResumableEarlyStopping


class Scripted(keras.callbacks.Callback):
    """Writes a scripted val_accuracy into the logs, epoch by epoch (before the stopper)."""

    def __init__(self, values):
        super().__init__()
        self.values = values

    def on_epoch_end(self, epoch, logs=None):
        logs["val_accuracy"] = self.values[epoch]


def model_and_data():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    return model, x, x.sum(axis=1, keepdims=True)


def stopper(tmp_path, patience=2):
    return ResumableEarlyStopping(
        weights_dir=tmp_path,
        monitor="val_accuracy",
        mode="max",
        patience=patience,
        restore_best_weights=True,
    )


def test_a_resumed_fit_continues_the_count_and_restores_the_best_epoch(tmp_path):
    values = [0.5, 0.9, 0.6, 0.7, 0.65]  # best at epoch 2; stops after epoch 4 (patience 2)
    model, x, y = model_and_data()
    first = stopper(tmp_path)
    weights_per_epoch = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: weights_per_epoch.append(model.get_weights())
    )
    model.fit(x, y, epochs=3, verbose=0, callbacks=[Scripted(values), first, record])
    state = json.loads(json.dumps(first.get_state()))
    assert state == {
        "wait": 1,
        "best": 0.9,
        "best_epoch": 1,
        "best_weights_file": "early-stopping-best-epoch2.npz",
    }
    # The previous best stays until the next save: a kill before epoch 2's checkpoint
    # resumes from epoch 1's state, which names it.
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "early-stopping-best-epoch1.npz",
        "early-stopping-best-epoch2.npz",
    ]

    # A new process: a fresh callback, the state from JSON, fit from epoch 3.
    second = stopper(tmp_path)
    second.set_state(state)
    history = model.fit(
        x, y, epochs=5, initial_epoch=3, verbose=0, callbacks=[Scripted(values), second]
    )
    assert len(history.history["loss"]) == 1  # epoch 4: wait 2 -> stop
    assert second.stopped_epoch == 3
    for restored, best in zip(model.get_weights(), weights_per_epoch[1], strict=True):
        np.testing.assert_array_equal(restored, best)


def test_a_state_of_another_shape_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"Argument `state` must be a dict with keys"):
        stopper(tmp_path).set_state({"wait": 1})
