"""`BayesOptOracle`: a keras-tuner Oracle whose points come from bayes_opt's ask/tell API.

keras-tuner runs the trials (bookkeeping, trial files, resume, chief/worker mode);
bayes_opt chooses the points (GP with a Matern kernel + EI/UCB/POI). Neither does both:
keras-tuner's own `BayesianOptimizationOracle` is a different GP/acquisition, and
bayes_opt's `maximize` has no trial records, resume or workers.

With one worker and a deterministic objective, the points are exactly those of
`bayes_opt.BayesianOptimization(f, pbounds, acquisition_function=..., random_state=seed)
.maximize(init_points, n_iter)`: the init points are drawn from the optimizer's random
state before any suggestion (as `maximize` primes its queue), then every suggestion fits
the GP on all results so far. With several workers, points of trials still running are
registered as "lies" through bayes_opt's `ConstantLiar`, so two workers are not sent to
the same place.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import keras_tuner
import numpy as np
from bayes_opt import BayesianOptimization, acquisition
from keras_tuner.engine.trial import TrialStatus
from threadpoolctl import threadpool_limits

from keras_recipes.errors import ConfigError
from keras_recipes.seeds import check_seed
from keras_recipes.tuning.bo.config import ACQUISITIONS

#: Distance between the keras-tuner seeds of consecutive `seed`s (more than any budget).
SEED_SPACING = 100_003


def make_acquisition(name: str, *, xi: float = 0.01, kappa: float = 2.576):
    """bayes_opt's base acquisition function for `name` ("ei", "ucb" or "poi").

    In bayes_opt 3.x the random state is handed to `suggest()` by the optimizer; passing
    one to the constructor is deprecated and ignored, so none is passed here.
    """
    if name == "ei":
        return acquisition.ExpectedImprovement(xi=xi)
    if name == "poi":
        return acquisition.ProbabilityOfImprovement(xi=xi)
    if name == "ucb":
        return acquisition.UpperConfidenceBound(kappa=kappa)
    raise ConfigError(f"Unknown acquisition function {name!r}; valid: {', '.join(ACQUISITIONS)}.")


class BayesOptOracle(keras_tuner.Oracle):
    """Oracle that proposes points with `bayes_opt` (GP + EI by default).

    Example:

    >>> import keras_tuner
    >>> oracle = BayesOptOracle(
    ...     keras_tuner.Objective("f", "max"), {"x": (-2.0, 6.0)}, init_points=2, n_iter=14
    ... )
    >>> oracle.max_trials
    16

    Args:
        objective: str or keras_tuner.Objective. The metric to maximise.
        bounds: mapping. `{"name": (low, high)}`, searched in this order.
        acquisition: str. "ei" (Expected Improvement), "ucb" or "poi".
        xi: float. Exploration margin of EI and POI.
        kappa: float. Exploration weight of UCB.
        init_points: int. Random points before the GP takes over (>= 1).
        n_iter: int. GP-guided points after them (>= 0).
        seed: int. bayes_opt's `random_state` (init points, GP restarts, acquisition search).
        liar_strategy: "max", "mean", "min" or a float: the value `ConstantLiar` pretends a
            running trial will score.
        **kwargs: passed to `keras_tuner.Oracle` (e.g. `max_consecutive_failed_trials`).
    """

    def __init__(
        self,
        objective: Any,
        bounds: Mapping[str, tuple[float, float]],
        *,
        acquisition: str = "ei",
        xi: float = 0.01,
        kappa: float = 2.576,
        init_points: int = 3,
        n_iter: int = 27,
        seed: int = 0,
        liar_strategy: str | float = "max",
        **kwargs: Any,
    ):
        if isinstance(init_points, bool) or not isinstance(init_points, int) or init_points < 1:
            raise ConfigError(f"init_points must be an integer >= 1; got {init_points!r}.")
        if isinstance(n_iter, bool) or not isinstance(n_iter, int) or n_iter < 0:
            raise ConfigError(f"n_iter must be an integer >= 0; got {n_iter!r}.")
        check_seed(seed)
        make_acquisition(acquisition, xi=xi, kappa=kappa)  # validates before anything runs
        self.bounds = {str(k): (float(lo), float(hi)) for k, (lo, hi) in bounds.items()}
        hps = keras_tuner.HyperParameters()
        for name, (low, high) in self.bounds.items():
            hps.Float(name, low, high)
        super().__init__(
            objective=objective,
            max_trials=init_points + n_iter,
            hyperparameters=hps,
            allow_new_entries=False,
            tune_new_entries=False,
            seed=seed + 1,  # keras-tuner reads seed 0 as "no seed"; its seed is unused here
            **kwargs,
        )
        self.acquisition = acquisition
        self.xi = float(xi)
        self.kappa = float(kappa)
        self.init_points = init_points
        self.n_iter = n_iter
        self.bo_seed = int(seed)
        self.liar_strategy = liar_strategy
        self._rng = np.random.RandomState(self.bo_seed)
        self._optimizer, self._liar = self._new_optimizer()
        # `maximize` samples all init points up front, before the first suggestion.
        self._queue: list[dict[str, float]] = [
            _as_floats(p) for p in self._optimizer.random_sample(init_points)
        ]

    # -- bayes_opt -------------------------------------------------------------------------

    def _new_optimizer(self) -> tuple[BayesianOptimization, acquisition.ConstantLiar]:
        base = make_acquisition(self.acquisition, xi=self.xi, kappa=self.kappa)
        liar = acquisition.ConstantLiar(base, strategy=self.liar_strategy)
        optimizer = BayesianOptimization(
            f=None,
            pbounds=dict(self.bounds),
            acquisition_function=liar,
            # bayes_opt keeps this very object and draws the init points, the GP restarts
            # and the acquisition search from it, so its state is the optimizer's state.
            random_state=self._rng,
            verbose=0,
        )
        return optimizer, liar

    @property
    def optimizer(self) -> BayesianOptimization:
        """The bayes_opt optimizer holding every registered result (read it, don't tell it)."""
        return self._optimizer

    def _pending_points(self) -> list[np.ndarray]:
        space = self._optimizer.space
        pending: list[np.ndarray] = []
        for trial in self.ongoing_trials.values():
            x = space.params_to_array(_point(trial.hyperparameters.values, self.bounds))
            # A lie on a point that has a real result (or a twin lie) would be a duplicate.
            if x in space or any(np.array_equal(x, p) for p in pending):
                continue
            pending.append(x)
        return pending

    def _suggest(self) -> dict[str, float]:
        # ConstantLiar keeps its own list of lies; set it to the trials running right now,
        # so lies for trials that failed or were re-queued after a crash never go stale.
        self._liar.dummies = self._pending_points()  # a private reach: see _compat
        # The GP's matrices have a few dozen rows: BLAS and OpenMP threads only add
        # hand-offs here and compete with TensorFlow's for the cores: on 2 cores at 30
        # points one thread cut a suggestion from 0.34 to 0.05 CPU s (2.5 to 0.34 s wall).
        with threadpool_limits(limits=1):
            return _as_floats(self._optimizer.suggest())

    def _register(self, trial: keras_tuner.engine.trial.Trial) -> None:
        score = trial.score
        if score is None or not math.isfinite(score):
            # keras-tuner marks NaN scores INVALID; inf would still poison the GP.
            return
        params = _point(trial.hyperparameters.values, self.bounds)
        space = self._optimizer.space
        if space.params_to_array(params) in space:
            # `maximize` does not register a repeated point either (it reads its cache).
            return
        self._optimizer.register(params=params, target=float(score))

    # -- keras-tuner Oracle ----------------------------------------------------------------

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        """The next point: an init point while any are left, then a GP suggestion."""
        point = self._queue.pop(0) if self._queue else self._suggest()
        return {"status": TrialStatus.RUNNING, "values": point}

    @keras_tuner.synchronized
    def end_trial(self, trial):
        """Records the trial (keras-tuner) and tells bayes_opt its score (if it completed)."""
        super().end_trial(trial)
        recorded = self.trials[trial.trial_id]
        if recorded.status == TrialStatus.COMPLETED:
            self._register(recorded)

    def get_state(self) -> dict[str, Any]:
        state = super().get_state()
        rng = self._rng.get_state()
        state["bayes_opt"] = {
            "bounds": {k: list(v) for k, v in self.bounds.items()},
            "acquisition": self.acquisition,
            "xi": self.xi,
            "kappa": self.kappa,
            "init_points": self.init_points,
            "seed": self.bo_seed,
            "queue": self._queue,
            # The optimizer's random state as plain JSON (no pickles), so a resumed run
            # proposes what the uninterrupted run would have proposed.
            "random_state": [rng[0], rng[1].tolist(), int(rng[2]), int(rng[3]), float(rng[4])],
        }
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        saved = state["bayes_opt"]
        settings = {
            "bounds": {k: list(v) for k, v in self.bounds.items()},
            "acquisition": self.acquisition,
            "init_points": self.init_points,
            "seed": self.bo_seed,
        }
        for key, now in settings.items():
            if saved[key] != now:
                raise ConfigError(
                    f"The saved search has {key}={saved[key]!r} but this one has {key}={now!r}; "
                    "resume it with the same settings or start a new run directory."
                )
        self.xi, self.kappa = float(saved["xi"]), float(saved["kappa"])
        # Rebuild bayes_opt from the trial records: completed trials are registered again,
        # in the order they ended, then the random state is put back.
        self._rng = np.random.RandomState(self.bo_seed)
        self._optimizer, self._liar = self._new_optimizer()
        for trial_id in self.end_order:
            trial = self.trials[trial_id]
            if trial.status == TrialStatus.COMPLETED:
                self._register(trial)
        self._queue = [dict(p) for p in saved["queue"]]
        name, key, pos, has_gauss, cached = saved["random_state"]
        self._rng.set_state((name, np.asarray(key, dtype=np.uint32), pos, has_gauss, cached))


def _point(values: Mapping[str, Any], bounds: Mapping[str, Any]) -> dict[str, float]:
    return {name: float(values[name]) for name in bounds}


def _as_floats(params: Mapping[str, Any]) -> dict[str, float]:
    return {name: float(value) for name, value in params.items()}
