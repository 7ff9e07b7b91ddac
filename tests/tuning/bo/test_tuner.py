"""BayesOptTuner and BayesOptOracle over keras-tuner HyperParameters: the encoding of each
type round-trips, the points are bayes_opt's, resume continues the same points, NaN trials
and conditional hyperparameters are handled."""

import math

import keras_tuner
import numpy as np
import pytest
from bayes_opt import BayesianOptimization, acquisition

from keras_recipes import _compat
from keras_recipes.errors import ConfigError
from keras_recipes.tuning import BayesOptTuner
from keras_recipes.tuning.bo.hp_space import HPSpace
from keras_recipes.tuning.bo.oracle import BayesOptOracle, use_ard_kernel

MAX = keras_tuner.Objective("score", "max")

pytestmark = pytest.mark.filterwarnings(
    "ignore:Non-float parameters are experimental", "ignore:All-NaN axis encountered"
)


def mixed_space() -> keras_tuner.HyperParameters:
    hp = keras_tuner.HyperParameters()
    hp.Float("lr", 1e-4, 1e-1, sampling="log")
    hp.Float("dropout", 0.0, 0.5)
    hp.Int("units", 16, 128, step=16)
    hp.Choice("activation", ["relu", "tanh", "elu"])
    hp.Boolean("batch_norm")
    hp.Fixed("epochs", 3)
    return hp


def score(values) -> float:
    return (
        -((math.log10(values["lr"]) + 2.5) ** 2)
        - ((values["units"] - 64) / 64) ** 2
        - values["dropout"]
        + (0.3 if values["activation"] == "tanh" else 0.0)
        + (0.2 if values["batch_norm"] else 0.0)
    )


def new_oracle(tmp_path, hp=None, objective=MAX, **kwargs):
    settings = {"max_trials": 20, "init_points": 2, "seed": 0}
    settings.update(kwargs)
    oracle = BayesOptOracle(objective, hyperparameters=hp or mixed_space(), **settings)
    _compat.set_project_dir(oracle, str(tmp_path), "project")
    oracle.verbose = 0
    return oracle


def end(oracle, trial, value, name="score"):
    oracle.update_trial(trial.trial_id, {name: value})
    trial.status = "COMPLETED"
    oracle.end_trial(trial)


# -- the encoding -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("declare", "values", "bounds"),
    [
        (lambda hp: hp.Float("x", -2.0, 3.0), [-2.0, 0.1, 3.0], (-2.0, 3.0)),
        (
            lambda hp: hp.Float("x", 1e-5, 1e-1, sampling="log"),
            [1e-5, 10**-3.5, 10**-1.2345678, 1e-3, 1e-1],
            (-5.0, -1.0),
        ),
        (lambda hp: hp.Float("x", 0.9, 0.999, sampling="reverse_log"), [0.9, 0.99, 0.999], None),
        (lambda hp: hp.Float("x", 0.0, 1.0, step=0.25), [0.0, 0.25, 0.75, 1.0], (0, 4, int)),
        (lambda hp: hp.Int("x", 32, 512, step=32), [32, 64, 480, 512], (0, 15, int)),
        (lambda hp: hp.Int("x", 6, 13, step=3), [6, 9, 12], (0, 2, int)),
        (lambda hp: hp.Int("x", 2, 32, step=2, sampling="log"), [2, 4, 16, 32], (0, 4, int)),
        (lambda hp: hp.Int("x", 1, 1000, sampling="log"), [1, 7, 999, 1000], (0.0, 3.0)),
        (lambda hp: hp.Choice("x", [8, 32, 128]), [8, 32, 128], (0, 2, int)),
        (lambda hp: hp.Choice("x", ["relu", "tanh", "elu"]), ["relu", "tanh", "elu"], None),
        (lambda hp: hp.Boolean("x"), [False, True], None),
    ],
    ids=[
        "float",
        "float-log",
        "float-reverse-log",
        "float-step",
        "int-step",
        "int-step-3",
        "int-log-step",
        "int-log",
        "choice-ordered",
        "choice-strings",
        "boolean",
    ],
)
def test_values_round_trip_exactly(declare, values, bounds):
    hp = keras_tuner.HyperParameters()
    declare(hp)
    space = HPSpace(hp)
    if bounds is not None:
        assert space.pbounds["x"] == bounds
    for value in values:
        back = space.to_values(space.to_params({"x": value}))["x"]
        assert back == value and type(back) is type(value)


