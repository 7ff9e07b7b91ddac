"""`keras-recipes compare`: the table, the CSVs and the plot; reruns skip finished runs, a
killed run continues, and bad input fails before anything trains."""

import contextlib
import io
import json
import shutil

import keras
import numpy as np
import pandas as pd
import pytest

from keras_recipes import cli
from keras_recipes.comparison import compare_recipes
from keras_recipes.comparison.compare import pair_state
from keras_recipes.data import load_data
from keras_recipes.errors import ConfigError
from keras_recipes.recipes import get_recipe
from keras_recipes.training import fit as training
from keras_recipes.training.fit import TrainingInterrupted

RECIPES = ["relu", "elu", "selu"]
TINY = ["--image-size", "32", "--width", "0.0625", "--epochs", "1", "--batch-size", "16"]


def compare_argv(folder, out, recipes=RECIPES, seeds=2, extra=()):
    return [
        "compare",
        "--recipes",
        *recipes,
        "--seeds",
        str(seeds),
        "--data",
        str(folder),
        *TINY,
        "--out",
        str(out),
        *extra,
    ]


def run_cli(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def compared(tiny_folder, tmp_path_factory):
    """3 recipes x 2 seeds, 1 epoch each, trained once for the module."""
    out = tmp_path_factory.mktemp("cmp") / "cmp"
    code, stdout, stderr = run_cli(compare_argv(tiny_folder, out))
    assert code == 0, stderr
    return out, stdout


@pytest.mark.slow
def test_tensorboard_gathers_every_recipe_and_seed_under_one_folder(compared):
    from keras_recipes.callbacks.tensorboard import read_scalars

    out, _ = compared
    scalars = read_scalars(out / "tensorboard")
    val = scalars[scalars.tag == "epoch_accuracy"].groupby("run").step.agg(list)
    runs = [f"{r}/seed{s}/{part}" for r in sorted(RECIPES) for s in (0, 1)
            for part in ("train", "validation")]  # fmt: skip
    assert val.index.tolist() == runs
    assert all(steps == [0] for steps in val)  # one epoch each


@pytest.fixture
def count_training(monkeypatch):
    """The list of (recipe name, seed) of every `train()` call made during the test."""
    calls = []
    real = training.train

    def counting(recipe, *args, **kwargs):
        calls.append((recipe.name, kwargs.get("seed")))
        return real(recipe, *args, **kwargs)

    monkeypatch.setattr(training, "train", counting)
    return calls


@pytest.mark.slow
def test_prints_the_table_sorted_by_mean_best_val_accuracy(compared):
    out, stdout = compared
    lines = stdout.splitlines()
    assert not lines[0].startswith("Using the built-in")  # --data given: no demo note
    assert "comparing 3 recipes x 2 seeds = 6 runs" in lines[0]
    assert sum(line.startswith("[") for line in lines) == 6
    header = next(line for line in lines if line.lstrip().startswith("recipe"))
    assert header.split() == [
        "recipe",
        "seeds",
        "best_val_accuracy",
        "best_epoch",
        "test_accuracy",
        "seconds",
        "images/s",
    ]
    table = pd.read_csv(out / "comparison_summary.csv")
    means = table["best_val_accuracy_mean"].tolist()
    assert means == sorted(means, reverse=True)
    printed = lines[lines.index(header) + 1 : lines.index(header) + 4]
    assert [row.split()[0] for row in printed] == table["recipe"].tolist()
    first = table.iloc[0]
    shown = f"{first['best_val_accuracy_mean']:.4f} ± {first['best_val_accuracy_std']:.4f}"
    assert shown in printed[0]


@pytest.mark.slow
def test_writes_per_run_csv_summary_csv_and_plot(compared):
    out, _ = compared
    runs = pd.read_csv(out / "comparison.csv")
    assert len(runs) == 6
    assert sorted(zip(runs["recipe"], runs["seed"], strict=True)) == sorted(
        (r, s) for r in RECIPES for s in (0, 1)
    )
    assert {"best_val_accuracy", "best_epoch", "test_accuracy", "wall_seconds"} <= set(runs)
    assert set(runs["status"]) == {"completed"}
    table = pd.read_csv(out / "comparison_summary.csv")
    assert list(table.columns[:6]) == [
        "recipe",
        "runs",
        "best_val_accuracy_mean",
        "best_val_accuracy_std",
        "best_val_accuracy_min",
        "best_val_accuracy_max",
    ]
    for row in table.itertuples():
        accs = runs.loc[runs["recipe"] == row.recipe, "best_val_accuracy"]
        assert row.best_val_accuracy_mean == pytest.approx(accs.mean())
        assert row.best_val_accuracy_std == pytest.approx(accs.std(ddof=1))
    assert (out / "comparison.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out / "selu" / "seed1" / "summary.json").read_text())
    assert summary["seed"] == 1 and summary["status"] == "completed"


@pytest.mark.slow
def test_rerun_with_the_same_out_trains_nothing(compared, count_training):
    out, stdout = compared
    before = (out / "comparison.csv").read_text()
    code, again, _ = run_cli(compare_argv(cli_data(out), out))
    assert code == 0
    assert count_training == []
    assert "6 finished earlier, 0 to train" in again
    assert printed_table(again) == printed_table(stdout)
    assert (out / "comparison.csv").read_text() == before


@pytest.mark.slow
def test_a_run_without_summary_is_trained_again_alone(compared, tmp_path, count_training):
    out = tmp_path / "cmp"
    shutil.copytree(compared[0], out)
    (out / "elu" / "seed1" / "summary.json").unlink()  # killed after fit, before the summary
    code, stdout, _ = run_cli(compare_argv(cli_data(compared[0]), out))
    assert code == 0
    assert count_training == [("elu", 1)]
    assert "5 finished earlier, 1 to train" in stdout


@pytest.mark.slow
def test_other_settings_on_the_same_out_are_refused(compared, count_training):
    out, _ = compared
    argv = compare_argv(cli_data(out), out)
    argv[argv.index("--epochs") + 1] = "2"
    code, _, stderr = run_cli(argv)
    assert code == 2
    assert "was trained with another version of recipe 'relu'" in stderr
    assert count_training == []


def test_unknown_recipe_fails_before_anything_trains(tiny_folder, tmp_path, count_training):
    code, _, stderr = run_cli(compare_argv(tiny_folder, tmp_path / "x", recipes=["relu", "sleu"]))
    assert code == 2
    assert "Unknown recipe 'sleu'" in stderr and "Did you mean 'selu'?" in stderr
    assert count_training == []
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--recipe", "relu"], "compare takes --recipes NAME"),
        (["--set", "training.epochs=0"], "training.epochs"),
    ],
)
def test_bad_flags_are_clear_errors(tiny_folder, tmp_path, extra, message, count_training):
    code, _, stderr = run_cli(compare_argv(tiny_folder, tmp_path / "x", extra=extra))
    assert code == 2
    assert message in stderr
    assert count_training == []


