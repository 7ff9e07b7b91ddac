"""`keras-recipes tune`'s search: keras-tuner's random, Bayesian or Hyperband oracle, or
bohb (Hyperband's brackets with bayes_opt's GP), over the recipe space, run on the same
trial engine as `train-with-bo` (`search.drive_search`).

Run directory:

    tune.json          the settings (checked when resuming)
    trials.csv         one row per finished trial: the choices, lr, wd, momentum, the best
                       validation accuracy, epochs, seconds, status, (hyperband, bohb:
                       budget, bracket), reason (rewritten after each trial)
    fidelity.json      hyperband, bohb: after each bracket, the Kendall tau of each lower
                       budget's scores with the top budget's (`engine.fidelity_check`)
    best.json          the best trial so far
    best.toml          its recipe: `python train.py --recipe <run_dir>/best.toml`
    trials/<n>/        each trained trial's train() run (history.csv, summary.json, recipe.toml)
    keras_tuner/       keras-tuner's project (resume)
"""

from __future__ import annotations

import math
import sys
import warnings
from pathlib import Path
from typing import Any, TextIO

import keras_tuner
import pandas as pd

from keras_recipes.recipes import Recipe
from keras_recipes.training.run_dir import prepare_run_dir
from keras_recipes.tuning.bo.bohb import BOHBOracle
from keras_recipes.tuning.bo.searches import ExtendableHyperbandOracle
from keras_recipes.tuning.engine import cluster
from keras_recipes.tuning.engine.driver import SearchResult, drive_search, load_data_first, say
from keras_recipes.tuning.engine.failures import last_line
from keras_recipes.tuning.engine.outcome import TrialOutcome
from keras_recipes.tuning.engine.recorder import TrialRecorder, best_trial
from keras_recipes.tuning.engine.run_folder import claim_run_dir
from keras_recipes.tuning.engine.rungs import plan_words, with_min_epochs
from keras_recipes.tuning.engine.space import param_value
from keras_recipes.tuning.recipe.config import (
    BEST_RECIPE,
    OBJECTIVE,
    RUNG_ORACLES,
    RecipeSearchConfig,
)
from keras_recipes.tuning.recipe.objective import RecipeObjective


def build_recipe_oracle(
    config: RecipeSearchConfig, continued: bool = True
) -> tuple[keras_tuner.Oracle, str]:
    """keras-tuner's oracle for `config.oracle` over the recipe space, and a line saying what
    it will do (`continued`: promoted configurations continue their parent's run, for the
    epoch count)."""
    objective = keras_tuner.Objective(OBJECTIVE, "max")
    hps = config.space.hyperparameters()
    # keras-tuner reads seed 0 as "no seed" (a random one); shift it so every seed repeats.
    seed = config.seed + 1
    if config.oracle == "random":
        oracle = keras_tuner.oracles.RandomSearchOracle(
            objective=objective, max_trials=config.max_trials, seed=seed, hyperparameters=hps
        )
        return oracle, f"random: {config.max_trials} trials drawn from the recipe space"
    if config.oracle == "bayesian":
        oracle = keras_tuner.oracles.BayesianOptimizationOracle(
            objective=objective,
            max_trials=config.max_trials,
            num_initial_points=config.init_points,
            seed=seed,
            hyperparameters=hps,
        )
        guided = max(0, config.max_trials - config.init_points)
        return oracle, (
            f"bayesian: keras-tuner's GP, {config.init_points} random + {guided} guided "
            f"= {config.max_trials} trials"
        )
    if config.oracle == "bohb":
        oracle = BOHBOracle(
            objective,
            hyperparameters=hps,
            max_epochs=config.epochs,
            min_epochs=config.min_epochs,
            hyperband_iterations=config.hyperband_iterations,
            seed=config.seed,
        )
        model = (
            f"new configurations from bayes_opt GP + EI fitted at the largest budget with "
            f">= {oracle.min_points} scores, 1/3 random"
        )
    else:
        oracle = ExtendableHyperbandOracle(
            objective=objective,
            max_epochs=config.epochs,
            factor=3,
            hyperband_iterations=config.hyperband_iterations,
            seed=seed,
            hyperparameters=hps,
        )
        with_min_epochs(oracle, config.min_epochs)
        model = "random configurations"
    # Hyperband's own count follows from max_epochs; the oracle stops at max_trials too.
    oracle.max_trials = config.max_trials
    return oracle, (
        f"{config.oracle}: Hyperband brackets ({plan_words(oracle, continued)}), {model}; "
        f"at most {config.max_trials} trials"
    )


