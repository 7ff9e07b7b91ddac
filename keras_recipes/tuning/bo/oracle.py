"""`BayesOptOracle`: a keras-tuner Oracle whose points come from bayes_opt's ask/tell API.

It searches either a plain box of floats (`bounds`, what `train-with-bo` tunes) or any
keras-tuner `HyperParameters` space (`hyperparameters`, what `BayesOptTuner` tunes; the
encoding of each type is `hp_space.HPSpace`'s).

keras-tuner runs the trials (bookkeeping, trial files, resume, chief/worker mode);
bayes_opt chooses the points (GP with a Matern kernel + EI/UCB/POI). Neither does both:
keras-tuner's own `BayesianOptimizationOracle` is a different GP/acquisition, and
bayes_opt's `maximize` has no trial records, resume or workers.

With a keras-tuner space (`BayesOptTuner`) the GP's kernel is bayes_opt's Matern 5/2 with
one length scale per coordinate (`ard_matern`, set through bayes_opt's public
`set_gp_params`) instead of its single length scale for all of them; everything else
(noise, 5 restarts, normalised targets, the acquisition search) is bayes_opt's. With a
box of floats (`train-with-bo`), one worker and a deterministic objective, the points are
exactly those of `bayes_opt.BayesianOptimization(f, pbounds, acquisition_function=...,
random_state=seed).maximize(init_points, n_iter)`: the init points are drawn from the
optimizer's random state before any suggestion (as `maximize` primes its queue), then
every suggestion fits the GP on all results so far. With several workers, points of
trials still running are registered as "lies" through bayes_opt's `ConstantLiar`, so two
workers are not sent to the same place.
"""

from __future__ import annotations

import contextlib
import math
import random
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import keras_tuner
import numpy as np
from bayes_opt import BayesianOptimization, TargetSpace, acquisition
from keras_tuner.engine.trial import TrialStatus
from sklearn.gaussian_process.kernels import Matern
from threadpoolctl import threadpool_limits

from keras_recipes import _compat
from keras_recipes.errors import ConfigError
from keras_recipes.seeds import check_seed
from keras_recipes.tuning.bo.config import ACQUISITIONS
from keras_recipes.tuning.bo.hp_space import (
    HPSpace,
    RefusesConditional,
    check_unconditional_space,
    space_key,
)

#: Distance between the keras-tuner seeds of consecutive `seed`s (more than any budget).
SEED_SPACING = 100_003
#: Each GP length scale's bounds, as multiples of its coordinate's range.
LENGTH_SCALE_RANGE = (1e-2, 1e2)


def ard_matern(bounds: np.ndarray) -> Matern:
    """A Matern 5/2 kernel with one length scale per coordinate (ARD), sized to the box.

    bayes_opt's default kernel has one length scale for every coordinate, so one that
    matters little (or is measured in larger units) sets the scale for all: on Hartmann-6
    its GP smooths over the narrow directions and EI settles short of the optimum. Here
    each coordinate has its own length scale, fitted by the GP's marginal likelihood; it
    starts at the coordinate's range and is bounded to `LENGTH_SCALE_RANGE` times it, so
    the fit does not depend on the coordinate's units (an index 0..15 and a rate 0..0.5
    get the same treatment), and a few dozen points cannot drive a length scale below a
    hundredth of its range.

    Args:
        bounds: array of shape (d, 2). The low and high end of each coordinate (a bayes_opt
            `TargetSpace.bounds`: one-hot categories are one coordinate per category).

    Returns:
        sklearn.gaussian_process.kernels.Matern with nu 2.5 and `d` length scales.

    Example:

    >>> kernel = ard_matern(np.array([[0.0, 1.0], [-5.0, 10.0]]))
    >>> kernel.length_scale.tolist(), kernel.length_scale_bounds.tolist()
    ([1.0, 15.0], [[0.01, 100.0], [0.15, 1500.0]])
    """
    bounds = np.asarray(bounds, dtype=float)
    span = bounds[:, 1] - bounds[:, 0]
    span = np.where(span > 0, span, 1.0)  # a one-point coordinate still needs a scale
    low, high = LENGTH_SCALE_RANGE
    return Matern(length_scale=span, length_scale_bounds=np.c_[low * span, high * span], nu=2.5)