def test_a_recipe_listed_twice_is_refused():
    with pytest.raises(ConfigError, match="Recipe 'relu' is listed twice"):
        compare_recipes(["relu", "relu"], out="unused")


@pytest.mark.slow
def test_a_run_killed_mid_way_continues_from_its_checkpoint(tiny_folder, tmp_path, monkeypatch):
    bundle = load_data(str(tiny_folder), image_size=32, batch_size=16, seed=0)
    recipe = get_recipe("relu").replace(training={"epochs": 2, "batch_size": 16})
    real = training.train

    class StopAfterFirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt  # as Ctrl-C: train() writes the run, then re-raises

    def interrupted(recipe, *args, **kwargs):
        return real(recipe, *args, callbacks=[StopAfterFirstEpoch()], **kwargs)

    settings = {"seeds": 1, "out": tmp_path / "cmp", "image_size": 32, "width": 0.0625}
    monkeypatch.setattr(training, "train", interrupted)
    with pytest.raises(TrainingInterrupted, match="training interrupted"):
        compare_recipes([recipe], bundle, **settings)
    run_dir = tmp_path / "cmp" / "relu" / "seed0"
    assert pair_state(run_dir) == "resumable"

    monkeypatch.setattr(training, "train", real)
    result = compare_recipes([recipe], bundle, **settings)
    assert result.trained == [("relu", 0)]
    history = pd.read_csv(run_dir / "history.csv")
    assert history["epoch"].tolist() == [1, 2]
    assert json.loads((run_dir / "summary.json").read_text())["resumed_at_epoch"] == 1


def printed_table(stdout):
    return stdout[stdout.index("recipe  ") :]


def cli_data(out):
    """The --data of the comparison in `out` (its comparison.json records it)."""
    return json.loads((out / "comparison.json").read_text())["data"]


@pytest.mark.slow
def test_plot_draws_each_recipes_mean_and_band_over_its_seeds(compared, tmp_path, saved_figures):
    from keras_recipes.comparison.plot import plot_validation_curves

    out, _ = compared
    histories = pd.concat(
        pd.read_csv(out / recipe / f"seed{seed}" / "history.csv").assign(recipe=recipe, seed=seed)
        for recipe in RECIPES
        for seed in (0, 1)
    )
    order = pd.read_csv(out / "comparison_summary.csv")["recipe"].tolist()
    plot_validation_curves(histories, tmp_path / "c.png", order=order)
    ((figure, _),) = saved_figures
    (axes,) = figure.axes
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("epoch", "validation accuracy")
    assert [t.get_text() for t in axes.get_legend().get_texts()] == [
        f"{recipe} (2 seeds)" for recipe in order
    ]
    by_epoch = histories.groupby(["recipe", "epoch"])["val_accuracy"]
    for line, band, recipe in zip(axes.get_lines(), axes.collections, order, strict=True):
        expected = by_epoch.mean()[recipe]
        np.testing.assert_array_equal(line.get_xdata(), expected.index)
        np.testing.assert_allclose(line.get_ydata(), expected.to_numpy())
        # The band spans the seeds' minimum to maximum.
        ys = band.get_paths()[0].vertices[:, 1]
        assert ys.min() == pytest.approx(by_epoch.min()[recipe].min())
        assert ys.max() == pytest.approx(by_epoch.max()[recipe].max())
