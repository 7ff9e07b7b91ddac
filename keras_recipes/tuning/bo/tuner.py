"""`BayesOptTuner`: keras-tuner's `Tuner` with bayes_opt's GP + Expected Improvement.

The algorithm is in the oracle (`BayesOptOracle` over a `HyperParameters` space); the
tuner only builds it from keras-tuner's usual arguments, as
`keras_tuner.BayesianOptimization` does. Everything else (trial folders, `search`,
`get_best_models`, resume from `directory/project_name`, chief/worker mode through the
`KERASTUNER_*` variables) is keras-tuner's `Tuner`.
"""

from __future__ import annotations

from typing import Any

import keras_tuner

from keras_recipes import _compat
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
