"""RunTensorBoard and trim_event_files, read back with TensorBoard's own reader."""

import keras
import numpy as np
import tensorflow as tf

from keras_recipes.callbacks import OneCycleScheduler, ThroughputMeter
from keras_recipes.callbacks.tensorboard import (
    RunTensorBoard,
    log_dir_for,
    read_scalars,
    trim_event_files,
)
from keras_recipes.optimizers import SGD, Adam


def fit(log_dir, optimizer, epochs=3, one_cycle=True):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer, "mse")
    meter = ThroughputMeter(batch_size=2)
    schedule = OneCycleScheduler(0.1, total_steps=2 * epochs) if one_cycle else None
    board = RunTensorBoard(log_dir, meter=meter, one_cycle=schedule)
    callbacks = [c for c in (schedule, meter, board) if c is not None]
    x, y = np.ones((4, 2)), np.ones((4, 1))
    model.fit(x, y, batch_size=2, epochs=epochs, verbose=0, validation_data=(x, y),
              callbacks=callbacks)  # fmt: skip
    return schedule, read_scalars(log_dir)


def steps(scalars, run, tag):
    return scalars[(scalars.run == run) & (scalars.tag == tag)].step.tolist()


def test_epoch_and_batch_scalars_are_those_of_the_schedule(tmp_path):
    schedule, scalars = fit(tmp_path, SGD(momentum=0.9))
    for tag in ("epoch_loss", "epoch_learning_rate", "epoch_momentum", "epoch_images_per_second"):
        assert steps(scalars, "train", tag) == [0, 1, 2], tag
    assert steps(scalars, "validation", "epoch_loss") == [0, 1, 2]
    batch = scalars[(scalars.run == "train") & (scalars.tag == "batch_learning_rate")]
    assert batch.step.tolist() == schedule.history["step"] == list(range(6))
    np.testing.assert_allclose(batch.value, schedule.history["lr"], rtol=1e-6)
    momentum = scalars[scalars.tag == "batch_momentum"].value
    np.testing.assert_allclose(momentum, schedule.history["momentum"], rtol=1e-6)
    assert (scalars[scalars.tag == "epoch_images_per_second"].value > 0).all()


def test_adam_cycles_beta_1_under_its_own_name(tmp_path):
    _, scalars = fit(tmp_path, Adam(), epochs=1)
    assert {"epoch_beta_1", "batch_beta_1"} <= set(scalars.tag)
    assert "epoch_momentum" not in set(scalars.tag)


def test_without_a_cycle_no_momentum_or_batch_values(tmp_path):
    _, scalars = fit(tmp_path, keras.optimizers.SGD(0.01), epochs=1, one_cycle=False)
    tags = set(scalars[scalars.run == "train"].tag)
    assert tags == {"epoch_loss", "epoch_learning_rate", "epoch_images_per_second"}


def test_trim_keeps_the_checkpointed_epochs_only(tmp_path):
    fit(tmp_path, SGD(momentum=0.9), epochs=3)
    dropped = trim_event_files(tmp_path, epochs_done=2, steps_done=4)
    scalars = read_scalars(tmp_path)
    assert steps(scalars, "train", "epoch_loss") == [0, 1]
    assert steps(scalars, "validation", "epoch_loss") == [0, 1]
    assert steps(scalars, "train", "batch_learning_rate") == [0, 1, 2, 3]
    assert steps(scalars, "validation", "evaluation_loss_vs_iterations") == [2, 4]
    assert dropped == 10  # epoch 3: 4 train scalars, 2 validation; steps 4, 5: lr, momentum
    assert trim_event_files(tmp_path, epochs_done=2, steps_done=4) == 0


def test_trim_to_zero_epochs_empties_the_log_folders(tmp_path):
    fit(tmp_path, SGD(momentum=0.9), epochs=1)
    trim_event_files(tmp_path, epochs_done=0, steps_done=0)
    assert not list(tmp_path.rglob("events.out.tfevents.*"))


def test_trim_leaves_other_folders_alone(tmp_path):
    with tf.summary.create_file_writer(str(tmp_path)).as_default():
        tf.summary.scalar("best_val_accuracy", 0.5, step=7)
    trim_event_files(tmp_path, epochs_done=0, steps_done=0)
    assert read_scalars(tmp_path).step.tolist() == [7]


def test_log_dir_for_a_run_without_a_folder_is_none():
    assert log_dir_for(None, True) is None
    assert str(log_dir_for(None, "elsewhere")) == "elsewhere"