def test_a_log_value_no_power_of_ten_gives_is_within_an_ulp():
    # 3e-4 is no float 10**x (10**x skips floats): its coordinate gives the nearest one.
    hp = keras_tuner.HyperParameters()
    hp.Float("x", 1e-5, 1e-1, sampling="log")
    space = HPSpace(hp)
    back = space.to_values(space.to_params({"x": 3e-4}))["x"]
    assert back == pytest.approx(3e-4, rel=1e-15) and back != 3e-4


def test_every_proposed_point_round_trips_exactly():
    # Values proposed at random coordinates map back to coordinates proposing them again.
    space = HPSpace(mixed_space())
    optimizer = BayesianOptimization(None, space.pbounds, random_state=0, verbose=0)
    for params in optimizer.random_sample(200):
        values = space.to_values(params)
        assert space.to_values(space.to_params(values)) == values
        assert values["units"] in range(16, 129, 16) and values["epochs"] == 3


def test_fixed_and_single_value_hyperparameters_are_not_searched():
    hp = keras_tuner.HyperParameters()
    hp.Fixed("epochs", 5)
    hp.Choice("optimizer", ["adam"])
    hp.Float("lr", 0.1, 0.5)
    space = HPSpace(hp)
    assert space.names == ("lr",)
    assert space.to_values({"lr": 0.2}) == {"lr": 0.2, "epochs": 5, "optimizer": "adam"}


def test_bayes_opt_reads_a_boolean_as_categorical_not_as_a_float():
    hp = keras_tuner.HyperParameters()
    hp.Boolean("flag")
    hp.Float("x", 0.0, 1.0)
    optimizer = BayesianOptimization(None, HPSpace(hp).pbounds, random_state=0, verbose=0)
    assert {p["flag"] for p in optimizer.random_sample(20)} == {False, True}


# -- conditional hyperparameters -------------------------------------------------------------


def test_a_conditional_hyperparameter_is_a_clear_error(tmp_path):
    def build(hp):
        model_type = hp.Choice("model", ["mlp", "cnn"])
        with hp.conditional_scope("model", ["cnn"]):
            if model_type == "cnn":
                hp.Int("filters", 8, 32, step=8)
        return None

    with pytest.raises(
        ConfigError,
        match=r"Hyperparameter 'filters' is conditional \(active only when 'model' in "
        r"\['cnn'\]\); .* does not support conditional hyperparameters",
    ):
        BayesOptTuner(build, objective="val_loss", max_trials=2, directory=tmp_path)


def test_parent_name_in_declared_hyperparameters_is_refused_at_once():
    hp = keras_tuner.HyperParameters()
    hp.Choice("model", ["mlp", "cnn"])
    hp.Int("units", 8, 64, parent_name="model", parent_values=["mlp"])
    with pytest.raises(ConfigError, match=r"'units' is conditional .*'model' in \['mlp'\]"):
        BayesOptOracle(MAX, hyperparameters=hp, max_trials=3)


def test_bounds_and_hyperparameters_together_are_refused():
    with pytest.raises(ConfigError, match=r"either bounds or hyperparameters, not both"):
        BayesOptOracle(MAX, {"x": (0.0, 1.0)}, hyperparameters=mixed_space())
    with pytest.raises(ConfigError, match=r"max_trials must be an integer >= 1; got 0"):
        BayesOptOracle(MAX, hyperparameters=mixed_space(), max_trials=0)


# -- the points are bayes_opt's --------------------------------------------------------------------


