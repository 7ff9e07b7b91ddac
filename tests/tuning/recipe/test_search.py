"""`keras-recipes tune`: keras-tuner's oracles over the recipe space on the train-with-bo
engine; forbidden combinations are recorded as invalid and never trained; best.toml trains."""

import contextlib
import io
import json
import math
from dataclasses import replace

import keras
import keras_tuner
import numpy as np
import pandas as pd
import pytest

from keras_recipes import cli
from keras_recipes.errors import ConfigError
from keras_recipes.recipes import get_recipe, self_normalizing_violations
from keras_recipes.training import fit as training
from keras_recipes.training.fit import TrainingInterrupted
from keras_recipes.tuning.engine.outcome import TrialOutcome
from keras_recipes.tuning.recipe.config import RecipeSearchConfig
from keras_recipes.tuning.recipe.objective import RecipeObjective
from keras_recipes.tuning.recipe.search import run_recipe_search
from keras_recipes.tuning.recipe.space import RecipeSpace

TINY = ["--image-size", "32", "--width", "0.0625", "--epochs", "1", "--batch-size", "16"]
CHOICES = ["activation", "init", "normalization", "optimizer", "schedule", "dropout_kind"]


@pytest.fixture(autouse=True)
def _single_process(monkeypatch):
    for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def trained(monkeypatch):
    """The recipes `train()` was called with during the test."""
    recipes = []
    real = training.train

    def recording(recipe, *args, **kwargs):
        recipes.append(recipe)
        return real(recipe, *args, **kwargs)

    monkeypatch.setattr(training, "train", recording)
    return recipes


def fake_objective(params, epochs=None, trial_dir=None):
    """Stands in for training: a score from the learning rate, one epoch."""
    return TrialOutcome(0.5 + params["learning_rate"], best_epoch=1, epochs_run=epochs or 1)


def hyperparameter(hps, name):
    return next(hp for hp in hps.space if hp.name == name)


