"""`--prune median`: the rule (MedianPruner on scripted epochs against finished trials on
disk), the pruned trial through TrainObjective and run_search, and the flag on resume."""

import json

import keras
import numpy as np
import pandas as pd
import pytest

from keras_recipes.cli.train_with_bo import build_config, build_parser, main
from keras_recipes.data import make_demo
from keras_recipes.recipes import get_recipe
from keras_recipes.training.setup import TrainSetup
from keras_recipes.tuning.bo import search
from keras_recipes.tuning.bo.config import TuningConfig
from keras_recipes.tuning.bo.objective import TrainObjective
from keras_recipes.tuning.bo.space import TRAIN_BOUNDS, SearchSpace
from keras_recipes.tuning.engine.pruning import PRUNED_MARKER, MedianPruner

PEERS = [0.6, 0.7, 0.8, 0.9, 1.0]  # five finished trials: median best-so-far 0.8


def finished_trial(root, name, curve, status="completed"):
    """A trial folder as train() leaves it: history.csv and summary.json."""
    folder = root / name
    folder.mkdir(parents=True)
    epochs = range(1, len(curve) + 1)
    pd.DataFrame({"epoch": epochs, "val_accuracy": curve}).to_csv(
        folder / "history.csv", index=False
    )
    (folder / "summary.json").write_text(json.dumps({"status": status}))
    return folder


def peers(root, values=PEERS, epochs=6):
    for i, value in enumerate(values):
        finished_trial(root, f"{i + 1:03d}", [value] * epochs)


class ScriptedValAccuracy(keras.callbacks.Callback):
    """Puts `curve[epoch]` into the logs as val_accuracy (runs before the pruner)."""

    def __init__(self, curve):
        super().__init__()
        self.curve = curve

    def on_epoch_end(self, epoch, logs=None):
        logs["val_accuracy"] = self.curve[epoch]


