"""The searches over one space: bayes_opt (`bo`), keras-tuner's random, grid, hyperband, and
`bohb` (Hyperband's brackets, new configurations from bayes_opt's GP: `bohb.py`).

`build_oracle` returns the oracle and one line that says what it will do (for the grid:
the grid shape and how it relates to the trial budget).
"""

from __future__ import annotations

import functools
import math

import keras_tuner
import numpy as np
from keras_tuner.oracles import GridSearchOracle, HyperbandOracle, RandomSearchOracle

from keras_recipes.errors import ConfigError
from keras_recipes.tuning.bo.bohb import build_bohb
from keras_recipes.tuning.bo.config import SEARCHES
from keras_recipes.tuning.bo.oracle import SEED_SPACING, BayesOptOracle
from keras_recipes.tuning.bo.space import SearchSpace
from keras_recipes.tuning.engine.rungs import ExtendableIterations, plan_words, with_min_epochs


def grid_shape(budget: int, dims: int) -> tuple[int, ...]:
    """Points per axis of a grid whose size is as close to `budget` as possible.

    Every axis gets about `budget ** (1 / dims)` points (at least 2); the last axis takes
    what is left, so 30 trials in 2-D is a 5 x 6 grid (30 points) and 10 is 3 x 3 (9).

    Example:

    >>> grid_shape(30, 2), grid_shape(16, 2), grid_shape(10, 2), grid_shape(7, 1)
    ((5, 6), (4, 4), (3, 3), (7,))
    """
    if budget < 2**dims:
        raise ConfigError(
            f"A {dims}-D grid needs at least 2 points per axis ({2**dims} trials); "
            f"the budget is {budget} trials. Raise --n-iter."
        )
    shape: list[int] = []
    left = budget
    for axis in range(dims):
        axes_left = dims - axis
        n = max(2, round(left ** (1 / axes_left)))
        shape.append(n)
        left = left / n
    return tuple(shape)


def grid_step(low: float, high: float, n: int) -> float:
    """The step that gives exactly `n` values from `low` to (about) `high` in keras-tuner.

    keras-tuner counts `int((high - low) // step) + 1` values; `(high - low) / (n - 1)` can
    fall short by one in floating point (4 // 0.8 == 4.0), so the step is nudged down
    until the count is `n`.
    """
    step = (high - low) / (n - 1)
    while int((high - low) // step) + 1 < n:
        step = float(np.nextafter(step, 0.0))
    return step


class _GridSearchOracle(GridSearchOracle):
    # keras-tuner's grid oracle keeps its walk (ordered trial list, trials to expand) in
    # memory only, so a reloaded grid search stops at once. Rebuild both from the trials
    # (through the grid oracle's private attributes: see keras_recipes._compat).
    def set_state(self, state):
        super().set_state(state)
        ids = [tid for tid in dict.fromkeys(self.start_order) if tid in self.trials]
        key = functools.cmp_to_key(
            lambda a, b: self._compare(
                self.trials[a].hyperparameters.values, self.trials[b].hyperparameters.values
            )
        )
        for trial_id in sorted(ids, key=key):
            self._ordered_ids.insert(trial_id)
        self._populate_next = list(ids)


class ExtendableHyperbandOracle(ExtendableIterations, HyperbandOracle):
    """keras-tuner's Hyperband whose resumed run may add iterations (`ExtendableIterations`)."""


def build_oracle(
    search: str,
    space: SearchSpace,
    objective: keras_tuner.Objective,
    *,
    init_points: int,
    n_iter: int,
    seed: int,
    acquisition: str = "ei",
    xi: float = 0.01,
    kappa: float = 2.576,
    max_epochs: int | None = None,
    min_epochs: int = 1,
    hyperband_iterations: int = 1,
    continued: bool = True,
) -> tuple[keras_tuner.Oracle, str]:
    """The oracle for `search` and a one-line description of the plan.

    Args:
        search: str. "bo", "random", "grid", "hyperband" or "bohb".
        space: SearchSpace. The parameters and their bounds.
        objective: keras_tuner.Objective. The metric to maximise.
        init_points: int. Random points before bo's GP takes over.
        n_iter: int. GP-guided points; the budget of every search is init_points + n_iter.
        seed: int. Seeds the search.
        acquisition: str. bo's acquisition function ("ei", "ucb", "poi").
        xi: float. EI/POI exploration margin.
        kappa: float. UCB exploration weight.
        max_epochs: int. Hyperband's (and bohb's) largest per-trial epoch count (the
            per-trial epochs).
        min_epochs: int. Hyperband's (and bohb's) smallest rung, at least
            (`rungs.with_min_epochs`; 1 as in keras-tuner).
        hyperband_iterations: int. Times Hyperband (and bohb) runs its whole set of brackets.
        continued: bool. Promoted configurations continue their parent's run (the "final"
            rung schedule): the plan line's epoch count.

    Returns:
        (oracle, description).
    """
    budget = init_points + n_iter
    if search == "bo":
        oracle = BayesOptOracle(
            objective,
            space.pbounds,
            acquisition=acquisition,
            xi=xi,
            kappa=kappa,
            init_points=init_points,
            n_iter=n_iter,
            seed=seed,
        )
        name = {"ei": f"EI xi={xi:g}", "poi": f"POI xi={xi:g}", "ucb": f"UCB kappa={kappa:g}"}
        return oracle, (
            f"bo: bayes_opt GP + {name[acquisition]}, {init_points} random + {n_iter} guided "
            f"= {budget} trials"
        )
    if search == "bohb":
        return build_bohb(
            space.pbounds, objective, max_epochs=max_epochs, seed=seed,
            acquisition=acquisition, xi=xi, kappa=kappa, min_epochs=min_epochs,
            hyperband_iterations=hyperband_iterations, continued=continued,
        )  # fmt: skip
    hps = keras_tuner.HyperParameters()
    # keras-tuner reads seed 0 as "no seed" (a random one), and draws trial i from seed + i:
    # space the seeds apart, so runs with seeds 0 and 1 do not share all but one point.
    kt_seed = seed * SEED_SPACING + 1
    if search == "random":
        for name, low, high in space.bounds:
            hps.Float(name, low, high)
        oracle = RandomSearchOracle(
            objective=objective, max_trials=budget, seed=kt_seed, hyperparameters=hps
        )
        return oracle, f"random: {budget} trials uniform in the box"
    if search == "grid":
        shape = grid_shape(budget, len(space.bounds))
        for (name, low, high), n in zip(space.bounds, shape, strict=True):
            hps.Float(name, low, high, step=grid_step(low, high, n))
        size = math.prod(shape)
        oracle = _GridSearchOracle(
            objective=objective, max_trials=size, seed=kt_seed, hyperparameters=hps
        )
        dims = " x ".join(str(n) for n in shape)
        return oracle, f"grid: {dims} = {size} points (budget {budget} trials)"
    if search == "hyperband":
        if not max_epochs:
            raise ConfigError("Hyperband needs the per-trial epochs (--epochs) as max_epochs.")
        for name, low, high in space.bounds:
            hps.Float(name, low, high)
        oracle = ExtendableHyperbandOracle(
            objective=objective,
            max_epochs=max_epochs,
            factor=3,
            hyperband_iterations=hyperband_iterations,
            seed=kt_seed,
            hyperparameters=hps,
        )
        with_min_epochs(oracle, min_epochs)
        return oracle, (
            f"hyperband: {plan_words(oracle, continued)} (the trial count follows from "
            "max_epochs; --init-points/--n-iter do not apply)"
        )
    raise ConfigError(f"Unknown search {search!r}; valid: {', '.join(SEARCHES)}.")