def run_cli(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exit_:  # argparse's own errors
            code = exit_.code
    return code, out.getvalue(), err.getvalue()


@pytest.mark.slow
def test_six_random_trials_train_only_valid_recipes_and_best_toml_trains(
    tiny_folder, tmp_path, trained
):
    folder = tiny_folder
    run_dir = tmp_path / "run"
    argv = ["tune", "--oracle", "random", "--max-trials", "6", "--seed", "0"]
    code, stdout, stderr = run_cli([*argv, "--data", str(folder), *TINY, "--out", str(run_dir)])
    assert code == 0, stderr

    frame = pd.read_csv(run_dir / "trials.csv", keep_default_na=False, na_values=[""])
    assert frame["trial"].tolist() == [1, 2, 3, 4, 5, 6]
    assert list(frame.columns) == [
        "trial",
        *CHOICES,
        "learning_rate",
        "weight_decay",
        "one_minus_momentum",
        "momentum",
        "best_val_accuracy",
        "best_epoch",
        "epochs_run",
        "seconds",
        "status",
        "reason",
    ]
    invalid = frame[frame["status"] == "invalid"]
    valid = frame[frame["status"] == "completed"]
    # Seed 0 draws one forbidden point among the six: SELU with batch norm.
    assert len(invalid) == 1 and len(valid) == 5
    assert invalid["reason"].str.contains("uses SELU but breaks").all()
    assert invalid["best_val_accuracy"].isna().all()
    assert "trials/006" not in {str(p.relative_to(run_dir)) for p in run_dir.glob("trials/*")}

    # Exactly the valid trials were trained, each a recipe the validation accepts.
    assert len(trained) == len(valid)
    trained_points = [
        (
            r.activation.name,
            r.init.kernel,
            "none" if r.normalization.kind == "none" else r.normalization.placement,
            r.optimizer.name,
            r.schedule.name,
            r.regularization.dropout_kind,
        )
        for r in trained
    ]
    assert trained_points == [tuple(row) for row in valid[CHOICES].itertuples(index=False)]
    for recipe in trained:
        assert recipe.activation.name != "selu" or not self_normalizing_violations(recipe)
    assert set(trained_points).isdisjoint(tuple(r) for r in invalid[CHOICES].values)

    # best.toml is the best trial's recipe; train.py's loader takes it and it trains.
    best = valid.loc[valid["best_val_accuracy"].idxmax()]
    assert f"best recipe: {run_dir / 'best.toml'}" in stdout
    recipe = get_recipe(str(run_dir / "best.toml"))
    assert recipe.activation.name == best["activation"]
    assert recipe.optimizer.learning_rate == pytest.approx(best["learning_rate"])
    assert recipe.optimizer.momentum == pytest.approx(best["momentum"])
    result = training.train(
        recipe.replace(training={"epochs": 1}), str(folder), image_size=32, width=0.0625, verbose=0
    )
    assert result.status == "completed" and len(result.history) == 1


@pytest.mark.slow
def test_tune_oracle_bohb_runs_hyperbands_brackets_and_promotions_continue(tiny_folder, tmp_path):
    run_dir = tmp_path / "run"
    argv = ["tune", "--oracle", "bohb", "--max-trials", "6", "--seed", "0"]
    tiny = [*TINY[:4], "--epochs", "3", "--batch-size", "16"]
    code, stdout, stderr = run_cli(
        [*argv, "--data", str(tiny_folder), *tiny, "--out", str(run_dir)]
    )
    assert code == 0, stderr
    assert "bohb: Hyperband brackets (max_epochs=3, factor 3, one iteration: 6 trials" in stdout
    frame = pd.read_csv(run_dir / "trials.csv", keep_default_na=False, na_values=[""])
    assert frame.columns[11:13].tolist() == ["budget", "bracket"]
    assert frame["budget"].tolist() == [1, 1, 1, 3, 3, 3]
    assert frame["bracket"].tolist() == [1, 1, 1, 1, 0, 0]
    # The promoted configuration continued its 1-epoch run: it trained epochs 2 and 3 only.
    promoted, parents = frame.iloc[3], frame.iloc[:3]
    assert promoted["status"] == "completed" and promoted["epochs_run"] == 2
    assert len(parents[(parents[CHOICES] == promoted[CHOICES]).all(axis=1)]) == 1
    assert (run_dir / "fidelity.json").is_file() and (run_dir / "best.toml").is_file()


@pytest.mark.slow
def test_a_trial_cut_off_mid_way_continues_from_its_checkpoint(tiny_folder, tmp_path):
    base = get_recipe("default").replace(training={"epochs": 2, "batch_size": 16})
    objective = RecipeObjective(base, data=str(tiny_folder), image_size=32, width=0.0625)
    point = {
        "activation": "elu",
        "init": "he_normal",
        "normalization": "none",
        "optimizer": "nadam",
        "schedule": "1cycle",
        "dropout_kind": "dropout",
        "learning_rate": 1e-3,
        "weight_decay": 1e-5,
        "one_minus_momentum": 0.05,
    }

    class StopAfterFirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt  # the search is stopped in the middle of this trial

    trial_dir = tmp_path / "trials" / "004"
    settings = {"image_size": 32, "width": 0.0625, "verbose": 0, "run_dir": trial_dir}
    with pytest.raises(TrainingInterrupted, match="training interrupted"):
        training.train(
            objective.recipe_for(point),
            objective.bundle(),
            callbacks=[StopAfterFirstEpoch()],
            **settings,
        )
    outcome = objective(point, trial_dir=trial_dir)  # the rerun of the trial on resume
    assert (outcome.status, outcome.epochs_run) == ("completed", 2)
    assert pd.read_csv(trial_dir / "history.csv")["epoch"].tolist() == [1, 2]


@pytest.mark.slow
@pytest.mark.parametrize("oracle", ["random", "bayesian", "hyperband", "bohb"])
def test_every_oracle_runs_and_invalid_points_never_reach_the_objective(oracle, tmp_path):
    seen = []

    def objective(params, epochs=None, trial_dir=None):
        seen.append(dict(params))
        return fake_objective(params, epochs)

    # SELU is valid here only with LeCun init, no batch norm and alpha dropout.
    space = RecipeSpace(activation=("selu", "elu"), optimizer=("adam", "nadam"))
    base = get_recipe("default").replace(training={"epochs": 9})
    config = RecipeSearchConfig(base, oracle=oracle, max_trials=8, space=space, seed=1)
    result = run_recipe_search(config, tmp_path / "run", objective=objective, verbose=False)

    frame = result.frame
    assert len(frame) == 8
    assert set(frame["status"]) == {"completed", "invalid"}
    points = frame[list(space.names)].to_dict("records")
    forbidden = [space.invalid_reason(base, point) is not None for point in points]
    assert (frame["status"] == "invalid").tolist() == forbidden
    assert len(seen) == forbidden.count(False)
    assert all(space.invalid_reason(base, point) is None for point in seen)
    assert frame.loc[frame["status"] == "invalid", "best_val_accuracy"].isna().all()


@pytest.mark.slow
def test_bohb_proposes_from_the_gp_over_the_recipe_space_and_records_budgets(tmp_path, capsys):
    def objective(params, epochs=None, trial_dir=None):
        score = 0.5 + params["learning_rate"] + 0.1 * (params["activation"] == "elu") - 1 / epochs
        return TrialOutcome(score, best_epoch=epochs, epochs_run=epochs)

    # Tuned: activation, optimizer, learning rate, weight decay, 1 - momentum (d = 5).
    space = RecipeSpace(
        activation=("relu", "elu"),
        init=("he_normal",),
        normalization=("none",),
        optimizer=("adam", "nadam"),
        schedule=("constant",),
        dropout_kind=("dropout",),
    )
    base = get_recipe("default").replace(training={"epochs": 9})
    config = RecipeSearchConfig(base, oracle="bohb", max_trials=23, space=space, seed=2)
    result = run_recipe_search(config, tmp_path / "run", objective=objective)

    out = capsys.readouterr().out
    assert (
        "bohb: Hyperband brackets (max_epochs=9, factor 3, one iteration: 23 trials, 87 "
        "epochs), new configurations from bayes_opt GP + EI fitted at the largest budget "
        "with >= 6 scores, 1/3 random; at most 23 trials"
    ) in out
    frame = result.frame
    assert len(frame) == 23 and set(frame["status"]) == {"completed"}
    assert frame["budget"].value_counts().to_dict() == {1: 9, 3: 8, 9: 6}
    state = json.loads(next((tmp_path / "run").rglob("oracle.json")).read_text())
    sources = [p["source"] for p in state["bohb"]["proposals"].values()]
    assert len(sources) == 9 + 5 + 3 and "gp" in sources
    gp_points = [
        frame.loc[frame["trial"] == int(t) + 1].iloc[0]
        for t, p in state["bohb"]["proposals"].items()
        if p["source"] == "gp"
    ]
    assert all(row["activation"] in ("relu", "elu") for row in gp_points)
    reports = json.loads((tmp_path / "run" / "fidelity.json").read_text())["reports"]
    assert reports[-1]["brackets_finished"] == 3


def test_a_search_of_forbidden_points_only_is_not_stopped_as_failing(tmp_path):
    # keras-tuner 1.4.8 turns INVALID trials into FAILED ones and stops a search after three
    # failures in a row; invalid points are reported as finished trials instead.
    space = RecipeSpace(activation=("selu",), init=("he_normal",))
    config = RecipeSearchConfig(get_recipe("default"), oracle="random", max_trials=5, space=space)
    result = run_recipe_search(config, tmp_path / "run", objective=fake_objective, verbose=False)
    assert result.frame["status"].tolist() == ["invalid"] * 5
    assert result.best is None
    assert not (tmp_path / "run" / "best.toml").exists()


def test_resume_keeps_finished_trials_and_extends_to_the_new_total(tmp_path):
    config = RecipeSearchConfig(get_recipe("default"), oracle="random", max_trials=3, seed=2)
    run_dir = tmp_path / "run"
    first = run_recipe_search(config, run_dir, objective=fake_objective, verbose=False).frame
    more = config.with_max_trials(5)
    with pytest.raises(ConfigError, match="already holds a keras-recipes tune run"):
        run_recipe_search(more, run_dir, objective=fake_objective, verbose=False)
    frame = run_recipe_search(
        more, run_dir, resume=True, objective=fake_objective, verbose=False
    ).frame
    assert frame["trial"].tolist() == [1, 2, 3, 4, 5]
    pd.testing.assert_frame_equal(frame.head(3), first, check_dtype=False)
    other = RecipeSearchConfig(get_recipe("default"), oracle="bayesian", max_trials=5, seed=2)
    with pytest.raises(ConfigError, match="with a different oracle: the run has 'random'"):
        run_recipe_search(other, run_dir, resume=True, objective=fake_objective, verbose=False)


@pytest.mark.parametrize("oracle", ["hyperband", "bohb"])
def test_min_epochs_and_more_hyperband_iterations_on_resume(oracle, tmp_path):
    base = get_recipe("default").replace(training={"epochs": 9})
    config = RecipeSearchConfig(base, oracle=oracle, max_trials=100, seed=2, min_epochs=3)
    run_dir = tmp_path / "run"
    first = run_recipe_search(config, run_dir, objective=fake_objective, verbose=False).frame
    # 5 x 3 -> 2 x 9, then 3 x 9: no 1-epoch bracket.
    assert first["budget"].tolist() == [3] * 5 + [9] * 5
    assert first["bracket"].tolist() == [1] * 7 + [0] * 3
    twice = replace(config, hyperband_iterations=2)
    frame = run_recipe_search(
        twice, run_dir, resume=True, objective=fake_objective, verbose=False
    ).frame
    assert len(frame) == 20 and frame["budget"].tolist()[10:] == first["budget"].tolist()
    pd.testing.assert_frame_equal(frame.head(10), first, check_dtype=False)
    with pytest.raises(ConfigError, match="--hyperband-iterations 1 is fewer than the run's 2"):
        run_recipe_search(config, run_dir, resume=True, objective=fake_objective, verbose=False)
    other_rung = r"different smallest rung \(--min-epochs\): the run has 3"
    with pytest.raises(ConfigError, match=other_rung):
        run_recipe_search(
            replace(twice, min_epochs=1),
            run_dir,
            resume=True,
            objective=fake_objective,
            verbose=False,
        )
    assert json.loads((run_dir / "tune.json").read_text())["hyperband_iterations"] == 2


def test_momentum_is_one_minus_a_log_uniform_sample():
    hp = hyperparameter(RecipeSpace().hyperparameters(), "one_minus_momentum")
    momentum = 1 - np.array([hp.random_sample(seed) for seed in range(2000)])
    assert momentum.min() >= 0.9 and momentum.max() <= 0.999
    # Log-uniform 1 - momentum in (1e-3, 1e-1): each decade gets half the samples.
    assert (momentum > 0.99).mean() == pytest.approx(0.5, abs=0.05)
    # keras-tuner's reverse_log on (0.9, 0.999) is something else: nearly uniform momentum.
    hps = keras_tuner.HyperParameters()
    hps.Float("m", 0.9, 0.999, sampling="reverse_log")
    rev = np.array([hyperparameter(hps, "m").random_sample(seed) for seed in range(2000)])
    assert (rev > 0.99).mean() < 0.15


def test_recipe_for_maps_the_point_onto_the_recipe():
    space = RecipeSpace()
    point = {
        "activation": "leaky_relu",
        "init": "glorot_uniform",
        "normalization": "before",
        "optimizer": "momentum",
        "schedule": "1cycle",
        "dropout_kind": "mc",
        "learning_rate": 0.02,
        "weight_decay": 3e-5,
        "one_minus_momentum": 0.01,
    }
    recipe = space.recipe_for(get_recipe("alexnet2012"), point, epochs=4)
    assert (recipe.normalization.kind, recipe.normalization.placement) == ("batch", "before")
    assert recipe.optimizer.momentum == pytest.approx(0.99)
    assert recipe.schedule.max_momentum == pytest.approx(0.99)
    assert recipe.schedule.base_momentum == 0.85
    assert recipe.regularization.weight_decay == 3e-5
    assert recipe.regularization.dropout_rate == 0.5  # the base's
    assert recipe.training.epochs == 4
    assert space.values(point)["momentum"] == pytest.approx(0.99)
    rmsprop = {**point, "optimizer": "rmsprop"}
    assert "cycle_momentum=true needs an optimizer with momentum" in space.invalid_reason(
        get_recipe("default"), rmsprop
    )


def test_inverse_sqrt_is_in_the_default_space_and_becomes_a_valid_recipe():
    space = RecipeSpace()
    choice = hyperparameter(space.hyperparameters(), "schedule")
    assert "inverse_sqrt" in choice.values
    point = {
        "activation": "elu",
        "init": "he_normal",
        "normalization": "none",
        "optimizer": "nadam",
        "schedule": "inverse_sqrt",
        "dropout_kind": "dropout",
        "learning_rate": 0.003,
        "weight_decay": 1e-5,
        "one_minus_momentum": 0.1,
    }
    assert space.invalid_reason(get_recipe("default"), point) is None
    assert space.recipe_for(get_recipe("default"), point).schedule.name == "inverse_sqrt"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"activation": ("sleu",)}, "Invalid choice 'sleu' for `activation`.*Did you mean 'selu'"),
        ({"normalization": ("before", "middle")}, "Invalid choice 'middle' for `normalization`"),
        ({"optimizer": ()}, "RecipeSpace.optimizer must be a non-empty list"),
        ({"learning_rate": (0.1, 0.01)}, r"must have 0 < low < high \(log scale\)"),
        ({"one_minus_momentum": (0.01, 1.5)}, "must have 0 < low < high < 1"),
        ({"init": ("he_normal", "he_normal")}, "lists a choice twice"),
    ],
)
def test_bad_spaces_are_clear_errors(changes, message):
    with pytest.raises(ConfigError, match=message):
        RecipeSpace(**changes)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--resume", "nowhere"], "nowhere is not a keras-recipes tune run directory"),
        (["--recipe", "sleu"], "Did you mean 'selu'?"),
        (["--init-points", "0"], "--init-points: expected a positive integer, got 0"),
        (["--oracle", "grid"], "invalid choice: 'grid'"),
        (
            ["--min-epochs", "3"],
            "--min-epochs 3 sets the smallest Hyperband rung; it applies to --oracle "
            "hyperband or bohb, not bayesian.",
        ),
        (
            ["--oracle", "random", "--hyperband-iterations", "2"],
            "--hyperband-iterations 2 repeats the brackets; it applies to --oracle hyperband "
            "or bohb, not random.",
        ),
        (["--oracle", "bohb", "--epochs", "9", "--min-epochs", "10"], "--min-epochs must be"),
        (["--oracle", "hyperband", "--hyperband-iterations", "0"], "--hyperband-iterations"),
    ],
)
def test_bad_flags_are_clear_errors(argv, message, tmp_path, trained):
    code, _, stderr = run_cli(["tune", *argv, "--out", str(tmp_path / "run")])
    assert code == 2
    assert message in stderr and "Traceback" not in stderr
    assert trained == [] and not (tmp_path / "run").exists()


