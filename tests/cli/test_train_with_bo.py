"""train-with-bo's command line, in process: flags, defaults, resume rules, errors, exit codes."""

import json

import pandas as pd
import pytest

from keras_recipes.cli.train_with_bo import build_parser, main
from keras_recipes.tuning.bo import search


@pytest.fixture(autouse=True)
def _single_process(monkeypatch):
    for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        monkeypatch.delenv(name, raising=False)


def test_toy_prints_the_table_and_the_best_point(tmp_path, capsys):
    assert main(["--objective", "toy", "--n-iter", "3", "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "bo: bayes_opt GP + EI xi=0.01, 2 random + 3 guided = 5 trials" in out
    assert out.splitlines()[-1].startswith("best trial 5 of 5: x=2.9786 f=1.1008 run_dir=")
    saved = json.loads((tmp_path / "run" / "tuning.json").read_text())
    assert (saved["objective"], saved["init_points"], saved["n_iter"]) == ("toy", 2, 3)
    assert saved["bounds"] == {"x": [-2.0, 6.0]}


def test_defaults_of_the_train_objective_are_the_posts():
    from keras_recipes.cli.train_with_bo import build_config

    args = build_parser().parse_args([])
    config, run_dir, resume = build_config(args)
    assert (config.search, config.objective, config.acquisition) == ("bo", "train", "ei")
    assert (config.xi, config.kappa, config.init_points, config.n_iter) == (0.01, 2.576, 3, 27)
    assert config.space.pbounds == {
        "log10_learning_rate": (-5.0, -1.0),
        "log10_weight_decay": (-5.0, -1.0),
    }
    # Demo defaults: 64 px, width 0.25, 15 epochs per trial, batch 64.
    assert (config.setup.data, config.setup.image_size, config.setup.width) == ("demo", 64, 0.25)
    assert (config.epochs, config.recipe.training.batch_size, config.final_epochs) == (15, 64, 15)
    assert run_dir.parent.name == "runs" and run_dir.name.startswith("bo-")
    assert resume is False


def test_epochs_is_per_trial_and_final_epochs_the_recipes():
    from keras_recipes.cli.train_with_bo import build_config

    args = build_parser().parse_args(["--epochs", "2", "--recipe", "selu", "--search", "random"])
    config, run_dir, _ = build_config(args)
    assert (config.epochs, config.final_epochs, config.recipe.name) == (2, 15, "selu")
    assert run_dir.name.startswith("random-")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--bounds", "log10_learning_rate=-1,-5"],
            "--bounds log10_learning_rate=-1,-5: low must be < high; got low=-1, high=-5.",
        ),
        (
            ["--bounds", "log10_lr=-5,-1"],
            "Unknown parameter 'log10_lr' in --bounds log10_lr=-5,-1. Did you mean "
            "'log10_learning_rate'? Valid parameters: log10_learning_rate, log10_weight_decay.",
        ),
        (
            ["--objective", "toy", "--bounds", "log10_learning_rate=-5,-1"],
            "Unknown parameter 'log10_learning_rate' in --bounds log10_learning_rate=-5,-1. "
            "Valid parameters: x.",
        ),
        (["--init-points", "0"], "--init-points must be an integer >= 1; got 0."),
        (["--n-iter", "-1"], "--n-iter must be an integer >= 0; got -1."),
        (["--xi", "-0.5"], "--xi must be a finite number >= 0; got -0.5."),
        (["--search", "grid", "--init-points", "1", "--n-iter", "2"], "needs at least 2 points"),
        (["--objective", "toy", "--final-train"], "--final-train retrains a network"),
        (["--resume", "nowhere"], "nowhere is not a train-with-bo run directory"),
        (["--recipe", "nope"], "nope"),
        (["--kappa", "-1"], "--kappa must be a finite number >= 0; got -1.0."),
        (["--compare-with", "nowhere"], "--compare-with nowhere: nowhere is not a train-with-bo"),
    ],
)
def test_bad_input_is_a_clear_error_without_traceback(argv, message, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert message in err
    assert "Traceback" not in err


def toy_run(tmp_path, *extra):
    run_dir = tmp_path / "run"
    assert main(["--objective", "toy", "--n-iter", "2", "--out", str(run_dir), *extra]) == 0
    return run_dir


def test_resume_keeps_the_runs_settings_and_extends_with_n_iter(tmp_path, capsys):
    run_dir = toy_run(tmp_path, "--bounds", "x=-1,5", "--seed", "3")
    assert main(["--resume", str(run_dir), "--n-iter", "4"]) == 0
    out = capsys.readouterr().out
    assert "(resumed: 4 finished trials above are kept)" in out
    frame = pd.read_csv(run_dir / "trials.csv")
    assert frame["trial"].tolist() == [1, 2, 3, 4, 5, 6]
    assert frame["x"].between(-1, 5).all()
    saved = json.loads((run_dir / "tuning.json").read_text())
    assert (saved["seed"], saved["n_iter"], saved["bounds"]) == (3, 4, {"x": [-1.0, 5.0]})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--bounds", "x=-2,6"],
            "Cannot resume {run} with a different search space: the run has x=-1,5, this "
            "command asks for x=-2,6.",
        ),
        (
            ["--objective", "train"],
            "Cannot resume {run} with a different objective: the run has 'toy', this command "
            "asks for 'train'.",
        ),
        (["--init-points", "5"], "different init_points: the run has 2, this command asks for 5"),
        (["--out", "elsewhere"], "--out elsewhere and --resume {run} name different directories"),
    ],
)
def test_resume_with_other_settings_names_both(argv, message, tmp_path, capsys):
    run_dir = toy_run(tmp_path, "--bounds", "x=-1,5")
    capsys.readouterr()
    assert main(["--resume", str(run_dir), *argv]) == 2
    err = capsys.readouterr().err
    assert message.format(run=run_dir) in err
    assert "Traceback" not in err