def test_suggestions_equal_bayes_opt_given_the_same_observations(tmp_path):
    hp = mixed_space()
    oracle = new_oracle(tmp_path, hp, init_points=2)
    proposed = []
    for _ in range(3):
        trial = oracle.create_trial("w0")
        proposed.append(oracle._coords[trial.trial_id])
        end(oracle, trial, score(trial.hyperparameters.values))
    # bayes_opt alone, ask/tell on HPSpace's bounds, the same seed and acquisition.
    space = HPSpace(hp)
    reference = BayesianOptimization(
        None,
        space.pbounds,
        acquisition_function=acquisition.ExpectedImprovement(xi=0.01),
        random_state=0,
        verbose=0,
    )
    use_ard_kernel(reference)  # the oracle's GP kernel
    expected = reference.random_sample(2)
    for params in expected:
        reference.register(params, score(space.to_values(params)))
    expected.append(reference.suggest())
    assert proposed == [{k: _py(v) for k, v in p.items()} for p in expected]
    # The GP was told exactly the proposed coordinates and the scores.
    assert np.array_equal(oracle.optimizer.space.params[:2], reference.space.params)
    assert np.array_equal(oracle.optimizer.space.target[:2], reference.space.target)


def _py(value):
    return value.item() if isinstance(value, np.generic) else value


def test_a_minimised_objective_is_told_negated(tmp_path):
    oracle = new_oracle(tmp_path, objective=keras_tuner.Objective("val_loss", "min"))
    trial = oracle.create_trial("w0")
    end(oracle, trial, 0.25, name="val_loss")
    assert oracle.optimizer.space.target.tolist() == [-0.25]


def test_running_trials_are_lies_on_a_typed_space(tmp_path):
    # bayes_opt 3.4's own ConstantLiar fails on categorical parameters (its copy of the
    # space has float bounds only); the oracle tells the same lies on a typed copy.
    hp = keras_tuner.HyperParameters()
    hp.Float("lr", 1e-4, 1e-1, sampling="log")
    hp.Choice("activation", ["relu", "tanh", "elu"])
    oracle = new_oracle(tmp_path, hp)
    for _ in range(2):
        trial = oracle.create_trial("w0")
        values = trial.hyperparameters.values
        end(oracle, trial, -((math.log10(values["lr"]) + 2.5) ** 2))
    first = oracle.create_trial("w0")  # still running when w1 asks
    second = oracle.create_trial("w1")
    assert first.hyperparameters.values != second.hyperparameters.values
    assert len(oracle._pending_points()) == 2


def test_nan_trial_fails_and_the_gp_is_told_the_worst_score(tmp_path):
    oracle = new_oracle(tmp_path, max_consecutive_failed_trials=5)
    values = []
    for value in (1.0, -2.0, math.nan):
        trial = oracle.create_trial("w0")
        end(oracle, trial, value)
        values.append(trial)
    assert oracle.trials[values[2].trial_id].status == "FAILED"
    assert oracle.optimizer.space.target.tolist() == [1.0, -2.0, -2.0]
    assert oracle.get_best_trials(1)[0].score == 1.0


# -- the tuner ---------------------------------------------------------------------------------


class Interrupt(BaseException):
    """Stands for a kill: keras-tuner does not catch it, so the trial stays running."""


def two_d_space():
    hp = keras_tuner.HyperParameters()
    hp.Float("lr", 1e-4, 1e-1, sampling="log")
    hp.Float("dropout", 0.0, 0.5)
    return hp


def run_tuner(directory, stop_at=None, max_trials=6):
    def value(v):
        return -((math.log10(v["lr"]) + 2.5) ** 2) - v["dropout"]

    class Tuner(BayesOptTuner):  # hypermodel-free: run_trial returns the score
        def run_trial(self, trial, *args, **kwargs):
            if stop_at is not None and len(self.oracle.start_order) == stop_at:
                raise Interrupt
            return {"score": value(trial.hyperparameters.values)}

    tuner = Tuner(
        objective=MAX,
        max_trials=max_trials,
        num_initial_points=2,
        seed=3,
        hyperparameters=two_d_space(),
        directory=str(directory),
        project_name="p",
    )
    tuner.search(verbose=0)
    return [tuner.oracle.trials[t].hyperparameters.values for t in tuner.oracle.start_order]


