"""BOHB over any keras-tuner space: `BOHBOracle(hyperparameters=...)` and `BOHBTuner`, the
drop-in for `keras_tuner.Hyperband` (typed coordinates, exact bayes_opt suggestions, a
minimised objective, resume, a real Keras hypermodel)."""

import math

import keras
import keras_tuner
import numpy as np
import pytest
from bayes_opt import BayesianOptimization, acquisition
from keras_tuner.oracles import HyperbandOracle

from keras_recipes import _compat
from keras_recipes.errors import ConfigError
from keras_recipes.tuning import BOHBTuner
from keras_recipes.tuning.bo.bohb import BOHBOracle
from keras_recipes.tuning.bo.hp_space import HPSpace
from keras_recipes.tuning.bo.oracle import SEED_SPACING, suggest_with_lies, use_ard_kernel

pytestmark = pytest.mark.filterwarnings(
    "ignore:Non-float parameters are experimental", "ignore:All-NaN axis encountered"
)

MIN = keras_tuner.Objective("loss", "min")


def mixed_space() -> keras_tuner.HyperParameters:
    hp = keras_tuner.HyperParameters()
    hp.Float("lr", 1e-4, 1e-1, sampling="log")
    hp.Int("units", 8, 64, step=8)
    hp.Choice("activation", ["relu", "tanh", "selu"])
    hp.Fixed("layers", 2)
    return hp


def loss(values) -> float:
    """Smallest at lr 1e-2, 40 units, tanh; a budget of e epochs adds 1 / e."""
    return (
        (math.log10(values["lr"]) + 2) ** 2
        + ((values["units"] - 40) / 20) ** 2
        + (0.0 if values["activation"] == "tanh" else 0.5)
        + 1 / values["tuner/epochs"]
    )


def drive(oracle, tmp_path, before_each=None, trials=None):
    """Runs `oracle` to the end (or `trials` trials) with one worker through keras-tuner's
    Oracle API; `before_each(oracle)` is called before each trial is created."""
    _compat.set_project_dir(oracle, str(tmp_path), "project")
    oracle.verbose = 0
    while trials is None or len(oracle.trials) < trials:
        if before_each is not None:
            before_each(oracle)
        trial = oracle.create_trial("w0")
        if trial.status == "STOPPED":
            return oracle
        oracle.update_trial(trial.trial_id, {"loss": loss(trial.hyperparameters.values)})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    return oracle


def first_round_before(oracle, trial_id):
    """The values of the trials started before `trial_id` in its bracket's first round (one
    worker: the trials just before it with the same bracket)."""
    bracket = oracle.trials[trial_id].hyperparameters.values["tuner/bracket"]
    out = []
    for tid in sorted((t for t in oracle.trials if int(t) < int(trial_id)), reverse=True):
        values = oracle.trials[tid].hyperparameters.values
        if values["tuner/bracket"] != bracket:
            break
        out.append(values)
    return out[::-1]


def values_in_order(oracle):
    return [oracle.trials[t].hyperparameters.values for t in sorted(oracle.trials)]


@pytest.mark.parametrize("seed", [0, 4])
def test_random_fraction_one_is_keras_tuners_hyperband_on_a_keras_tuner_space(seed, tmp_path):
    hyperband = HyperbandOracle(
        objective=MIN, max_epochs=9, hyperparameters=mixed_space(), seed=seed * SEED_SPACING + 1
    )
    ours = BOHBOracle(
        MIN, hyperparameters=mixed_space(), max_epochs=9, random_fraction=1.0, seed=seed
    )
    drive(hyperband, tmp_path / "hb")
    drive(ours, tmp_path / "bohb")
    assert values_in_order(ours) == values_in_order(hyperband)
    assert len(ours.trials) == 23


@pytest.mark.slow
def test_gp_points_are_bayes_opts_typed_suggestions_on_the_negated_scores(tmp_path):
    """Each GP configuration is what bayes_opt alone suggests from the same random state:
    typed bounds, one length scale per coordinate, the scores at the chosen budget negated
    (the objective is minimised), this round's configurations as lies."""
    rng_states = {}

    def snapshot(oracle):
        rng_states[f"{len(oracle.trials):04d}"] = oracle._rng.get_state()

    # min_points 3 (d + 1 would be 4): bracket 2's first round (3 epochs) is fitted at 9
    # epochs, so its configurations are lies until promoted. Stopped in that round.
    oracle = drive(
        BOHBOracle(MIN, hyperparameters=mixed_space(), max_epochs=27, min_points=3, seed=1),
        tmp_path,
        before_each=snapshot,
        trials=50,
    )
    space = HPSpace(mixed_space())
    checked = {"plain": 0, "lies": 0}
    for trial_id, proposal in sorted(oracle.proposals.items()):
        if proposal["source"] != "gp":
            continue
        ended_before = [t for t in oracle.end_order if int(t) < int(trial_id)]
        observed, seen = [], set()
        for t in ended_before:
            values = oracle.trials[t].hyperparameters.values
            point = space.to_params(values)
            key = tuple(point.values())
            if values["tuner/epochs"] == proposal["budget"] and key not in seen:
                seen.add(key)
                observed.append((point, -loss(values)))
        assert len(observed) == proposal["points"] >= 3
        rng = np.random.RandomState()
        rng.set_state(rng_states[trial_id])
        reference = BayesianOptimization(
            None,
            space.pbounds,
            acquisition_function=acquisition.ExpectedImprovement(xi=0.01),
            random_state=rng,
            verbose=0,
        )
        use_ard_kernel(reference)
        for params, target in observed:
            reference.register(params=params, target=target)
        lies = []
        for values in first_round_before(oracle, trial_id):
            x = reference.space.params_to_array(space.to_params(values))
            if x not in reference.space and not any(np.array_equal(x, y) for y in lies):
                lies.append(x)
        assert len(lies) == proposal["lies"]
        if lies:
            expected = suggest_with_lies(reference, space.pbounds, lies, "max", rng)
        else:
            expected = reference.suggest()
        got = oracle.trials[trial_id].hyperparameters.values
        wanted = space.to_values(expected)
        assert {k: got[k] for k in wanted} == wanted
        checked["lies" if lies else "plain"] += 1
    assert checked["plain"] >= 5 and checked["lies"] >= 3, checked