def run_recipe_search(
    config: RecipeSearchConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    objective: Any = None,
    verbose: bool = True,
) -> SearchResult:
    """Runs (or resumes) a search of the recipe space and writes the run directory.

    Every point is turned into a recipe before anything is trained; one the recipe
    validation rejects is recorded with status "invalid" and the reason, scores the worst
    value for the oracle, and trains nothing. The best trial's recipe is `best.toml`.

    Example:

    >>> import tempfile
    >>> from keras_recipes.recipes import get_recipe
    >>> from keras_recipes.tuning.engine.outcome import TrialOutcome
    >>> def fake(params, epochs=None, trial_dir=None):  # stands in for training
    ...     return TrialOutcome(0.5 + params["learning_rate"], best_epoch=1, epochs_run=1)
    >>> from keras_recipes.tuning.recipe.space import RecipeSpace
    >>> space = RecipeSpace(activation=("selu", "elu"), init=("he_normal",), optimizer=("adam",))
    >>> config = RecipeSearchConfig(get_recipe("default"), oracle="random", max_trials=6,
    ...                             space=space, seed=3)
    >>> run_dir = Path(tempfile.mkdtemp()) / "run"
    >>> result = run_recipe_search(config, run_dir, objective=fake, verbose=False)
    >>> frame = result.frame
    >>> bool((frame["status"] == "invalid").eq(frame["activation"] == "selu").all())
    True
    >>> (run_dir / "best.toml").is_file()
    True

    Args:
        config: RecipeSearchConfig. The settings.
        run_dir: path. The run directory (created; must not hold another run unless
            `resume`).
        resume: bool. Continue the run in `run_dir` up to `config.max_trials`: finished
            trials are kept, a trial cut off mid-way runs again.
        objective: callable or None. Replaces the training objective (tests, notebooks):
            `objective(params, epochs=None, trial_dir=None) -> TrialOutcome | float`; it
            only sees valid points.
        verbose: bool. Print the plan, the live trial table and the best trial (stdout).

    Returns:
        SearchResult (`best`: the best trial's row, or None when no trial trained).

    Raises:
        ConfigError: a run directory that holds another run, or a resume that asks for
            other settings.
        TrialsFailedError: every trial failed (or the search stopped on repeated failures).
    """
    role = cluster.prepare_environment()
    stream = sys.stdout if verbose else None
    run_dir = Path(run_dir)
    if role != "worker":
        claim_run_dir(config, run_dir, resume)
    if objective is None:
        objective = RecipeObjective(config.setup, config.space)
        if role != "chief":
            load_data_first(objective)
    else:
        objective = _ValidFirst(config, objective)
    prepare_run_dir(run_dir)
    if role != "worker":
        config.save(run_dir)
    oracle, plan = build_recipe_oracle(config, getattr(objective, "continues_promotions", False))
    recorder = _RecipeTrialRecorder(config, run_dir if role != "worker" else None, stream)
    with warnings.catch_warnings():
        # keras-tuner's GP (scikit-learn) warns when a kernel length scale ends at its bound,
        # which says nothing the user can act on and breaks the trial table.
        warnings.filterwarnings(
            "ignore", message="The optimal value found", module="sklearn.gaussian_process"
        )
        result = drive_search(
            oracle,
            objective,
            recorder,
            run_dir,
            role=role,
            resume=resume,
            param_names=config.space.names,
            objective_name=OBJECTIVE,
            plan=f"{plan}; objective {OBJECTIVE} ({_describe(config)})",
            trial_root=run_dir / "trials",
            trial_timeout=None,
            stream=stream,
        )
    if role == "worker":
        return result
    result.best = best_trial(result.frame, OBJECTIVE)
    for line in _best_lines(config, result.best, result.frame, run_dir):
        say(stream, line)
    return result


