"""BayesOptOracle: the same points as bayes_opt's own `maximize`, lies for running trials,
JSON state, and no NaN ever told to the GP."""

import json
import math

import keras_tuner
import numpy as np
import pytest
from bayes_opt import BayesianOptimization, acquisition

from keras_recipes.errors import ConfigError
from keras_recipes.tuning.bo.oracle import BayesOptOracle
from keras_recipes.tuning.bo.search import run_search
from keras_recipes.tuning.bo.toy import TOY_BOUNDS, ToyObjective, toy_function
from keras_recipes.tuning.engine.tuner import ObjectiveTuner

OBJECTIVE = keras_tuner.Objective("f", "max")


def maximize_sequence(seed, init_points=2, n_iter=14):
    """The points bayes_opt's own loop probes, in order."""
    optimizer = BayesianOptimization(
        toy_function,
        TOY_BOUNDS,
        acquisition_function=acquisition.ExpectedImprovement(xi=0.01),
        random_state=seed,
        verbose=0,
    )
    optimizer.maximize(init_points=init_points, n_iter=n_iter)
    return [float(x) for x in optimizer.space.params[:, 0]], optimizer.max


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_points_equal_bayes_opt_maximize(seed, toy_config, tmp_path):
    expected, library_max = maximize_sequence(seed)
    result = run_search(toy_config(seed=seed), tmp_path / "run", verbose=False)
    assert result.frame["trial"].tolist() == list(range(1, 17))
    assert result.frame["x"].tolist() == expected
    assert result.best["f"] == library_max["target"]


def test_toy_reaches_the_posts_maximum_at_seed_0(toy_config, tmp_path):
    result = run_search(toy_config(seed=0), tmp_path / "run", verbose=False)
    assert result.best["f"] >= 1.705
    assert result.best["x"] == pytest.approx(0.640, abs=0.001)
    assert round(result.best["f"], 4) == 1.7068
    assert (tmp_path / "run" / "toy.png").is_file()


def run_trial(oracle, tuner_id):
    trial = oracle.create_trial(tuner_id)
    x = trial.hyperparameters.values["x"]
    oracle.update_trial(trial.trial_id, {"f": ToyObjective()({"x": x})})
    trial.status = "COMPLETED"
    oracle.end_trial(trial)
    return trial


def new_oracle(tmp_path, **kwargs):
    settings = {"init_points": 2, "n_iter": 10, "seed": 0}
    settings.update(kwargs)
    oracle = BayesOptOracle(OBJECTIVE, TOY_BOUNDS, **settings)
    oracle._set_project_dir(str(tmp_path), "project")
    return oracle


def test_running_trials_are_lies_so_two_workers_get_different_points(tmp_path):
    oracle = new_oracle(tmp_path)
    run_trial(oracle, "w0")
    run_trial(oracle, "w1")
    first = oracle.create_trial("w0")  # still running when w1 asks
    second = oracle.create_trial("w1")
    x0 = first.hyperparameters.values["x"]
    x1 = second.hyperparameters.values["x"]
    assert abs(x0 - x1) > 1e-3
    # The lie told for w0's point was its own point, at the best score so far.
    assert oracle._liar.dummies[0].tolist() == [x0]
    # Once both end, no lie is left over and both results are registered.
    for trial in (first, second):
        oracle.update_trial(
            trial.trial_id, {"f": float(toy_function(trial.hyperparameters.values["x"]))}
        )
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    assert len(oracle.optimizer.space) == 4
    assert oracle._pending_points() == []


def test_state_is_json_and_restores_the_next_suggestion(tmp_path):
    oracle = new_oracle(tmp_path)
    for _ in range(5):
        run_trial(oracle, "w0")
    state = json.loads(json.dumps(oracle.get_state()))
    restored = new_oracle(tmp_path)
    restored.trials = oracle.trials
    restored.set_state(state)
    assert restored.optimizer.space.params.tolist() == oracle.optimizer.space.params.tolist()
    assert restored.optimizer.space.target.tolist() == oracle.optimizer.space.target.tolist()
    assert restored._suggest() == oracle._suggest()


def test_state_from_another_space_is_refused_naming_both(tmp_path):
    oracle = new_oracle(tmp_path)
    run_trial(oracle, "w0")
    state = oracle.get_state()
    other = BayesOptOracle(OBJECTIVE, {"x": (-1.0, 5.0)}, init_points=2, n_iter=10)
    other.trials = oracle.trials
    with pytest.raises(
        ConfigError,
        match=r"saved search has bounds=\{'x': \[-2\.0, 6\.0\]\} but this one has "
        r"bounds=\{'x': \[-1\.0, 5\.0\]\}",
    ):
        other.set_state(state)


def test_nan_region_is_recorded_diverged_and_never_reaches_the_gp(tmp_path):
    def objective(params, **_):
        x = params["x"]
        return math.nan if x > 2.5 else float(toy_function(x))

    oracle = BayesOptOracle(OBJECTIVE, TOY_BOUNDS, init_points=3, n_iter=9, seed=0)
    tuner = ObjectiveTuner(oracle, objective, ["x"], directory=tmp_path, overwrite=True)
    tuner.search()
    trials = [oracle.trials[t] for t in oracle.end_order]
    assert len(trials) == 12
    assert all(t.status == "COMPLETED" for t in trials)
    diverged = [t for t in trials if t.hyperparameters.values["x"] > 2.5]
    assert diverged, "seed 0 samples the NaN region (x > 2.5)"
    assert {t.score for t in diverged} == {0.0}
    assert {t.metrics.get_last_value("status_code") for t in diverged} == {2.0}
    targets = oracle.optimizer.space.target
    assert len(targets) == 12 and np.isfinite(targets).all()


def test_bad_budget_and_seed_are_refused():
    with pytest.raises(ConfigError, match=r"init_points must be an integer >= 1; got 0"):
        BayesOptOracle(OBJECTIVE, TOY_BOUNDS, init_points=0)
    with pytest.raises(ConfigError, match=r"n_iter must be an integer >= 0; got -1"):
        BayesOptOracle(OBJECTIVE, TOY_BOUNDS, n_iter=-1)
    with pytest.raises(ConfigError, match=r"seed: expected an integer in 0\.\.4294967294, got -3"):
        BayesOptOracle(OBJECTIVE, TOY_BOUNDS, seed=-3)
    with pytest.raises(
        ConfigError, match=r"Unknown acquisition function 'pi'; valid: ei, ucb, poi"
    ):
        BayesOptOracle(OBJECTIVE, TOY_BOUNDS, acquisition="pi")


@pytest.mark.parametrize("acq", ["ucb", "poi"])
def test_other_acquisitions_run(acq, toy_config, tmp_path):
    result = run_search(toy_config(acquisition=acq, n_iter=4), tmp_path / acq, verbose=False)
    assert len(result.frame) == 6
    assert result.frame["status"].tolist() == ["completed"] * 6
