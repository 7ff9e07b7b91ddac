"""`BOHBOracle`: Hyperband's brackets, with new configurations from bayes_opt's GP (BOHB).

BOHB (Falkner, Klein & Hutter, ICML 2018) keeps Hyperband's schedule (brackets of
successive halving: many configurations on a few epochs, the best third promoted to three
times the epochs) and replaces its random draws by a model. Here the model is bayes_opt's
GP + acquisition (EI by default), as in `BayesOptOracle`, fitted on the scores at the
largest budget that has at least d + 1 of them (d: the number of tuned parameters), the
rule of BOHB's `min_points_in_model`. A fraction of the new configurations (1/3, BOHB's
default) stays random, so a model misled by a low budget cannot stop the exploration.

It searches either a box of floats (`bounds`: `train-with-bo`) or any keras-tuner
`HyperParameters` space (`hyperparameters`: `BOHBTuner` and `keras-recipes tune`), encoded
for the GP as `BayesOptOracle` encodes it (`hp_space.HPSpace`: log10 rates, grid indices,
one-hot categories; one length scale per coordinate).

Promotions are Hyperband's (keras-tuner's `HyperbandOracle`): only the configurations that
start a bracket's first round change. With `random_fraction=1` the search is exactly
keras-tuner's Hyperband with the same seed. The configurations of the round being filled
(and trials running on other workers) are lies to the GP (`ConstantLiar`) until they have
a score at its budget, so one round's configurations do not all go to the same spot.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import keras_tuner
import numpy as np
from bayes_opt import BayesianOptimization, acquisition
from keras_tuner.engine.trial import TrialStatus
from keras_tuner.oracles import HyperbandOracle
from threadpoolctl import threadpool_limits

from keras_recipes.errors import ConfigError, check_int
from keras_recipes.seeds import check_seed
from keras_recipes.tuning.bo.hp_space import (
    HPSpace,
    RefusesConditional,
    check_unconditional_space,
    space_key,
)
from keras_recipes.tuning.bo.oracle import (
    SEED_SPACING,
    make_acquisition,
    suggest_typed,
    typed_parameters_allowed,
    use_ard_kernel,
)
from keras_recipes.tuning.engine.rungs import (
    ExtendableIterations,
    oracle_schedule,
    plan_words,
    with_min_epochs,
)

#: Where a new configuration came from (`BOHBOracle.proposals[trial_id]["source"]`).
SOURCES = ("gp", "random", "no-model")
#: BOHB's default share of random configurations (Falkner et al. 2018).
DEFAULT_RANDOM_FRACTION = 1 / 3


def model_budget(counts: Mapping[int, int], min_points: int) -> int | None:
    """The largest budget with at least `min_points` observations, or None.

    Example:

    >>> model_budget({1: 9, 3: 3, 9: 1}, min_points=3)
    3
    >>> model_budget({1: 2}, min_points=3) is None
    True
    """
    enough = [budget for budget, n in counts.items() if n >= min_points]
    return max(enough) if enough else None


class BOHBOracle(RefusesConditional, ExtendableIterations, HyperbandOracle):
    """Hyperband whose new configurations come from bayes_opt's GP (BOHB).

    Each configuration that starts a bracket is, with probability `random_fraction`, a
    random one (keras-tuner's own draw, as Hyperband's); otherwise bayes_opt's suggestion
    from a GP fitted on the completed trials at the largest budget (epochs) that has at
    least `min_points` of them (random while no budget has). Trials still running elsewhere
    are told to the GP as lies (`ConstantLiar`), as `BayesOptOracle` does. Trials without a
    finite score (NaN: keras-tuner marks them invalid) are never told to the GP.

    The configurations already started in the bracket's first round are lies too: the GP's
    budget is often above that round's, so their scores there come only later, and without
    lies every configuration of a round would go to the same spot.

    `proposals` records, per trial that started a configuration, where it came from
    ("gp", "random", or "no-model": random because no budget had enough points yet), the
    budget the GP was fitted on, how many points it saw and how many lies it was told.

    Example:

    >>> import keras_tuner
    >>> oracle = BOHBOracle(keras_tuner.Objective("f", "max"), {"x": (-2.0, 6.0)}, max_epochs=9)
    >>> [[epochs for _, epochs in rounds] for rounds in oracle.schedule]
    [[1, 3, 9], [3, 9], [9]]
    >>> oracle.min_points, round(oracle.random_fraction, 3)
    (2, 0.333)
    >>> objective = keras_tuner.Objective("f", "max")
    >>> BOHBOracle(objective, {"x": (-2.0, 6.0)}, max_epochs=9, min_epochs=3).schedule
    [[(5, 3), (2, 9)], [(3, 9)]]
    >>> hp = keras_tuner.HyperParameters()
    >>> _ = hp.Float("lr", 1e-4, 1e-1, sampling="log")
    >>> _ = hp.Choice("activation", ["relu", "tanh"])
    >>> BOHBOracle("val_loss", hyperparameters=hp, max_epochs=27).min_points
    3

    Args:
        objective: str or keras_tuner.Objective. The metric (maximised or minimised as its
            direction says; the GP is told a minimised score negated).
        bounds: mapping or None. `{"name": (low, high)}`, searched in this order.
        max_epochs: int. The largest budget (Hyperband's `max_epochs`).
        factor: int. Hyperband's reduction factor (>= 2).
        hyperband_iterations: int. Times the whole set of brackets runs (>= 1).
        min_epochs: int. The smallest rung's epochs, at least (`rungs.with_min_epochs`;
            keras-tuner's Hyperband has 1).
        random_fraction: float. Share of new configurations drawn at random, in [0, 1].
        min_points: int or None. Observations a budget needs before the GP is fitted on it
            (None: d + 1).
        acquisition: str. "ei" (Expected Improvement), "ucb" or "poi".
        xi: float. Exploration margin of EI and POI.
        kappa: float. Exploration weight of UCB.
        seed: int. Seeds keras-tuner's random draws, the random-fraction coin and bayes_opt
            (GP restarts, acquisition search).
        liar_strategy: "max", "mean", "min" or a float: the value `ConstantLiar` pretends a
            running trial will score.
        hyperparameters: keras_tuner.HyperParameters or None. The space instead of
            `bounds` (it may also grow from what the hypermodel declares, as keras-tuner's
            oracles allow); conditional hyperparameters are a ConfigError.
        **kwargs: passed to `keras_tuner.oracles.HyperbandOracle` (e.g.
            `tune_new_entries`, `allow_new_entries` with `hyperparameters`).
    """

    def __init__(
        self,
        objective: Any,
        bounds: Mapping[str, tuple[float, float]] | None = None,
        *,
        max_epochs: int,
        factor: int = 3,
        hyperband_iterations: int = 1,
        min_epochs: int = 1,
        random_fraction: float = DEFAULT_RANDOM_FRACTION,
        min_points: int | None = None,
        acquisition: str = "ei",
        xi: float = 0.01,
        kappa: float = 2.576,
        seed: int = 0,
        liar_strategy: str | float = "max",
        hyperparameters: keras_tuner.HyperParameters | None = None,
        **kwargs: Any,
    ):
        check_int("max_epochs", max_epochs, 1)
        check_int("factor", factor, 2)
        check_int("hyperband_iterations", hyperband_iterations, 1)
        if min_points is not None:
            check_int("min_points", min_points, 1)
        if not (isinstance(random_fraction, int | float) and 0 <= random_fraction <= 1):
            raise ConfigError(
                f"random_fraction must be a number in [0, 1]; got {random_fraction!r}."
            )
        check_seed(seed)
        make_acquisition(acquisition, xi=xi, kappa=kappa)  # validates before anything runs
        if bounds is not None:
            if hyperparameters is not None:
                raise ConfigError("Give BOHBOracle either bounds or hyperparameters, not both.")
            self.bounds = {str(k): (float(lo), float(hi)) for k, (lo, hi) in bounds.items()}
            hyperparameters = keras_tuner.HyperParameters()
            for name, (low, high) in self.bounds.items():
                hyperparameters.Float(name, low, high)
            kwargs = {**kwargs, "allow_new_entries": False, "tune_new_entries": False}
        else:
            self.bounds = None
            check_unconditional_space(hyperparameters)
        self._encoding: tuple[str, HPSpace] | None = None
        super().__init__(
            objective=objective,
            max_epochs=max_epochs,
            factor=factor,
            hyperband_iterations=hyperband_iterations,
            # The same keras-tuner seed as `--search hyperband`, so its random draws are
            # Hyperband's (keras-tuner reads 0 as "no seed").
            seed=seed * SEED_SPACING + 1,
            hyperparameters=hyperparameters,
            **kwargs,
        )
        with_min_epochs(self, min_epochs)
        self.random_fraction = float(random_fraction)
        self._min_points = min_points
        self.acquisition = acquisition
        self.xi = float(xi)
        self.kappa = float(kappa)
        self.bo_seed = int(seed)
        self.liar_strategy = liar_strategy
        # Two streams: the coin never shifts the GP's draws, so a GP suggestion can be
        # replayed with bayes_opt alone from `random_state=seed`.
        self._rng = np.random.RandomState(self.bo_seed)
        self._coin = np.random.RandomState([self.bo_seed, 1])
        self.proposals: dict[str, dict[str, Any]] = {}

    @property
    def schedule(self) -> list[list[tuple[int, int]]]:
        """The brackets as (configurations, epochs) per round (`hyperband_schedule`)."""
        return oracle_schedule(self)

    @property
    def min_points(self) -> int:
        """Observations a budget needs before the GP is fitted on it (default d + 1)."""
        if self._min_points is not None:
            return self._min_points
        return (len(self.bounds) if self.bounds else len(self.space.params)) + 1

    @property
    def space(self) -> HPSpace:
        """The GP's encoding of the keras-tuner space (`HPSpace`), following it as it grows."""
        key = space_key(self.hyperparameters)
        if self._encoding is None or self._encoding[0] != key:
            self._encoding = (key, HPSpace(self.hyperparameters))
        return self._encoding[1]

    def _point(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The GP's coordinates of a trial's values."""
        if self.bounds is not None:
            return {name: float(values[name]) for name in self.bounds}
        return self.space.to_params(values)

    def _target(self, score: float) -> float:
        # bayes_opt maximises.
        return score if self.objective.direction == "max" else -score

    # -- observations ----------------------------------------------------------------------

    def observations(self, budget: int) -> list[tuple[dict[str, float], float]]:
        """(point, score) of the completed trials at `budget` epochs, in the order they
        ended; a point seen twice counts once (its first score), as bayes_opt registers it."""
        seen: set[tuple[float, ...]] = set()
        out = []
        for trial_id in self.end_order:
            trial = self.trials[trial_id]
            values = trial.hyperparameters.values
            if trial.status != TrialStatus.COMPLETED or values.get("tuner/epochs") != budget:
                continue
            if trial.score is None or not math.isfinite(trial.score):
                continue
            point = self._point(values)
            key = tuple(point.values())
            if key not in seen:
                seen.add(key)
                out.append((point, self._target(float(trial.score))))
        return out

    def budget_counts(self) -> dict[int, int]:
        """Observations per budget (what `model_budget` chooses from)."""
        budgets = {
            self.trials[t].hyperparameters.values.get("tuner/epochs") for t in self.end_order
        }
        return {int(b): len(self.observations(b)) for b in budgets if b is not None}

    # -- proposals -------------------------------------------------------------------------

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        """Hyperband's next trial; a new configuration's point from the GP (or random)."""
        response = super().populate_space(trial_id)
        values = response.get("values")
        if response["status"] != TrialStatus.RUNNING or not values:
            return response
        if values.get("tuner/round", 0) > 0:
            # keras-tuner labels a promotion with the newest bracket, which is another one
            # when several workers keep an older bracket open: take its own trial's label.
            past = self.trials[values["tuner/trial_id"]].hyperparameters.values
            values["tuner/bracket"] = past["tuner/bracket"]
            return response
        self._propose(trial_id, values)
        return response

    def pending(self, bracket: int) -> list[dict[str, float]]:
        """Points whose score the GP may not count on yet: the configurations started in the
        first round of `bracket` (the one being filled), then the trials running now."""
        # In start order, back to the last trial of another bracket: the first round of the
        # bracket being filled. (With several workers a promotion of an older bracket can
        # sit in between; the walk then stops there and lies about fewer points.)
        first_round = []
        for trial_id in reversed(self.start_order):
            values = self.trials[trial_id].hyperparameters.values
            if values.get("tuner/bracket") != bracket:
                break
            if values.get("tuner/round") == 0:
                first_round.append(self._point(values))
        running = [self._point(t.hyperparameters.values) for t in self.ongoing_trials.values()]
        return [*reversed(first_round), *running]

    def _propose(self, trial_id: str, values: dict[str, Any]) -> None:
        # BOHB's order: the coin first, then whether a model exists (hpbandster's bohb.py).
        # Without d + 1 scores at any budget the draw stays random, as in hpbandster: a GP
        # on fewer points than dimensions + 1 cannot fit a length scale per dimension, and
        # pooling budgets would mix scores that mean different things.
        coin = self._coin.random_sample()
        budget = model_budget(self.budget_counts(), self.min_points)
        record: dict[str, Any] = {"source": "random", "budget": None, "points": 0, "lies": 0}
        if coin >= self.random_fraction:
            if budget is None or (self.bounds is None and not self.space.params):
                record["source"] = "no-model"  # (or nothing to tune yet): keras-tuner's draw
            else:
                observed = self.observations(budget)
                point, lies = self._suggest(observed, self.pending(values["tuner/bracket"]))
                values.update(point if self.bounds is not None else self.space.to_values(point))
                record = {"source": "gp", "budget": budget, "points": len(observed), "lies": lies}
        self.proposals[trial_id] = record

    def _new_optimizer(self) -> tuple[BayesianOptimization, acquisition.ConstantLiar]:
        base = make_acquisition(self.acquisition, xi=self.xi, kappa=self.kappa)
        liar = acquisition.ConstantLiar(base, strategy=self.liar_strategy)
        optimizer = BayesianOptimization(
            f=None,
            pbounds=dict(self.bounds),
            acquisition_function=liar,
            # Shared, so successive suggestions continue one random stream (and a resumed
            # run, its state restored, continues it too).
            random_state=self._rng,
            verbose=0,
        )
        return optimizer, liar

    def _suggest(
        self,
        observed: Sequence[tuple[dict[str, float], float]],
        pending: Sequence[dict[str, float]],
    ) -> tuple[dict[str, float], int]:
        if self.bounds is None:
            return self._suggest_typed(observed, pending)
        # A fresh optimizer each time: the budget it is fitted on changes as brackets end.
        optimizer, liar = self._new_optimizer()
        for params, score in observed:
            optimizer.register(params=params, target=score)
        # The configurations of this first round have no score at the model's budget until
        # the round is over (a higher budget: not before they are promoted), so without lies
        # the GP is the same for the whole round and EI sends every one of them to the same
        # spot (5 of 7 within 0.03 of each other on Branin). As BayesOptOracle does for
        # workers, `ConstantLiar` tells the GP they scored the best so far, and the next
        # suggestion goes elsewhere.
        space = optimizer.space
        lies = _unscored(space, pending)
        liar.dummies = lies  # a private reach: see _compat
        # One BLAS thread: see BayesOptOracle._suggest (tiny matrices, TF on the cores).
        with threadpool_limits(limits=1):
            suggestion = optimizer.suggest()
        return {name: float(v) for name, v in suggestion.items()}, len(lies)

    def _suggest_typed(
        self,
        observed: Sequence[tuple[dict[str, Any], float]],
        pending: Sequence[dict[str, Any]],
    ) -> tuple[dict[str, Any], int]:
        """`_suggest` for a keras-tuner space, as `BayesOptOracle` suggests there: Int and
        categorical coordinates, one length scale each, lies in a typed copy of the space,
        and a repeat of a scored or pending point replaced by a random one."""
        pbounds = self.space.pbounds
        with typed_parameters_allowed():
            optimizer = BayesianOptimization(
                f=None,
                pbounds=pbounds,
                acquisition_function=make_acquisition(
                    self.acquisition, xi=self.xi, kappa=self.kappa
                ),
                random_state=self._rng,
                verbose=0,
            )
        use_ard_kernel(optimizer)
        for params, score in observed:
            optimizer.register(params=params, target=score)
        lies = _unscored(optimizer.space, pending)
        return suggest_typed(optimizer, pbounds, lies, self.liar_strategy, self._rng), len(lies)

    # -- state -----------------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        state = super().get_state()
        state["bohb"] = {
            **self._settings(),
            "xi": self.xi,
            "kappa": self.kappa,
            "random_state": _rng_state(self._rng),
            "coin_state": _rng_state(self._coin),
            "proposals": self.proposals,
        }
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        saved = state["bohb"]
        for key, now in self._settings().items():
            if saved[key] != now:
                raise ConfigError(
                    f"The saved search has {key}={saved[key]!r} but this one has {key}={now!r}; "
                    "resume it with the same settings or start a new run directory."
                )
        self.xi, self.kappa = float(saved["xi"]), float(saved["kappa"])
        self._rng.set_state(_rng_from_json(saved["random_state"]))
        self._coin.set_state(_rng_from_json(saved["coin_state"]))
        self.proposals = {k: dict(v) for k, v in saved["proposals"].items()}

    def _settings(self) -> dict[str, Any]:
        return {
            "bounds": {k: list(v) for k, v in self.bounds.items()} if self.bounds else None,
            "random_fraction": self.random_fraction,
            # A box's d is fixed, and runs saved it resolved; a keras-tuner space may grow.
            "min_points": self.min_points if self.bounds else self._min_points,
            "acquisition": self.acquisition,
            "seed": self.bo_seed,
        }


def build_bohb(
    bounds: Mapping[str, tuple[float, float]],
    objective: keras_tuner.Objective,
    *,
    max_epochs: int | None,
    seed: int,
    acquisition: str = "ei",
    xi: float = 0.01,
    kappa: float = 2.576,
    min_epochs: int = 1,
    hyperband_iterations: int = 1,
    continued: bool = True,
) -> tuple[BOHBOracle, str]:
    """`--search bohb`: the oracle and the plan's line (`searches.build_oracle`; `continued`:
    promoted configurations continue their parent's run, for the epoch count)."""
    if not max_epochs:
        raise ConfigError("bohb needs the per-trial epochs (--epochs) as max_epochs.")
    oracle = BOHBOracle(
        objective,
        bounds,
        max_epochs=max_epochs,
        min_epochs=min_epochs,
        hyperband_iterations=hyperband_iterations,
        acquisition=acquisition,
        xi=xi,
        kappa=kappa,
        seed=seed,
    )
    name = {"ei": f"EI xi={xi:g}", "poi": f"POI xi={xi:g}", "ucb": f"UCB kappa={kappa:g}"}
    return oracle, (
        f"bohb: Hyperband brackets ({plan_words(oracle, continued)}); new "
        f"configurations from bayes_opt GP + {name[acquisition]} fitted at the largest budget "
        f"with >= {oracle.min_points} scores, 1/3 random (--init-points/--n-iter do not apply)"
    )


def _point(values: Mapping[str, Any], bounds: Mapping[str, Any]) -> dict[str, float]:
    return {name: float(values[name]) for name in bounds}


def _unscored(space: Any, points: Sequence[Mapping[str, Any]]) -> list[np.ndarray]:
    """`points` as arrays of bayes_opt's target `space`, without those it has a score for
    and without repeats (a lie on a scored point, or a twin lie, would be a duplicate)."""
    out: list[np.ndarray] = []
    for point in points:
        x = space.params_to_array(point)
        if x not in space and not any(np.array_equal(x, p) for p in out):
            out.append(x)
    return out


def _rng_state(rng: np.random.RandomState) -> list:
    # Plain JSON (no pickles), so a resumed run proposes what the uninterrupted one would.
    name, key, pos, has_gauss, cached = rng.get_state()
    return [name, key.tolist(), int(pos), int(has_gauss), float(cached)]


def _rng_from_json(saved: Sequence[Any]) -> tuple:
    name, key, pos, has_gauss, cached = saved
    return (name, np.asarray(key, dtype=np.uint32), pos, has_gauss, cached)


def plot_budget(frame: Any, dims: int) -> int | None:
    """The budget whose rows the posterior plot fits its GP on: `model_budget` of the scored
    rows of `trials.csv` (bohb's rule), else the budget with most rows; None without any.

    Example:

    >>> import pandas as pd
    >>> frame = pd.DataFrame({"budget": [1, 1, 1, 3, 3], "status": ["completed"] * 5})
    >>> plot_budget(frame, dims=2), plot_budget(frame, dims=1)
    (1, 3)
    """
    scored = frame[frame["status"].isin(("completed", "early_stopped", "diverged"))]
    counts = {int(b): int(n) for b, n in scored["budget"].dropna().value_counts().items()}
    if not counts:
        return None
    chosen = model_budget(counts, dims + 1)
    return chosen if chosen is not None else max(counts, key=lambda b: (counts[b], b))