def test_every_trial_failing_exits_1_with_the_cause(tmp_path, capsys, monkeypatch):
    def broken(config, toy_delay):
        def objective(params, **_):
            raise ModuleNotFoundError("No module named 'tensorboard'")

        return objective

    monkeypatch.setattr(search, "_objective", broken)
    assert main(["--objective", "toy", "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert "error: the search stopped: Number of consecutive failures exceeded" in err
    assert "3 x ModuleNotFoundError: No module named 'tensorboard' (trials 1, 2, 3)" in err


def test_help_documents_the_unauthenticated_oracle_and_the_loopback_default(capsys):
    with pytest.raises(SystemExit, match="0"):
        main(["--help"])
    out = capsys.readouterr().out
    assert "unauthenticated" in out
    assert "KERASTUNER_ORACLE_IP defaults to 127.0.0.1" in out
    for flag in ("--acq", "--xi", "--kappa", "--bounds", "--init-points", "--n-iter", "--seed"):
        assert flag in out
    assert "--toy-delay" not in out


def test_default_run_directory_is_runs_bo_timestamp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["--objective", "toy", "--n-iter", "0"]) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert run_dir.name.startswith("bo-")
    assert (run_dir / "trials.csv").is_file()


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--acq", "foo", "argument --acq: invalid choice: 'foo'"),
        ("--search", "x", "argument --search: invalid choice: 'x'"),
        ("--objective", "y", "argument --objective: invalid choice: 'y'"),
        ("--xi", "abc", "argument --xi: invalid float value: 'abc'"),
        ("--init-points", "two", "argument --init-points: invalid int value: 'two'"),
        ("--final-epochs", "many", "argument --final-epochs: invalid int value: 'many'"),
    ],
)
def test_unparseable_flag_values(flag, value, message, capsys):
    with pytest.raises(SystemExit, match="2"):
        main([flag, value])
    assert message in capsys.readouterr().err


def test_the_pruning_flags_defaults_are_the_engines():
    # Repeated in the CLI so that --help does not import keras-tuner and TensorFlow.
    from keras_recipes.cli import train_with_bo
    from keras_recipes.tuning.engine import pruning

    assert train_with_bo.PRUNE_RULES == pruning.PRUNE_RULES
    assert train_with_bo.DEFAULT_WARMUP_EPOCHS == pruning.DEFAULT_WARMUP_EPOCHS
    assert train_with_bo.DEFAULT_STARTUP_TRIALS == pruning.DEFAULT_STARTUP_TRIALS