def test_resume_after_an_interrupted_search_continues_with_the_same_points(tmp_path):
    uninterrupted = run_tuner(tmp_path / "a")
    with pytest.raises(Interrupt):
        run_tuner(tmp_path / "b", stop_at=4)  # killed in trial 4 (a GP point)
    resumed = run_tuner(tmp_path / "b")
    assert resumed == uninterrupted
    assert len(resumed) == 6


def test_the_oracle_runs_under_a_plain_keras_tuner_tuner(tmp_path):
    class Plain(keras_tuner.Tuner):
        def run_trial(self, trial, *args, **kwargs):
            return {"score": score(trial.hyperparameters.values)}

    hp = two_d_space()
    hp.Fixed("units", 64)
    hp.Choice("activation", ["tanh"])
    hp.Boolean("batch_norm")
    oracle = BayesOptOracle(MAX, hyperparameters=hp, max_trials=3, init_points=2, seed=0)
    tuner = Plain(oracle=oracle, directory=str(tmp_path), project_name="p")
    tuner.search(verbose=0)
    assert len(oracle.end_order) == 3 and len(oracle.optimizer.space) == 3


def test_a_save_killed_before_its_rename_leaves_the_previous_oracle_json_whole(
    tmp_path, monkeypatch
):
    # keras-tuner writes its state in place; put its own writer back (an earlier test in
    # this process may have installed ours), so only BayesOptTuner can make it atomic.
    import json
    import os

    from keras_tuner.src import utils

    def in_place(path, obj):
        text = json.dumps(obj)
        with open(path, "w") as handle:
            handle.write(text[: len(text) // 2])
            raise KeyboardInterrupt("killed mid-write")

    class Quadratic(BayesOptTuner):
        def run_trial(self, trial, *args, **kwargs):
            return {"score": score(trial.hyperparameters.values)}

    monkeypatch.setattr(utils, "save_json", in_place)
    tuner = Quadratic(
        objective=MAX,
        hyperparameters=two_d_space(),
        max_trials=2,
        seed=0,
        directory=str(tmp_path),
        project_name="p",
    )
    tuner.oracle.save()  # whole: the writer the tuner installed, not the in-place one
    path = tmp_path / "p" / "oracle.json"
    before = path.read_text()
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
    tuner.oracle.tuner_ids.add("tuner0")
    with pytest.raises(KeyboardInterrupt):
        tuner.oracle.save()
    assert path.read_text() == before
    json.loads(before)


def test_resume_of_a_search_whose_space_is_declared_in_run_trial(tmp_path):
    # No hyperparameters up front: trial 0 runs at the defaults and declares the space.
    def search(folder, stop_at=None):
        class Tuner(BayesOptTuner):
            def run_trial(self, trial, *args, **kwargs):
                if stop_at is not None and len(self.oracle.start_order) == stop_at:
                    raise Interrupt
                x = trial.hyperparameters.Float("x", -2.0, 2.0)
                return {"loss": (x - 0.5) ** 2}

        tuner = Tuner(
            objective=keras_tuner.Objective("loss", "min"),
            max_trials=5,
            seed=1,
            directory=str(tmp_path / folder),
            project_name="p",
        )
        tuner.search(verbose=0)
        return [tuner.oracle.trials[t].hyperparameters.values for t in tuner.oracle.start_order]

    uninterrupted = search("a")
    with pytest.raises(Interrupt):
        search("b", stop_at=2)
    assert search("b") == uninterrupted
    assert uninterrupted[0] == {"x": -2.0} and len(uninterrupted) == 5