@pytest.mark.slow
def test_the_gp_finds_the_optimum_that_random_draws_miss(tmp_path):
    """The model's effect: the same brackets, seed and budget (the first bracket, 27
    one-epoch configurations down to one at 27 epochs), GP (BOHB's 1/3 random) against all
    random (keras-tuner's Hyperband)."""
    best = {}
    for fraction in (1 / 3, 1.0):
        losses = []
        for seed in range(3):
            oracle = drive(
                BOHBOracle(
                    MIN,
                    hyperparameters=mixed_space(),
                    max_epochs=27,
                    random_fraction=fraction,
                    seed=seed,
                ),
                tmp_path / f"{fraction:.2f}-{seed}",
                trials=40,
            )
            losses.append(oracle.get_best_trials(1)[0].score - 1 / 27)
        best[fraction] = sorted(losses)[1]  # the median of 3
    assert best[1 / 3] < 0.02 < best[1.0], best


def test_a_conditional_hyperparameter_or_bounds_beside_a_space_is_refused(tmp_path):
    hp = keras_tuner.HyperParameters()
    hp.Choice("optimizer", ["adam", "sgd"])
    with hp.conditional_scope("optimizer", ["sgd"]):
        hp.Float("momentum", 0.0, 0.9)
    with pytest.raises(ConfigError, match="'momentum' is conditional"):
        BOHBOracle(MIN, hyperparameters=hp, max_epochs=9)
    with pytest.raises(ConfigError, match="either bounds or hyperparameters"):
        BOHBOracle(MIN, {"x": (0.0, 1.0)}, hyperparameters=mixed_space(), max_epochs=9)


# -- the tuner ---------------------------------------------------------------------------------


class Interrupt(BaseException):
    """Stands for a kill: keras-tuner does not catch it, so the trial stays running."""


def run_quadratic(directory, stop_at=None):
    class Quadratic(BOHBTuner):  # hypermodel-free: run_trial returns the loss
        def run_trial(self, trial, *args, **kwargs):
            if stop_at is not None and len(self.oracle.start_order) == stop_at:
                raise Interrupt
            return {"loss": loss(trial.hyperparameters.values)}

    tuner = Quadratic(
        objective=MIN,
        max_epochs=9,
        seed=2,
        hyperparameters=mixed_space(),
        directory=str(directory),
        project_name="p",
    )
    tuner.search(verbose=0)
    return tuner


def test_resume_after_an_interrupted_search_continues_with_the_same_trials(tmp_path):
    uninterrupted = run_quadratic(tmp_path / "a").oracle
    with pytest.raises(Interrupt):
        run_quadratic(tmp_path / "b", stop_at=15)  # killed while GP points are proposed
    resumed = run_quadratic(tmp_path / "b").oracle
    assert [resumed.trials[t].hyperparameters.values for t in resumed.start_order[-8:]] == [
        uninterrupted.trials[t].hyperparameters.values for t in uninterrupted.start_order[-8:]
    ]
    assert len(resumed.trials) == len(uninterrupted.trials) == 23
    assert resumed.proposals == uninterrupted.proposals


@pytest.mark.slow
def test_bohb_tuner_trains_a_keras_hypermodel_and_promotions_start_from_the_parent(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 0.0], dtype="float32"))[:, None]
    initial_epochs = {}

    def build(hp):
        model = keras.Sequential(
            [
                keras.Input((4,)),
                keras.layers.Dense(hp.Int("units", 4, 16, step=4), activation="tanh"),
                keras.layers.Dense(1),
            ]
        )
        lr = hp.Float("lr", 1e-3, 1e-1, sampling="log")
        model.compile(optimizer=keras.optimizers.Adam(lr), loss="mse")
        return model

    class Recording(BOHBTuner):
        def run_trial(self, trial, *args, **kwargs):
            history = super().run_trial(trial, *args, **kwargs)
            initial_epochs[trial.trial_id] = kwargs.get("initial_epoch")
            return history

    tuner = Recording(
        build,
        objective="val_loss",
        max_epochs=3,
        seed=0,
        directory=str(tmp_path),
        project_name="keras",
    )
    tuner.search(x, y, validation_split=0.25, batch_size=64, verbose=0)
    trials = tuner.oracle.trials
    promoted = [t for t in trials.values() if "tuner/trial_id" in t.hyperparameters.values]
    assert len(promoted) == 1 and len(trials) == 6  # max 3 epochs: 3 x 1 -> 1 x 3, 2 x 3
    for trial in promoted:
        values = trial.hyperparameters.values
        parent = trials[values["tuner/trial_id"]]
        assert values["tuner/initial_epoch"] == parent.hyperparameters.values["tuner/epochs"]
        # Continued from the parent's weights: its first epoch starts below where the
        # parent's first epoch started.
        assert (
            trial.metrics.get_history("loss")[0].value[0]
            < (parent.metrics.get_history("loss")[0].value[0])
        )
    assert {p["source"] for p in tuner.oracle.proposals.values()} >= {"random"}
    model = tuner.get_best_models(1)[0]
    assert model.predict(x[:2], verbose=0).shape == (2, 1)
