"""keras-tuner tuners backed by bayes_opt's GP + Expected Improvement, for any hypermodel:

- `BayesOptTuner`: every trial trains fully (as `keras_tuner.BayesianOptimization`);
- `BOHBTuner`: Hyperband's brackets whose new configurations come from the GP (BOHB), a
  drop-in for `keras_tuner.Hyperband`.

The algorithm is in the oracle (`BayesOptOracle`, `BOHBOracle`, over a `HyperParameters`
space); a tuner only builds it from keras-tuner's usual arguments. Everything else (trial
folders, `search`, `get_best_models`, resume from `directory/project_name`, chief/worker
mode through the `KERASTUNER_*` variables, and for `BOHBTuner` Hyperband's epochs per
trial and a promoted trial starting from its parent's weights) is keras-tuner's.
"""

from __future__ import annotations

import random
from typing import Any

import keras_tuner

from keras_recipes import _compat
from keras_recipes.tuning.bo.bohb import DEFAULT_RANDOM_FRACTION, BOHBOracle
from keras_recipes.tuning.bo.oracle import BayesOptOracle


class BayesOptTuner(keras_tuner.Tuner):
    """Tunes any hypermodel with bayes_opt's GP and Expected Improvement.

    Float (linear: the value; log: its log10), Int and Float with a step (an index into
    keras-tuner's grid), Choice (ordered numbers: an index; strings: one-hot categorical),
    Boolean (categorical) and Fixed hyperparameters are searched (`HPSpace`); conditional
    ones (`parent_name`, `conditional_scope`) are a ConfigError. A trial whose score is
    NaN fails (keras-tuner's rule) and the GP is told the worst score so far there.
    Trials still running on other workers are lies to the GP (`ConstantLiar`).

    Example:

    >>> import tempfile, keras_tuner
    >>> class Quadratic(BayesOptTuner):
    ...     def run_trial(self, trial, *args, **kwargs):
    ...         x = trial.hyperparameters.Float("x", -2.0, 2.0)
    ...         return {"loss": (x - 0.5) ** 2}
    >>> tuner = Quadratic(objective=keras_tuner.Objective("loss", "min"), max_trials=8,
    ...                   seed=0, directory=tempfile.mkdtemp())
    >>> tuner.search(verbose=0)
    >>> abs(tuner.get_best_hyperparameters(1)[0]["x"] - 0.5) < 0.05
    True

    Args:
        hypermodel: keras_tuner.HyperModel, a callable `build(hp) -> keras.Model`, or None
            when `run_trial` is overridden.
        objective: str, keras_tuner.Objective or a list of them (keras-tuner's).
        max_trials: int. Trials in all.
        num_initial_points: int or None. Random trials before the GP (None: 3 per tuned
            hyperparameter, at least 3).
        acquisition: str. "ei" (Expected Improvement, default), "ucb" or "poi".
        xi: float. Exploration margin of EI and POI.
        kappa: float. Exploration weight of UCB.
        liar_strategy: "max", "mean", "min" or a float: what `ConstantLiar` pretends a
            running trial scores.
        seed: int or None. bayes_opt's random state (None: a random one).
        hyperparameters: keras_tuner.HyperParameters or None. Declared in advance.
        tune_new_entries: bool. Tune hyperparameters the hypermodel adds.
        allow_new_entries: bool. Let the hypermodel add hyperparameters.
        max_retries_per_trial: int. keras-tuner's retries of a crashed trial.
        max_consecutive_failed_trials: int. keras-tuner stops after this many failures.
        **kwargs: `keras_tuner.Tuner`'s (directory, project_name, overwrite, ...).
    """

    def __init__(
        self,
        hypermodel: Any = None,
        objective: Any = None,
        max_trials: int = 10,
        num_initial_points: int | None = None,
        acquisition: str = "ei",
        xi: float = 0.01,
        kappa: float = 2.576,
        liar_strategy: str | float = "max",
        seed: int | None = None,
        hyperparameters: keras_tuner.HyperParameters | None = None,
        tune_new_entries: bool = True,
        allow_new_entries: bool = True,
        max_retries_per_trial: int = 0,
        max_consecutive_failed_trials: int = 3,
        **kwargs: Any,
    ):
        oracle = BayesOptOracle(
            objective,
            init_points=num_initial_points,
            acquisition=acquisition,
            xi=xi,
            kappa=kappa,
            seed=seed,
            liar_strategy=liar_strategy,
            hyperparameters=hyperparameters,
            max_trials=max_trials,
            tune_new_entries=tune_new_entries,
            allow_new_entries=allow_new_entries,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        # Its oracle.json and trial.json are what a resumed search reads: no torn ones.
        _compat.install_atomic_keras_tuner_saves()
        super().__init__(oracle=oracle, hypermodel=hypermodel, **kwargs)


class BOHBTuner(keras_tuner.Hyperband):
    """`keras_tuner.Hyperband` whose new configurations come from bayes_opt's GP (BOHB).

    The brackets, the epochs of each trial (`tuner/epochs`, `tuner/initial_epoch` passed
    to `fit`) and a promoted trial's start from its parent's checkpoint are
    keras-tuner's Hyperband; each configuration that starts a bracket is, with
    probability `random_fraction`, keras-tuner's random draw, else the GP's suggestion
    fitted on the scores at the largest budget with at least `min_points` of them
    (`BOHBOracle`). Spaces are encoded as for `BayesOptTuner`; conditional
    hyperparameters are a ConfigError. Trials without a finite score are never told to
    the GP.

    Example (a `run_trial` that reads the budget instead of training a model):

    >>> import tempfile, keras_tuner
    >>> class Quadratic(BOHBTuner):
    ...     def run_trial(self, trial, *args, **kwargs):
    ...         hp = trial.hyperparameters
    ...         return {"loss": (hp["x"] - 0.5) ** 2 + 1 / hp["tuner/epochs"]}
    >>> hp = keras_tuner.HyperParameters()
    >>> _ = hp.Float("x", -2.0, 2.0)
    >>> tuner = Quadratic(objective=keras_tuner.Objective("loss", "min"), max_epochs=9,
    ...                   hyperband_iterations=2, hyperparameters=hp, seed=0,
    ...                   directory=tempfile.mkdtemp())
    >>> tuner.search(verbose=0)
    >>> abs(tuner.get_best_hyperparameters(1)[0]["x"] - 0.5) < 0.05
    True
    >>> sources = {p["source"] for p in tuner.oracle.proposals.values()}
    >>> sorted(sources)
    ['gp', 'no-model', 'random']

    Args:
        hypermodel: keras_tuner.HyperModel, a callable `build(hp) -> keras.Model`, or None
            when `run_trial` is overridden.
        objective: str, keras_tuner.Objective or a list of them (keras-tuner's).
        max_epochs: int. The largest budget: the epochs of a trial that reaches the top.
        factor: int. Hyperband's reduction factor (>= 2).
        hyperband_iterations: int. Times the whole set of brackets runs (>= 1).
        min_epochs: int. The smallest rung's epochs, at least (keras-tuner's Hyperband
            starts at 1; raise it when few epochs say little about many).
        random_fraction: float. Share of new configurations drawn at random (BOHB's 1/3).
        min_points: int or None. Scores a budget needs before the GP is fitted on it
            (None: the number of tuned hyperparameters + 1).
        acquisition: str. "ei" (Expected Improvement, default), "ucb" or "poi".
        xi: float. Exploration margin of EI and POI.
        kappa: float. Exploration weight of UCB.
        liar_strategy: "max", "mean", "min" or a float: what a configuration still
            without a score at the GP's budget is pretended to score.
        seed: int or None. Seeds keras-tuner's draws, the random-fraction coin and
            bayes_opt (None: a random one).
        hyperparameters: keras_tuner.HyperParameters or None. Declared in advance.
        tune_new_entries: bool. Tune hyperparameters the hypermodel adds.
        allow_new_entries: bool. Let the hypermodel add hyperparameters.
        max_retries_per_trial: int. keras-tuner's retries of a crashed trial.
        max_consecutive_failed_trials: int. keras-tuner stops after this many failures.
        **kwargs: `keras_tuner.Tuner`'s (directory, project_name, overwrite, ...).
    """

    def __init__(
        self,
        hypermodel: Any = None,
        objective: Any = None,
        max_epochs: int = 100,
        factor: int = 3,
        hyperband_iterations: int = 1,
        min_epochs: int = 1,
        random_fraction: float = DEFAULT_RANDOM_FRACTION,
        min_points: int | None = None,
        acquisition: str = "ei",
        xi: float = 0.01,
        kappa: float = 2.576,
        liar_strategy: str | float = "max",
        seed: int | None = None,
        hyperparameters: keras_tuner.HyperParameters | None = None,
        tune_new_entries: bool = True,
        allow_new_entries: bool = True,
        max_retries_per_trial: int = 0,
        max_consecutive_failed_trials: int = 3,
        **kwargs: Any,
    ):
        oracle = BOHBOracle(
            objective,
            max_epochs=max_epochs,
            factor=factor,
            hyperband_iterations=hyperband_iterations,
            min_epochs=min_epochs,
            random_fraction=random_fraction,
            min_points=min_points,
            acquisition=acquisition,
            xi=xi,
            kappa=kappa,
            seed=random.randint(0, 2**31 - 1) if seed is None else seed,
            liar_strategy=liar_strategy,
            hyperparameters=hyperparameters,
            tune_new_entries=tune_new_entries,
            allow_new_entries=allow_new_entries,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        _compat.install_atomic_keras_tuner_saves()
        # keras_tuner.Hyperband's own __init__ would build a HyperbandOracle; its Tuner
        # base takes ours, and Hyperband's run_trial and weight loading stay.
        keras_tuner.Tuner.__init__(self, oracle=oracle, hypermodel=hypermodel, **kwargs)