def test_invalid_outcome_is_not_a_divergence():
    outcome = TrialOutcome(math.nan, status="invalid")
    assert outcome.invalid and not outcome.diverged


@pytest.mark.slow
def test_chief_and_two_workers_share_the_recipe_search(start_cli_module, tmp_path, tiny_folder):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    run_dir = tmp_path / "run"
    args = ["tune", "--oracle", "random", "--max-trials", "4", "--data", tiny_folder, *TINY]
    args += ["--out", run_dir]
    env = {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": port}
    chief = start_cli_module(*args, env={**env, "KERASTUNER_TUNER_ID": "chief"})
    workers = [
        start_cli_module(*args, env={**env, "KERASTUNER_TUNER_ID": f"tuner{i}"}) for i in range(2)
    ]
    for proc in (*workers, chief):
        assert proc.wait(timeout=400) == 0, proc.log_path.read_text()[-3000:]
    frame = pd.read_csv(run_dir / "trials.csv")
    assert sorted(frame["trial"]) == [1, 2, 3, 4]  # each trial once
    assert set(frame["status"]) <= {"completed", "invalid", "early_stopped", "diverged"}
    if (frame["status"] != "invalid").any():
        assert get_recipe(str(run_dir / "best.toml")).training.epochs == 1


def test_a_point_the_model_refuses_is_an_invalid_trial_not_an_error(tmp_path):
    from keras_recipes.training.setup import TrainSetup
    from keras_recipes.tuning.recipe.objective import RecipeObjective
    from keras_recipes.tuning.recipe.space import RecipeSpace

    def residual(input_shape, num_classes):
        inputs = keras.Input(input_shape)
        hidden = keras.layers.Dense(8, activation="relu")(inputs)
        hidden = keras.layers.Add()([hidden, keras.layers.Dense(8, activation="relu")(hidden)])
        return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(hidden))

    x = np.random.default_rng(0).normal(size=(40, 6)).astype("float32")
    setup = TrainSetup("default", (x, np.arange(40) % 2), model=residual)
    objective = RecipeObjective(setup, RecipeSpace())
    # A recipe the validation accepts (SELU, LeCun init, no batch norm, alpha dropout),
    # which a residual model cannot take: recorded "invalid", nothing trained.
    point = {"activation": "selu", "init": "lecun_normal", "normalization": "none",
             "optimizer": "adam", "schedule": "constant", "dropout_kind": "alpha",
             "learning_rate": 1e-3, "weight_decay": 1e-5, "one_minus_momentum": 0.1}  # fmt: skip
    assert objective.space.invalid_reason(objective.recipe, point) is None
    assert objective(point, epochs=1, trial_dir=tmp_path / "trial").status == "invalid"
    assert not (tmp_path / "trial").exists()
