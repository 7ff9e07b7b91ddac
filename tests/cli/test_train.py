"""The train command line: flags, the recipe table, and bad input as a message with exit 2."""

import json
import re
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from keras_recipes import cli
from keras_recipes.cli import train as train_cli
from keras_recipes.cli import train_with_bo as bo_cli
from keras_recipes.errors import ConfigError
from keras_recipes.recipes import list_recipes
from keras_recipes.seeds import MAX_SEED
from keras_recipes.training import fit as training
from keras_recipes.training import lr_range

ROOT = Path(__file__).resolve().parents[2]


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
    assert re.search(message, err), err
    assert "Traceback" not in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--epochs", "0", "expected a positive integer, got 0"),
        ("--epochs", "ten", "expected a positive integer, got 'ten'"),
        ("--batch-size", "-4", "expected a positive integer, got -4"),
        ("--image-size", "big", "expected a positive integer, got 'big'"),
        ("--width", "0", "expected a positive number, got 0"),
        ("--width", "wide", "expected a positive number, got 'wide'"),
        ("--seed", "x", "expected an integer in 0..4294967294, got 'x'"),
    ],
)
def test_invalid_flag_values(capsys, flag, value, message):
    with pytest.raises(SystemExit, match="2") as exit_info:
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


@pytest.mark.slow
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


# -- shared set-up of the tests below -----------------------------------------------------

TINY = ["--image-size", "32", "--width", "0.0625"]


@pytest.fixture(autouse=True)
def _single_process(monkeypatch):
    # tune and train-with-bo would join a distributed search if these were set.
    for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        monkeypatch.delenv(name, raising=False)


class _Stop(Exception):
    """Raised by a stand-in for train() once it has seen what it was asked to train."""


# -- precedence: the recipe's < the demo default < --set < --epochs / --batch-size ---------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("argv", "epochs", "batch_size"),
    [
        (["--set", "training.epochs=2", "--set", "training.batch_size=16"], 2, 16),
        (
            [
                "--set",
                "training.epochs=2",
                "--epochs",
                "1",
                "--set",
                "training.batch_size=16",
                "--batch-size",
                "8",
            ],
            1,
            8,
        ),
    ],
    ids=["set-over-demo-defaults", "flags-over-set"],
)
def test_train_on_the_demo_trains_the_epochs_and_batch_asked_for(
    argv, epochs, batch_size, tiny_demo, tmp_path, capsys
):
    out = tmp_path / "run"
    code, stdout, err = run_main(capsys, "train", *argv, *TINY, "--out", str(out))
    assert code == 0, err
    assert f"{epochs} epochs" in stdout.splitlines()[0]
    assert len(pd.read_csv(out / "history.csv")) == epochs
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["epochs_run"], summary["data"]["batch_size"]) == (epochs, batch_size)


@pytest.mark.slow
def test_compare_on_the_demo_trains_the_epochs_and_batch_asked_for(
    tiny_demo, tmp_path, monkeypatch
):
    seen = []

    def stand_in(recipe, *args, **kwargs):
        seen.append(recipe.training)
        raise _Stop("seen")

    monkeypatch.setattr(training, "train", stand_in)
    argv = ["compare", "--recipes", "relu", "--seeds", "1", *TINY, "--out", str(tmp_path / "c")]
    with pytest.raises(_Stop, match="seen"):
        cli.main([*argv, "--set", "training.epochs=2", "--set", "training.batch_size=16"])
    with pytest.raises(_Stop, match="seen"):
        cli.main([*argv, "--set", "training.epochs=2", "--epochs", "1", "--batch-size", "8"])
    assert [(t.epochs, t.batch_size) for t in seen] == [(2, 16), (1, 8)]


@pytest.mark.parametrize("command", ["tune", "train-with-bo"])
def test_tuning_trials_on_the_demo_get_the_epochs_and_batch_asked_for(command):
    from keras_recipes.cli import tune as recipe_cli

    module = recipe_cli if command == "tune" else bo_cli
    sets = ["--set", "training.epochs=4", "--set", "training.batch_size=16"]
    for argv, epochs, batch_size in [
        (sets, 4, 16),
        ([*sets, "--epochs", "2", "--batch-size", "8"], 2, 8),
    ]:
        config, _, _ = module.build_config(module.build_parser().parse_args(argv))
        assert (config.epochs, config.recipe.training.batch_size) == (epochs, batch_size)
        if command == "train-with-bo":
            assert config.final_epochs == 4  # --final-train: the recipe's, as --set made it


# -- bad input: exit 2 and no folder left behind; a good run's folder before epoch 1 --------

COMMANDS = {
    "train": (cli.main, ["train"]),
    "find-lr": (cli.main, ["train", "--find-lr"]),
    "compare": (cli.main, ["compare", "--recipes", "relu", "elu"]),
    "tune": (cli.main, ["tune", "--max-trials", "2"]),
    "train-with-bo": (bo_cli.main, ["--init-points", "1", "--n-iter", "0"]),
}