class _ValidFirst:
    # A caller's objective sees only the points the recipe validation accepts, as the
    # training objective does.
    def __init__(self, config: RecipeSearchConfig, objective):
        self.config = config
        self.objective = objective

    @property
    def continues_promotions(self) -> bool:
        return getattr(self.objective, "continues_promotions", False)

    def __call__(self, params, *, epochs=None, trial_dir=None, **promotion):
        if self.config.space.invalid_reason(self.config.recipe, params) is not None:
            return TrialOutcome(score=math.nan, status="invalid")
        return self.objective(params, epochs=epochs, trial_dir=trial_dir, **promotion)


class _RecipeTrialRecorder(TrialRecorder):
    # The engine's recorder, plus a `reason` column (why a trial is invalid or failed) and
    # `best.toml` written beside `best.json` each time.

    def __init__(self, config: RecipeSearchConfig, run_dir: Path | None, stream: TextIO | None):
        super().__init__(
            config.space,
            OBJECTIVE,
            run_dir,
            stream,
            epochs=True,
            brackets=config.oracle in RUNG_ORACLES,
        )
        self.config = config

    def row(self, trial) -> dict[str, Any]:
        row = super().row(trial)
        if row["status"] == "invalid" and row["trial"] not in self.messages:
            params = {n: param_value(trial.hyperparameters.values[n]) for n in self.space.names}
            reason = self.config.space.invalid_reason(self.config.recipe, params)
            self.messages[row["trial"]] = reason or (
                "the model refuses this recipe (apply_recipe's conditions, e.g. SELU on a "
                "residual model)"
            )
        return row

    def frame(self, trials) -> pd.DataFrame:
        frame = super().frame(trials)
        frame["reason"] = [
            last_line(self.messages.get(int(n), "")) if status in ("invalid", "failed") else ""
            for n, status in zip(frame["trial"], frame["status"], strict=True)
        ]
        return frame

    def write(self, frame: pd.DataFrame) -> None:
        super().write(frame)
        best = best_trial(frame, OBJECTIVE)
        if best is not None:
            best_recipe(self.config, best, len(frame)).to_toml(self.run_dir / BEST_RECIPE)


def best_recipe(config: RecipeSearchConfig, best: dict[str, Any], finished: int) -> Recipe:
    """The recipe of the best trial (a row of `trials.csv`), with the search's full epochs."""
    params = {name: best[name] for name in config.space.names}
    description = (
        f"Found by keras-recipes tune ({config.oracle}, trial {best['trial']} of {finished}): "
        f"best_val_accuracy {best[OBJECTIVE]:.4f} in {best['epochs_run']} epochs, starting "
        f"from recipe {config.recipe.name}."
    )
    return config.space.recipe_for(config.recipe, params, description=description)


# -- messages --------------------------------------------------------------------------------


def _describe(config: RecipeSearchConfig) -> str:
    return f"each trial: base {config.setup.describe()}"


def _best_lines(
    config: RecipeSearchConfig, best: dict | None, frame: pd.DataFrame, run_dir: Path
) -> list[str]:
    invalid = int((frame["status"] == "invalid").sum())
    counts = f"{len(frame) - invalid} trained, {invalid} invalid"
    if best is None:
        return [f"no trial trained a recipe ({len(frame)} finished: {counts}); run_dir={run_dir}"]
    choices = " ".join(f"{name}={best[name]}" for name in config.space.names[:6])
    numbers = (
        f"learning_rate={best['learning_rate']:.3g} weight_decay={best['weight_decay']:.3g} "
        f"momentum={best['momentum']:.4g}"
    )
    path = run_dir / BEST_RECIPE
    model = f" --model {config.setup.model}" if isinstance(config.setup.model, str) else ""
    return [
        f"best trial {best['trial']} of {len(frame)} ({counts}): {choices} {numbers} "
        f"{OBJECTIVE}={best[OBJECTIVE]:.4f} best_epoch={best['best_epoch']}",
        f"best recipe: {path} (train it: python train.py --recipe {path}{model})",
    ]
