"""`train.py` writes TensorBoard logs; a resumed run holds each epoch exactly once."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from keras_recipes.callbacks.tensorboard import read_scalars
from keras_recipes.data import make_demo

ROOT = Path(__file__).resolve().parents[2]
STEPS_PER_EPOCH = 6  # 70% of 2 x 60 images in batches of 16


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return make_demo(tmp_path_factory.mktemp("tb") / "demo", n_per_class=60, size=40)


def train_args(data_dir, out, epochs):
    return [
        "--recipe", "default", "--data", str(data_dir), "--image-size", "32",
        "--width", "0.0625", "--epochs", str(epochs), "--batch-size", "16", "--out", str(out),
    ]  # fmt: skip


def run(argv, code=None):
    """train.py with `argv`, or `code` run first in the same process (to inject a fault)."""
    prelude = code or ""
    script = f"{prelude}\nimport sys\nfrom keras_recipes.cli.train import main as train_main\n"
    script += f"sys.exit(train_main({argv!r}))\n"
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT
    )


def steps(scalars, run_name, tag):
    return scalars[(scalars.run == run_name) & (scalars.tag == tag)].step.tolist()


def in_process(argv):
    """train.py with `argv` in this process (no fault to inject: no subprocess needed)."""
    from keras_recipes import cli

    return cli.main(["train", *argv])


@pytest.mark.slow
def test_two_epochs_of_loss_val_accuracy_and_learning_rate(data_dir, tmp_path):
    assert in_process(train_args(data_dir, tmp_path / "run", 2)) == 0
    scalars = read_scalars(tmp_path / "run" / "tensorboard")
    for run_name, tag in [
        ("train", "epoch_loss"),
        ("train", "epoch_accuracy"),
        ("train", "epoch_learning_rate"),
        ("train", "epoch_momentum"),  # the default recipe's 1cycle cycles SGD's momentum
        ("train", "epoch_images_per_second"),
        ("validation", "epoch_accuracy"),
        ("validation", "epoch_loss"),
    ]:
        assert steps(scalars, run_name, tag) == [0, 1], tag
    assert steps(scalars, "train", "batch_learning_rate") == list(range(2 * STEPS_PER_EPOCH))


@pytest.mark.slow
def test_no_tensorboard_writes_no_logs(data_dir, tmp_path):
    assert in_process([*train_args(data_dir, tmp_path / "run", 1), "--no-tensorboard"]) == 0
    assert not (tmp_path / "run" / "tensorboard").exists()


# Killed in epoch 2 after TensorBoard wrote it and before BackupAndRestore committed it:
# the worst moment, since the logs then hold an epoch that the checkpoint does not.
KILL_BEFORE_SECOND_CHECKPOINT = textwrap.dedent("""
    import os, keras
    commit = keras.callbacks.BackupAndRestore.on_epoch_end
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            os._exit(9)
        commit(self, epoch, logs)
    keras.callbacks.BackupAndRestore.on_epoch_end = on_epoch_end
""")


@pytest.mark.slow
def test_resume_after_a_kill_holds_each_epoch_once(data_dir, tmp_path):
    out = tmp_path / "run"
    killed = run(train_args(data_dir, out, 3), code=KILL_BEFORE_SECOND_CHECKPOINT)
    assert killed.returncode == 9, killed.stderr
    before = read_scalars(out / "tensorboard")
    assert steps(before, "train", "epoch_loss") == [0, 1]  # epoch 2 written, not committed
    assert in_process(["--resume", str(out)]) == 0
    scalars = read_scalars(out / "tensorboard")
    for run_name, tag in [
        ("train", "epoch_loss"),
        ("train", "epoch_learning_rate"),
        ("train", "epoch_images_per_second"),
        ("validation", "epoch_accuracy"),
    ]:
        assert steps(scalars, run_name, tag) == [0, 1, 2], tag
    assert steps(scalars, "train", "batch_learning_rate") == list(range(3 * STEPS_PER_EPOCH))
    iterations = [STEPS_PER_EPOCH * e for e in (1, 2, 3)]
    assert steps(scalars, "validation", "evaluation_accuracy_vs_iterations") == iterations
    # The same values as history.csv, which the resume test suite checks against an
    # uninterrupted run.
    import pandas as pd

    history = pd.read_csv(out / "history.csv")
    logged = scalars[(scalars.run == "train") & (scalars.tag == "epoch_loss")].value
    assert logged.round(5).tolist() == history["loss"].round(5).tolist()