def _has_tfds() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorflow_datasets") is not None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("empty", "No images found in"),
        pytest.param(
            "tfds:cats_vs_dogs",
            "needs the tensorflow-datasets package",
            marks=pytest.mark.skipif(_has_tfds(), reason="tensorflow-datasets is installed"),
        ),
    ],
    ids=["empty-folder", "tfds-without-the-package"],
)
@pytest.mark.parametrize("command", COMMANDS)
def test_bad_data_exits_2_and_leaves_no_out_folder(command, data, message, tmp_path, capsys):
    main, argv = COMMANDS[command]
    if data == "empty":
        data = str(tmp_path / "empty")
        (tmp_path / "empty").mkdir()
    out = tmp_path / "out"
    code = main([*argv, "--data", data, *TINY, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and "Traceback" not in err
    assert not out.exists()


def test_the_run_folder_can_resume_from_before_the_first_epoch(
    tiny_folder, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "run"
    listings = []

    class Look(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            listings.append(sorted(path.name for path in out.iterdir()))

    real = training.train

    def looking(*args, callbacks=(), **kwargs):
        return real(*args, callbacks=[*callbacks, Look()], **kwargs)

    monkeypatch.setattr(training, "train", looking)
    argv = ["--data", str(tiny_folder), *TINY, "--epochs", "1", "--batch-size", "16"]
    code, _, err = run_main(capsys, "train", *argv, "--out", str(out))
    assert code == 0, err
    assert {"command.json", "recipe.toml"} <= set(listings[0])
    saved = json.loads((out / "command.json").read_text())
    assert saved["setup"]["recipe"]["training"]["epochs"] == 1


# -- --find-lr through the command line --------------------------------------------------


@pytest.mark.slow
def test_find_lr_prints_a_rate_writes_the_plot_and_sets_the_weights_back(
    tiny_folder, tmp_path, capsys, monkeypatch
):
    finders = []

    class Watched(lr_range.LRFinder):
        def on_train_begin(self, logs=None):
            super().on_train_begin(logs)
            self.before = self.model.get_weights()
            finders.append(self)

        def on_train_end(self, logs=None):
            self.swept = self.model.get_weights()
            super().on_train_end(logs)
            self.after = self.model.get_weights()

    monkeypatch.setattr(lr_range, "LRFinder", Watched)
    out = tmp_path / "lr"
    argv = ["--find-lr", "--data", str(tiny_folder), *TINY, "--batch-size", "8"]
    code, stdout, err = run_main(capsys, "train", *argv, "--out", str(out))
    assert code == 0, err
    (finder,) = finders
    printed = re.search(r"suggested_max_lr=(\S+) ", stdout).group(1)
    assert printed == f"{finder.suggestion():.3g}"
    assert f"train with --set optimizer.learning_rate={printed}" in stdout
    # Only the plot: no model, checkpoint or history of the sweep.
    assert sorted(path.name for path in out.iterdir()) == ["lr_finder.png"]
    assert (out / "lr_finder.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The sweep moved the weights; they were set back exactly.
    assert any(not np.array_equal(a, b) for a, b in zip(finder.before, finder.swept, strict=True))
    for before, after in zip(finder.before, finder.after, strict=True):
        np.testing.assert_array_equal(before, after)


# -- one seed rule for every command ------------------------------------------------------


@pytest.mark.parametrize("seed", ["-1", "99999999999", str(MAX_SEED + 1), "1.5"])
@pytest.mark.parametrize("command", COMMANDS)
def test_one_seed_rule_checked_where_the_flags_are_parsed(command, seed, tmp_path, capsys):
    main, argv = COMMANDS[command]
    with pytest.raises(SystemExit, match="2"):
        main([*argv, "--seed", seed, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert f"argument --seed: expected an integer in 0..{MAX_SEED}, got {seed}" in err.replace(
        "'", ""
    )
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_compare_checks_every_seed_it_will_use(tmp_path, capsys):
    argv = ["compare", "--recipes", "relu", "--seed", str(MAX_SEED - 1), "--seeds", "3"]
    with pytest.raises(SystemExit, match="2"):
        cli.main([*argv, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert f"seeds {MAX_SEED - 1}..{MAX_SEED + 1} pass {MAX_SEED}, the largest seed" in err
    assert not (tmp_path / "out").exists()


def test_the_largest_seed_is_valid_for_every_command():
    from keras_recipes.cli import compare as compare_cli
    from keras_recipes.cli import tune as recipe_cli

    seed = ["--seed", str(MAX_SEED)]
    assert train_cli.build_parser().parse_args(seed).seed == MAX_SEED
    assert compare_cli.build_parser().parse_args(["--recipes", "relu", *seed]).seed == MAX_SEED
    for module in (recipe_cli, bo_cli):
        config, _, _ = module.build_config(module.build_parser().parse_args(seed))
        assert config.seed == MAX_SEED


def test_the_library_applies_the_same_seed_rule():
    from keras_recipes.comparison import compare_recipes

    with pytest.raises(ConfigError, match=r"seed: expected an integer in 0\.\.4294967294, got -1"):
        training.train("relu", seed=-1)
    with pytest.raises(ConfigError, match=r"seeds: expected an integer in 0\.\.4294967294, got"):
        compare_recipes(["relu"], seeds=[MAX_SEED + 1], out="unused")
