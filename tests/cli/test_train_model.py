"""`--model MODULE:FUNCTION`: your own model from the command line, resumed with its run; a
bad spec, a subclassed model and SELU on a residual model are messages with exit 2."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from keras_recipes import cli
from keras_recipes.cli import train_with_bo as bo_cli

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--image-size", "32", "--epochs", "1", "--batch-size", "16"]
MODELS = """
import keras


def subclassed(input_shape, num_classes):
    class Net(keras.Model):
        def __init__(self):
            super().__init__(name="net")
            self.out = keras.layers.Dense(num_classes, activation="softmax")

        def call(self, x):
            return self.out(keras.layers.Flatten()(x))

    return Net()


def residual(input_shape, num_classes):
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(3, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Add(name="skip")([inputs, x])
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))
"""

COMMANDS = {
    "train": (cli.main, ["train"]),
    "compare": (cli.main, ["compare", "--recipes", "relu", "elu"]),
    "tune": (cli.main, ["tune", "--max-trials", "2"]),
    "train-with-bo": (bo_cli.main, ["--init-points", "1", "--n-iter", "0"]),
}


@pytest.fixture(autouse=True)
def _single_process(monkeypatch):
    for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("command", COMMANDS)
def test_a_bad_model_path_exits_2_before_any_data_or_folder(command, tmp_path, capsys):
    main, argv = COMMANDS[command]
    out = tmp_path / "out"
    code = main([*argv, "--model", "no/such_file.py:build", *TINY, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "error: --model no/such_file.py:build: no file no/such_file.py" in err
    assert "Traceback" not in err and "data:" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("function", "recipe", "message"),
    [
        ("subclassed", "relu", r"'net' \(Net\) is not a Sequential or Functional Keras model"),
        ("residual", "selu", r"uses SELU.*layers 'skip' merge branches"),
    ],
)
def test_models_the_recipe_cannot_take_exit_2(function, recipe, message, tiny_folder, tmp_path,
                                               capsys):  # fmt: skip
    (tmp_path / "models.py").write_text(MODELS)
    out = tmp_path / "out"
    spec = f"{tmp_path / 'models.py'}:{function}"
    argv = ["train", "--model", spec, "--recipe", recipe, "--data", str(tiny_folder)]
    code = cli.main([*argv, *TINY, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert re.search(message, err), err
    assert "Traceback" not in err and not out.exists()


def test_resume_takes_the_model_from_the_run(tmp_path, capsys):
    code = cli.main(["train", "--resume", str(tmp_path), "--model", "examples/my_model.py:build"])
    assert code == 2
    assert "drop --model" in capsys.readouterr().err


@pytest.mark.slow  # two train.py processes on the tiny set: about 25 s on 2 busy cores
def test_my_model_with_selu_is_killed_after_epoch_1_and_resumes(tiny_folder, tmp_path):
    out = tmp_path / "run"
    argv = ["--model", "examples/my_model.py:build", "--recipe", "selu", "--data",
            str(tiny_folder), "--image-size", "32", "--epochs", "3", "--batch-size", "16",
            "--out", str(out)]  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), *argv], cwd=ROOT, text=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    meta = out / "backup" / "training_metadata.json"
    deadline = time.monotonic() + 120
    while not _epochs_done(meta):
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "no checkpoint within 120 s"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    saved = json.loads((out / "command.json").read_text())["setup"]
    assert saved["model"] == "examples/my_model.py:build"
    done = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "--resume", str(out)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    history = pd.read_csv(out / "history.csv")
    assert history["epoch"].tolist() == [1, 2, 3]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["resumed_at_epoch"] >= 1
    assert "conv1_selu" in summary_layers(out)


def summary_layers(out: Path) -> str:
    """The layer names in the saved model's config (no model is loaded)."""
    import zipfile

    with zipfile.ZipFile(out / "model.keras") as archive:
        return archive.read("config.json").decode()


def _epochs_done(meta: Path) -> int:
    try:
        return json.loads(meta.read_text())["epoch"]
    except (OSError, ValueError, KeyError):  # absent, or caught mid-write
        return 0