def use_ard_kernel(optimizer: BayesianOptimization) -> BayesianOptimization:
    """Gives a bayes_opt optimizer `ard_matern`'s kernel over its space (in place).

    Example:

    >>> from bayes_opt import BayesianOptimization
    >>> from keras_recipes import _compat
    >>> optimizer = use_ard_kernel(
    ...     BayesianOptimization(None, {"x": (0.0, 1.0), "y": (0.0, 4.0)}, verbose=0)
    ... )
    >>> _compat.bayes_opt_gp(optimizer).kernel.length_scale.tolist()
    [1.0, 4.0]
    """
    optimizer.set_gp_params(kernel=ard_matern(optimizer.space.bounds))
    return optimizer


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


class BayesOptOracle(RefusesConditional, keras_tuner.Oracle):
    """Oracle that proposes points with `bayes_opt` (GP + EI by default).

    Give it either `bounds` (a box of floats, searched as they are: `train-with-bo`) or
    `hyperparameters` and `max_trials` (any keras-tuner space, encoded by `HPSpace`; the
    space may also grow from what the hypermodel declares, as keras-tuner's oracles allow).

    Example:

    >>> import keras_tuner
    >>> oracle = BayesOptOracle(
    ...     keras_tuner.Objective("f", "max"), {"x": (-2.0, 6.0)}, init_points=2, n_iter=14
    ... )
    >>> oracle.max_trials
    16
    >>> hp = keras_tuner.HyperParameters()
    >>> _ = hp.Float("lr", 1e-4, 1e-1, sampling="log")
    >>> oracle = BayesOptOracle("val_loss", hyperparameters=hp, max_trials=8, seed=0)
    >>> oracle.init_count, oracle.space.pbounds
    (3, {'lr': (-4.0, -1.0)})

    Args:
        objective: str or keras_tuner.Objective. The metric (maximised or minimised as its
            direction says; bayes_opt maximises, so a minimised score is told negated).
        bounds: mapping or None. `{"name": (low, high)}`, searched in this order.
        init_points: int or None. Random points before the GP takes over (>= 1). None
            (`hyperparameters` only): 3 per tuned hyperparameter, at least 3, keras-tuner's
            rule for its `BayesianOptimization`.
        n_iter: int. With `bounds`: GP-guided points after the random ones (>= 0).
        acquisition: str. "ei" (Expected Improvement), "ucb" or "poi".
        xi: float. Exploration margin of EI and POI.
        kappa: float. Exploration weight of UCB.
        seed: int or None. bayes_opt's `random_state` (init points, GP restarts, acquisition
            search); None draws one.
        liar_strategy: "max", "mean", "min" or a float: the value `ConstantLiar` pretends a
            running trial will score.
        hyperparameters: keras_tuner.HyperParameters or None. The space (instead of
            `bounds`); conditional hyperparameters are a ConfigError.
        max_trials: int or None. With `hyperparameters`: the number of trials.
        **kwargs: passed to `keras_tuner.Oracle` (e.g. `max_consecutive_failed_trials`,
            `tune_new_entries`, `allow_new_entries` with `hyperparameters`).
    """

    def __init__(
        self,
        objective: Any,
        bounds: Mapping[str, tuple[float, float]] | None = None,
        *,
        init_points: int | None = 3,
        n_iter: int = 27,
        acquisition: str = "ei",
        xi: float = 0.01,
        kappa: float = 2.576,
        seed: int | None = 0,
        liar_strategy: str | float = "max",
        hyperparameters: keras_tuner.HyperParameters | None = None,
        max_trials: int | None = None,
        **kwargs: Any,
    ):
        seed = random.randint(0, 2**31 - 1) if seed is None else seed
        check_seed(seed)
        make_acquisition(acquisition, xi=xi, kappa=kappa)  # validates before anything runs
        if bounds is not None:
            kwargs = self._box_settings(bounds, init_points, n_iter, hyperparameters, kwargs)
        else:
            kwargs = self._space_settings(init_points, max_trials, hyperparameters, kwargs)
        # keras-tuner reads seed 0 as "no seed"; its seed is unused here.
        super().__init__(objective=objective, seed=seed + 1, **kwargs)
        self.acquisition = acquisition
        self.xi = float(xi)
        self.kappa = float(kappa)
        self.init_points = init_points
        self.n_iter = n_iter
        self.bo_seed = int(seed)
        self.liar_strategy = liar_strategy
        self._rng = np.random.RandomState(self.bo_seed)
        self._space: HPSpace | None = None
        self._space_key: str | None = None
        # trial_id -> the bayes_opt point it was proposed at: the GP is told exactly that
        # point (a log10 coordinate need not survive 10**x and back bit for bit).
        self._coords: dict[str, dict[str, Any]] = {}
        self._queue: list[dict[str, Any]] = []
        self.init_count: int | None = None
        self._sync_space()

    def _box_settings(self, bounds, init_points, n_iter, hyperparameters, kwargs) -> dict:
        if hyperparameters is not None:
            raise ConfigError("Give BayesOptOracle either bounds or hyperparameters, not both.")
        if isinstance(init_points, bool) or not isinstance(init_points, int) or init_points < 1:
            raise ConfigError(f"init_points must be an integer >= 1; got {init_points!r}.")
        if isinstance(n_iter, bool) or not isinstance(n_iter, int) or n_iter < 0:
            raise ConfigError(f"n_iter must be an integer >= 0; got {n_iter!r}.")
        self.bounds = {str(k): (float(lo), float(hi)) for k, (lo, hi) in bounds.items()}
        hps = keras_tuner.HyperParameters()
        for name, (low, high) in self.bounds.items():
            hps.Float(name, low, high)
        self._keras_space = False  # train-with-bo: its points stay `maximize`'s sequence
        return {
            **kwargs,
            "max_trials": init_points + n_iter,
            "hyperparameters": hps,
            "allow_new_entries": False,
            "tune_new_entries": False,
        }

    def _space_settings(self, init_points, max_trials, hyperparameters, kwargs) -> dict:
        if init_points is not None and (
            isinstance(init_points, bool) or not isinstance(init_points, int) or init_points < 1
        ):
            raise ConfigError(f"init_points must be an integer >= 1 or None; got {init_points!r}.")
        if isinstance(max_trials, bool) or not isinstance(max_trials, int) or max_trials < 1:
            raise ConfigError(f"max_trials must be an integer >= 1; got {max_trials!r}.")
        check_unconditional_space(hyperparameters)
        self.bounds = None
        # A keras-tuner space (BayesOptTuner): typed parameters (lies told and a repeated
        # suggestion replaced by suggest_typed), NaN trials told
        # as the worst score (_target). train-with-bo's box keeps bayes_opt's own rules.
        self._keras_space = True
        return {**kwargs, "max_trials": max_trials, "hyperparameters": hyperparameters}

    # -- the space -------------------------------------------------------------------------

    @property
    def space(self) -> HPSpace | None:
        """The bayes_opt encoding of the current search space (None before it is known)."""
        return self._space

    def _sync_space(self) -> None:
        """Follows the keras-tuner space: rebuilt when it changed, init points drawn once."""
        key = space_key(self.hyperparameters)
        if key == self._space_key:
            return
        self._rebuild(key)
        if not self._space.params:
            return
        if self.init_count is None:
            d = len(self._space.params)
            self.init_count = self.init_points if self.init_points else max(3, 3 * d)
            # `maximize` samples all init points up front, before the first suggestion.
            self._queue = [plain_params(p) for p in self._optimizer.random_sample(self.init_count)]
        elif self._queue:
            # New hyperparameters appeared: the random points not yet run cover them too.
            self._queue = [plain_params(p) for p in self._optimizer.random_sample(len(self._queue))]

    def _rebuild(self, key: str) -> None:
        self._space_key = key
        self._space = HPSpace(self.hyperparameters)
        self._optimizer, self._liar = self._new_optimizer()
        for trial_id in self.end_order:
            self._register(self.trials[trial_id])

    # -- bayes_opt -------------------------------------------------------------------------

    def _new_optimizer(self) -> tuple[BayesianOptimization, acquisition.ConstantLiar | None]:
        base = make_acquisition(self.acquisition, xi=self.xi, kappa=self.kappa)
        # A keras-tuner space may hold Int and categorical parameters, which bayes_opt
        # 3.4's ConstantLiar cannot copy: there the lies are told by suggest_typed.
        liar = None if self._keras_space else acquisition.ConstantLiar(base, self.liar_strategy)
        pbounds = self._space.pbounds if self._space.params else {"_": (0.0, 1.0)}
        with typed_parameters_allowed():
            optimizer = BayesianOptimization(
                f=None,
                pbounds=pbounds,
                acquisition_function=liar or base,
                # bayes_opt keeps this very object and draws the init points, the GP
                # restarts and the acquisition search from it, so its state is the
                # optimizer's state.
                random_state=self._rng,
                verbose=0,
            )
        if self._keras_space:
            # BayesOptTuner's spaces mix units (an index, log10 rates, one-hot categories).
            # train-with-bo's box keeps bayes_opt's kernel and so `maximize`'s points: in
            # 1-D the sized kernel met the toy's goal in 6 seeds of 10, not 9.
            use_ard_kernel(optimizer)
        return optimizer, liar

    @property
    def optimizer(self) -> BayesianOptimization:
        """The bayes_opt optimizer holding every registered result (read it, don't tell it)."""
        return self._optimizer

    def _trial_params(self, trial) -> dict[str, Any]:
        """The bayes_opt point of a trial: where it was proposed, else its values encoded."""
        coords = self._coords.get(trial.trial_id)
        if coords is not None and set(coords) == set(self._space.params):
            return coords
        return self._space.to_params(trial.hyperparameters.values)

    def _pending_points(self) -> list[np.ndarray]:
        space = self._optimizer.space
        pending: list[np.ndarray] = []
        for trial in self.ongoing_trials.values():
            x = space.params_to_array(self._trial_params(trial))
            # A lie on a point that has a real result (or a twin lie) would be a duplicate.
            if x in space or any(np.array_equal(x, p) for p in pending):
                continue
            pending.append(x)
        return pending

    def _suggest(self) -> dict[str, Any]:
        pending = self._pending_points()
        if self._keras_space:
            return suggest_typed(
                self._optimizer, self._space.pbounds, pending, self.liar_strategy, self._rng
            )
        # ConstantLiar keeps its own list of lies; set it to the trials running right now,
        # so lies for trials that failed or were re-queued after a crash never go stale.
        self._liar.dummies = pending  # a private reach: see _compat
        with threadpool_limits(limits=1):  # see suggest_typed
            return plain_params(self._optimizer.suggest())

    def _register(self, trial: keras_tuner.engine.trial.Trial) -> None:
        target = self._target(trial)
        if target is None:
            return
        params = self._trial_params(trial)
        space = self._optimizer.space
        if space.params_to_array(params) in space:
            # `maximize` does not register a repeated point either (it reads its cache).
            return
        self._optimizer.register(params=params, target=target)

    def _target(self, trial) -> float | None:
        """What bayes_opt is told for an ended trial (it maximises), or None: nothing."""
        if not self._space.params:
            return None
        score = trial.score
        if trial.status == TrialStatus.COMPLETED and score is not None and math.isfinite(score):
            return float(score) if self.objective.direction == "max" else -float(score)
        if self._keras_space and trial.status == TrialStatus.FAILED and _is_nan(score):
            # A NaN score (keras-tuner fails the trial) is told as the worst score so far,
            # so EI leaves the region instead of proposing it again and again. Never NaN.
            targets = self._optimizer.space.target
            return float(np.min(targets)) if len(targets) else None
        # train-with-bo's objective reports a diverged trial with a finite worst score
        # itself; inf would poison the GP, and a crash (no score) is no measurement.
        return None

    # -- keras-tuner Oracle ----------------------------------------------------------------

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        """The next point: an init point while any are left, then a GP suggestion."""
        self._sync_space()
        if not self._space.params:
            # Nothing to tune (yet): one trial at the defaults, as keras-tuner's oracles run
            # it, lets a hypermodel declare its hyperparameters.
            if self.start_order:
                return {"status": TrialStatus.STOPPED, "values": None}
            return {"status": TrialStatus.RUNNING, "values": dict(self._space.fixed)}
        params = self._queue.pop(0) if self._queue else self._suggest()
        self._coords[trial_id] = params
        return {"status": TrialStatus.RUNNING, "values": self._space.to_values(params)}

    @keras_tuner.synchronized
    def end_trial(self, trial):
        """Records the trial (keras-tuner) and tells bayes_opt its score."""
        super().end_trial(trial)
        recorded = self.trials[trial.trial_id]
        if recorded.trial_id in self.end_order:  # not sent back for a retry
            self._sync_space()
            self._register(recorded)

    def get_state(self) -> dict[str, Any]:
        state = super().get_state()
        rng = self._rng.get_state()
        state["bayes_opt"] = {
            **self._settings(),
            "xi": self.xi,
            "kappa": self.kappa,
            "init_count": self.init_count,
            "queue": self._queue,
            "coords": self._coords,
            # The optimizer's random state as plain JSON (no pickles), so a resumed run
            # proposes what the uninterrupted run would have proposed.
            "random_state": [rng[0], rng[1].tolist(), int(rng[2]), int(rng[3]), float(rng[4])],
        }
        return state

    def _settings(self) -> dict[str, Any]:
        bounds = {k: list(v) for k, v in self.bounds.items()} if self.bounds else None
        return {
            "bounds": bounds,
            "acquisition": self.acquisition,
            "init_points": self.init_points,
            "seed": self.bo_seed,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        saved = state["bayes_opt"]
        for key, now in self._settings().items():
            if saved.get(key) != now:
                raise ConfigError(
                    f"The saved search has {key}={saved.get(key)!r} but this one has "
                    f"{key}={now!r}; resume it with the same settings or start a new run "
                    "directory."
                )
        self.xi, self.kappa = float(saved["xi"]), float(saved["kappa"])
        # Rebuild bayes_opt from the trial records: ended trials are registered again, in
        # the order they ended, then the random state is put back.
        self._coords = {k: dict(v) for k, v in saved.get("coords", {}).items()}
        self._rng = np.random.RandomState(self.bo_seed)
        self._rebuild(space_key(self.hyperparameters))
        self.init_count = saved.get("init_count", self.init_points)
        self._queue = [dict(p) for p in saved["queue"]]
        name, key, pos, has_gauss, cached = saved["random_state"]
        self._rng.set_state((name, np.asarray(key, dtype=np.uint32), pos, has_gauss, cached))
        if self.init_count is None:
            # Saved before the space had anything to tune: the next trial draws the init
            # points from the restored state, as the uninterrupted search would have.
            self._space_key = None


def suggest_typed(
    optimizer: BayesianOptimization,
    pbounds: Mapping[str, Any],
    pending: list[np.ndarray],
    strategy: str | float,
    rng: np.random.RandomState,
) -> dict[str, Any]:
    """`optimizer`'s next point on a space with Int and categorical parameters (a
    keras-tuner space: `BayesOptOracle`, `BOHBOracle`): with the `pending` points told as
    lies (`suggest_with_lies`) when there are any, and a suggestion that repeats a scored
    or pending point replaced by a random one: a discrete space can make EI ask for one,
    and that trial would teach the GP nothing (bayes_opt does not register a repeat).

    Example:

    >>> from bayes_opt import acquisition
    >>> optimizer = BayesianOptimization(None, {"k": (0, 2, int)}, random_state=0,
    ...     acquisition_function=acquisition.ExpectedImprovement(xi=0.01), verbose=0)
    >>> for k in (0, 2):
    ...     optimizer.register(params={"k": k}, target=float(k))
    >>> suggest_typed(optimizer, {"k": (0, 2, int)}, [np.array([1.0])], "max",
    ...               np.random.RandomState(0))["k"] in (0, 1, 2)
    True
    """
    # The GP's matrices have a few dozen rows: BLAS and OpenMP threads only add hand-offs
    # here and compete with TensorFlow's for the cores: on 2 cores at 30 points one thread
    # cut a suggestion from 0.34 to 0.05 CPU s (2.5 to 0.34 s wall).
    with threadpool_limits(limits=1):
        if pending:
            params = suggest_with_lies(optimizer, pbounds, pending, strategy, rng)
        else:
            params = plain_params(optimizer.suggest())
    x = optimizer.space.params_to_array(params)
    if x in optimizer.space or any(np.array_equal(x, p) for p in pending):
        params = plain_params(optimizer.random_sample(1)[0])
    return params


def suggest_with_lies(
    optimizer: BayesianOptimization,
    pbounds: Mapping[str, Any],
    pending: list[np.ndarray],
    strategy: str | float,
    rng: np.random.RandomState,
) -> dict[str, Any]:
    """`optimizer`'s suggestion with `pending` points told as lies (`strategy`: "max",
    "mean", "min" of the scores so far, or a number), for spaces with Int and categorical
    parameters: bayes_opt 3.4's `ConstantLiar` cannot copy those, so the lies go into a
    typed copy of the target space instead; the optimizer itself is left as it was.

    Example:

    >>> from bayes_opt import acquisition
    >>> optimizer = BayesianOptimization(None, {"k": (0, 4, int)}, random_state=0,
    ...     acquisition_function=acquisition.ExpectedImprovement(xi=0.01), verbose=0)
    >>> for k in (0, 4):
    ...     optimizer.register(params={"k": k}, target=float(k))
    >>> point = suggest_with_lies(optimizer, {"k": (0, 4, int)}, [np.array([3.0])], "max",
    ...                           np.random.RandomState(0))
    >>> point["k"] in (1, 2), len(optimizer.space)
    (True, 2)
    """
    space = optimizer.space
    with typed_parameters_allowed():
        lied = TargetSpace(None, pbounds, allow_duplicate_points=True)
    for x, y in zip(space.params, space.target, strict=True):
        lied.register(x, float(y))
    if isinstance(strategy, int | float):
        lie = float(strategy)
    else:
        lie = float({"max": np.max, "min": np.min, "mean": np.mean}[strategy](space.target))
    for x in pending:
        lied.register(x, lie)
    x = optimizer.acquisition_function.suggest(
        gp=_compat.bayes_opt_gp(optimizer), target_space=lied, fit_gp=True, random_state=rng
    )
    return plain_params(lied.array_to_params(x))


def plain_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """bayes_opt's point with numpy scalars as Python ones (JSON, keras-tuner values).

    Example:

    >>> plain_params({"lr": np.float64(-2.0), "units": np.int64(3), "act": "tanh"})
    {'lr': -2.0, 'units': 3, 'act': 'tanh'}
    """
    return {
        name: value.item() if isinstance(value, np.generic) else value
        for name, value in params.items()
    }


@contextlib.contextmanager
def typed_parameters_allowed() -> Iterator[None]:
    """A block where bayes_opt builds Int and categorical parameters without its warning."""
    # bayes_opt 3.4 calls its Int and categorical parameters "experimental"; they are its
    # documented API, and the tests check what they return.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Non-float parameters are experimental")
        yield


def _is_nan(score: Any) -> bool:
    return isinstance(score, float) and math.isnan(score)