def epochs_run(pruner, curve):
    """Fits a tiny model for len(curve) epochs with the scripted val accuracy; epochs run."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    history = model.fit(
        np.ones((4, 2)),
        np.ones((4, 1)),
        epochs=len(curve),
        verbose=0,
        callbacks=[ScriptedValAccuracy(curve), pruner],
    )
    return len(history.epoch)


def pruner_for(root, **settings):
    """The pruner of trial 100 (its folder made, as train() makes it)."""
    (root / "100").mkdir(exist_ok=True)
    settings = {"warmup_epochs": 0, "startup_trials": 5, **settings}
    return MedianPruner(root, root / "100", **settings)


@pytest.mark.parametrize(("warmup", "stopped_at"), [(0, 1), (2, 3), (4, 5)])
def test_a_trial_below_the_median_stops_at_the_first_epoch_after_the_warmup(
    tmp_path, warmup, stopped_at
):
    peers(tmp_path)
    pruner = pruner_for(tmp_path, warmup_epochs=warmup)
    assert epochs_run(pruner, [0.75] * 6) == stopped_at
    assert pruner.pruned_at_epoch == stopped_at
    marker = json.loads((tmp_path / "100" / PRUNED_MARKER).read_text())
    assert marker == pytest.approx(
        {"epoch": stopped_at, "best_so_far": 0.75, "median": 0.8, "trials": 5}
    )


@pytest.mark.parametrize("value", [0.85, 0.8])  # above, and equal to (not below) the median
def test_a_trial_not_below_the_median_runs_every_epoch(tmp_path, value):
    peers(tmp_path)
    pruner = pruner_for(tmp_path)
    assert epochs_run(pruner, [value] * 6) == 6
    assert pruner.pruned_at_epoch is None
    assert not (tmp_path / "100" / PRUNED_MARKER).exists()


def test_best_so_far_is_compared_on_both_sides(tmp_path):
    # The peers peak at epoch 1: their best-so-far stays 0.9 although they end at 0.1.
    peers(tmp_path, values=[0.9] * 5)
    for folder in sorted(tmp_path.iterdir()):
        finished = pd.read_csv(folder / "history.csv")
        finished["val_accuracy"] = [0.9, 0.1, 0.1, 0.1, 0.1, 0.1]
        finished.to_csv(folder / "history.csv", index=False)
    # This trial's last value falls to 0.2 but its best so far (0.95) stays above 0.9.
    assert epochs_run(pruner_for(tmp_path), [0.95, 0.2, 0.2, 0.2]) == 4
    # A trial rising to 0.8 is below the peers' best-so-far (0.9), not their last value (0.1).
    assert epochs_run(pruner_for(tmp_path, warmup_epochs=1), [0.5, 0.6, 0.7, 0.8]) == 2


def test_pruning_waits_for_the_startup_trials_and_counts_only_finished_ones(tmp_path):
    peers(tmp_path, values=PEERS[:4])
    # Not finished ones: pruned, diverged, and one still running (no summary.json yet).
    finished_trial(tmp_path, "005", [1.0] * 6, status="early_stopped")
    (tmp_path / "005" / PRUNED_MARKER).write_text("{}")
    finished_trial(tmp_path, "006", [1.0] * 6, status="diverged")
    finished_trial(tmp_path, "007", [1.0] * 6)
    (tmp_path / "007" / "summary.json").unlink()
    assert epochs_run(pruner_for(tmp_path), [0.5] * 6) == 6
    # The recipe's own early stopping counts as finished: the fifth trial starts pruning.
    finished_trial(tmp_path, "008", [1.0] * 3, status="early_stopped")
    assert epochs_run(pruner_for(tmp_path), [0.5] * 6) == 1


def test_the_last_epoch_and_epochs_no_finished_trial_reached_are_not_pruned(tmp_path):
    peers(tmp_path, values=[0.5] * 5, epochs=3)
    for folder in sorted(tmp_path.iterdir()):
        pd.DataFrame({"epoch": [1, 2, 3], "val_accuracy": [0.5, 0.5, 0.95]}).to_csv(
            folder / "history.csv", index=False
        )
    # Below the median only at epoch 3, the last: nothing left to save.
    assert epochs_run(pruner_for(tmp_path), [0.8, 0.8, 0.8]) == 3
    # Epochs 4-6: no finished trial ran that far, so there is no median to fall below.
    assert epochs_run(pruner_for(tmp_path, warmup_epochs=3), [0.1] * 6) == 6


def test_a_resumed_trial_counts_the_epochs_before_the_cut_off(tmp_path):
    peers(tmp_path)
    resumed = pruner_for(tmp_path, history=[0.9])
    assert epochs_run(resumed, [0.5] * 6) == 6
    assert epochs_run(pruner_for(tmp_path), [0.5] * 6) == 1


def test_bad_pruner_settings_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="startup_trials >= 1; got 0, 0"):
        MedianPruner(tmp_path, warmup_epochs=0, startup_trials=0)


# -- through train(): TrainObjective and run_search ------------------------------------------

PARAMS = {"log10_learning_rate": -2.5, "log10_weight_decay": -4.0}


def tiny_objective(**settings):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (40, 40, 40, 3), dtype=np.uint8)
    recipe = get_recipe("relu").with_overrides(["training.epochs=3", "training.batch_size=8"])
    return TrainObjective(
        recipe,
        (x, np.arange(40) % 2),
        image_size=32,
        width=0.0625,
        prune="median",
        prune_warmup_epochs=1,
        prune_startup_trials=1,
        **settings,
    )


@pytest.mark.slow
def test_train_objective_prunes_below_the_median_and_not_above(tmp_path):
    best = tmp_path / "best"
    finished_trial(best, "001", [1.0, 1.0, 1.0])
    objective = tiny_objective()
    outcome = objective(PARAMS, trial_dir=best / "002")
    assert (outcome.status, outcome.epochs_run) == ("pruned", 2)
    history = pd.read_csv(best / "002" / "history.csv")
    assert outcome.score == pytest.approx(history["val_accuracy"].max())
    summary = json.loads((best / "002" / "summary.json").read_text())
    assert summary["status"] == "pruned"
    assert summary["pruned"]["median"] == 1.0 and summary["pruned"]["epoch"] == 2

    worst = tmp_path / "worst"
    finished_trial(worst, "001", [0.0, 0.0, 0.0])
    outcome = objective(PARAMS, trial_dir=worst / "002")
    assert (outcome.status, outcome.epochs_run) == ("completed", 3)
    assert not (worst / "002" / PRUNED_MARKER).exists()


@pytest.mark.slow
def test_run_search_records_pruned_trials_and_tells_the_gp(tmp_path, monkeypatch, capsys):
    folder = make_demo(tmp_path / "demo", n_per_class=20, size=36)
    recipe = get_recipe("default").replace(training={"epochs": 3, "batch_size": 16})
    config = TuningConfig(
        space=SearchSpace.from_mapping(TRAIN_BOUNDS),
        init_points=2,
        n_iter=0,
        setup=TrainSetup(recipe, str(folder), image_size=32, width=0.0625),
        prune="median",
        prune_warmup_epochs=1,
        prune_startup_trials=1,
    )
    run_dir = tmp_path / "run"
    # A finished trial at 100% from epoch 1: every trial of this run falls below it.
    finished_trial(run_dir / "trials", "000", [1.0, 1.0, 1.0])
    oracles = []

    def keep_oracle(*args, **kwargs):
        oracle, plan = build_oracle(*args, **kwargs)
        oracles.append(oracle)
        return oracle, plan

    build_oracle = search.build_oracle
    monkeypatch.setattr(search, "build_oracle", keep_oracle)
    search.run_search(config, run_dir)

    frame = pd.read_csv(run_dir / "trials.csv")
    assert frame["status"].tolist() == ["pruned", "pruned"]
    assert frame["epochs_run"].tolist() == [2, 2]
    so_far = [
        pd.read_csv(run_dir / "trials" / f"{n:03d}" / "history.csv")["val_accuracy"].max()
        for n in (1, 2)
    ]
    assert frame["best_val_accuracy"].tolist() == pytest.approx(so_far)
    # The GP got both scores so far.
    assert sorted(oracles[0].optimizer.space.target) == pytest.approx(sorted(so_far))
    out = capsys.readouterr().out
    assert "pruning: median rule after 1 warm-up epoch, once 1 trial has finished" in out
    assert sum(line.rstrip().endswith(" pruned") for line in out.splitlines()) == 2


# -- the flags -------------------------------------------------------------------------------


def saved_run(tmp_path, **prune):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    config = TuningConfig(
        space=SearchSpace.from_mapping(TRAIN_BOUNDS),
        setup=TrainSetup(
            get_recipe("default").replace(training={"epochs": 6}), image_size=64, width=0.25
        ),
        **prune,
    )
    config.save(run_dir)
    return run_dir


def test_resume_keeps_the_pruning_of_the_run(tmp_path):
    run_dir = saved_run(tmp_path, prune="median", prune_warmup_epochs=3, prune_startup_trials=4)
    config, _, resume = build_config(build_parser().parse_args(["--resume", str(run_dir)]))
    assert resume
    assert (config.prune, config.prune_warmup_epochs, config.prune_startup_trials) == (
        "median",
        3,
        4,
    )
    assert json.loads((run_dir / "tuning.json").read_text())["prune"] == {
        "rule": "median",
        "warmup_epochs": 3,
        "startup_trials": 4,
    }


@pytest.mark.parametrize(
    ("saved", "argv", "message"),
    [
        (
            {"prune": "median"},
            ["--prune", "none"],
            "Cannot resume {run} with a different pruning (--prune, --prune-warmup-epochs, "
            "--prune-startup-trials): the run has --prune median --prune-warmup-epochs 2 "
            "--prune-startup-trials 5, this command asks for --prune none.",
        ),
        ({}, ["--prune", "median"], "the run has --prune none, this command asks for --prune "),
        (
            {"prune": "median"},
            ["--prune-warmup-epochs", "1"],
            "this command asks for --prune median --prune-warmup-epochs 1 --prune-startup-",
        ),
    ],
)
def test_resume_with_other_pruning_names_both(saved, argv, message, tmp_path, capsys):
    run_dir = saved_run(tmp_path, **saved)
    assert main(["--resume", str(run_dir), *argv]) == 2
    err = capsys.readouterr().err
    assert message.format(run=run_dir) in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--objective", "toy", "--prune", "median"], "--prune median stops training epochs"),
        (["--search", "hyperband", "--prune", "median"], "does not combine with --search hyper"),
        (
            ["--epochs", "3", "--prune", "median", "--prune-warmup-epochs", "2"],
            "--prune-warmup-epochs 2 leaves no epoch to prune in trials of 3 epochs (the last "
            "one is never pruned); choose at most 1, or more --epochs.",
        ),
        (["--prune-warmup-epochs", "-1"], "--prune-warmup-epochs must be an integer >= 0; got -1"),
        (["--prune-startup-trials", "0"], "--prune-startup-trials must be an integer >= 1; got 0"),
    ],
)
def test_bad_pruning_flags_are_clear_errors(argv, message, tmp_path, capsys):
    assert main([*argv, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert message in err
    assert "Traceback" not in err


def test_an_unknown_rule_names_the_choices(capsys):
    with pytest.raises(SystemExit, match="2"):
        main(["--prune", "mean"])
    assert "argument --prune: invalid choice: 'mean' (choose from" in capsys.readouterr().err
