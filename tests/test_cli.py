"""The train command line: flags, the recipe table, and bad input as a message with exit 2."""

import subprocess
import sys
from pathlib import Path

import pytest

from keras_recipes import cli
from keras_recipes.recipes import list_recipes

ROOT = Path(__file__).resolve().parents[1]


def run_main(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_recipes_prints_every_recipe(capsys):
    code, out, _ = run_main(capsys, "train", "--list-recipes")
    assert code == 0
    for name in list_recipes():
        assert name in out
    assert "activation" in out.splitlines()[0]


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["--recipe", "slu"],
            r"Unknown recipe 'slu'. Valid recipes: alexnet2012.*Did you mean 'selu'",
        ),
        (["--set", "optimizer.learning_rat=0.1"], r"Unknown override key .*learning_rate"),
        (["--set", "optimizer.learning_rate=abc"], r"'abc' \(str\); expected a number"),
        (["--set", "optimizer.learning_rate=0"], r"`optimizer.learning_rate`: 0.0; it must be > 0"),
        (["--set", "regularization.dropout_rate=1"], r"dropout_rate`: 1.0; it must be in \[0, 1\)"),
        (["--image-size", "8"], r"Image size 8 is too small for the AlexNet geometry"),
    ],
)
def test_user_errors_exit_2_with_a_message(capsys, argv, message, tmp_path):
    code, _, err = run_main(capsys, "train", *argv, "--out", str(tmp_path / "run"))
    assert code == 2
    assert err.startswith("error: ")
    import re

    assert re.search(message, err), err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--epochs", "0", "expected a positive integer, got 0"),
        ("--epochs", "ten", "expected a positive integer, got 'ten'"),
        ("--batch-size", "-4", "expected a positive integer, got -4"),
        ("--image-size", "big", "expected a positive integer, got 'big'"),
        ("--width", "0", "expected a positive number, got 0"),
        ("--width", "wide", "expected a positive number, got 'wide'"),
        ("--seed", "x", "expected an integer, got 'x'"),
    ],
)
def test_invalid_flag_values(capsys, flag, value, message):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", flag, value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: {message}" in err


def test_unwritable_run_dir_fails_before_training(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, _, err = run_main(capsys, "train", "--out", str(blocker / "run"))
    assert code == 2
    assert "Cannot write the run directory" in err


def test_train_py_is_the_same_command():
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "train.py"),
            "--recipe",
            "selu",
            "--set",
            "normalization.kind=batch",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "breaks its self-normalising conditions: normalization.kind='batch'" in done.stderr
    assert "Traceback" not in done.stderr
