"""`keras-recipes tune`'s search: keras-tuner's random, Bayesian or Hyperband oracle over the
recipe space, run on the same trial engine as `train-with-bo` (`search.drive_search`).

Run directory:

    tune.json          the settings (checked when resuming)
    trials.csv         one row per finished trial: the choices, lr, wd, momentum, the best
                       validation accuracy, epochs, seconds, status, reason (rewritten after
                       each trial)
    best.json          the best trial so far
    best.toml          its recipe: `python train.py --recipe <run_dir>/best.toml`
    trials/<n>/        each trained trial's train() run (history.csv, summary.json, recipe.toml)
    keras_tuner/       keras-tuner's project (resume)
"""

from __future__ import annotations

import json
import math
import sys
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

import keras_tuner
import pandas as pd

from keras_recipes import atomic
from keras_recipes.errors import ConfigError
from keras_recipes.recipes import Recipe
from keras_recipes.seeds import check_seed
from keras_recipes.training import check_run_dir, prepare_run_dir
from keras_recipes.tuning import distributed
from keras_recipes.tuning.config import CONFIG_NAME as BO_CONFIG_NAME
from keras_recipes.tuning.errors import last_line
from keras_recipes.tuning.recipe_space import RecipeSpace
from keras_recipes.tuning.recorder import TrialRecorder, best_trial
from keras_recipes.tuning.search import SearchResult, drive_search, load_data_first
from keras_recipes.tuning.space import param_value

CONFIG_NAME = "tune.json"
BEST_RECIPE = "best.toml"
OBJECTIVE = "best_val_accuracy"
ORACLES = ("random", "bayesian", "hyperband")
#: Settings a resumed run may not change (`max_trials` may grow).
IDENTITY_KEYS = ("oracle", "seed", "init_points", "space", "train")


@dataclass(frozen=True)
class RecipeSearchConfig:
    """The settings of one `keras-recipes tune` run, as saved in `tune.json`.

    Example:

    >>> from keras_recipes.recipes import get_recipe
    >>> config = RecipeSearchConfig(get_recipe("default"), oracle="bayesian", max_trials=30)
    >>> config.init_points, config.epochs
    (10, 300)
    >>> RecipeSearchConfig.from_json(config.to_json()) == config
    True

    Args:
        recipe: Recipe. The base recipe: the fields the space does not set, and
            `training.epochs`, the epochs of each trial (Hyperband: the most a trial gets).
        oracle: str. keras-tuner's "random", "bayesian" (GP) or "hyperband".
        max_trials: int. Points the oracle proposes, invalid ones included (they cost no
            training). Hyperband's count follows from the epochs; this caps it.
        seed: int. Seeds the oracle and every trial's training.
        space: RecipeSpace. The searched choices and ranges.
        init_points: int or None. Bayesian: random points before the GP takes over
            (default: a third of `max_trials`, at least 2; fixed when the run starts, so
            raising `max_trials` on resume does not change it). keras-tuner's own default,
            3 per dimension (27 here), would leave few guided trials in a typical budget.
        data: str. The data spec ("demo", a folder, "tfds:NAME").
        image_size: int. Crop size fed to the model.
        width: float. AlexNet width multiplier.
    """

    recipe: Recipe = field(compare=False)
    oracle: str = "bayesian"
    max_trials: int = 30
    seed: int = 0
    space: RecipeSpace = field(default_factory=RecipeSpace)
    init_points: int | None = None
    data: str = "demo"
    image_size: int = 227
    width: float = 1.0

    def __post_init__(self) -> None:
        if self.oracle not in ORACLES:
            raise ConfigError(f"Unknown oracle {self.oracle!r}; valid: {', '.join(ORACLES)}.")
        _check_int("--max-trials", self.max_trials, 1)
        if self.init_points is not None:
            _check_int("--init-points", self.init_points, 1)
        elif self.oracle == "bayesian":
            object.__setattr__(self, "init_points", max(2, self.max_trials // 3))
        check_seed(self.seed, name="--seed")

    @property
    def epochs(self) -> int:
        """Epochs of each trial."""
        return self.recipe.training.epochs

    def identity(self) -> dict[str, Any]:
        """What the trials measure: resuming with a different identity is an error."""
        doc = self.to_json()
        return {key: doc[key] for key in IDENTITY_KEYS}

    def to_json(self) -> dict[str, Any]:
        return {
            "oracle": self.oracle,
            "max_trials": self.max_trials,
            "init_points": self.init_points,
            "seed": self.seed,
            "space": self.space.to_json(),
            "train": {
                "recipe": self.recipe.to_dict(),
                "data": self.data,
                "image_size": self.image_size,
                "width": self.width,
            },
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> RecipeSearchConfig:
        train = doc["train"]
        return cls(
            recipe=Recipe.from_dict(train["recipe"], source=CONFIG_NAME),
            oracle=doc["oracle"],
            max_trials=int(doc["max_trials"]),
            init_points=doc.get("init_points"),
            seed=int(doc["seed"]),
            space=RecipeSpace.from_json(doc["space"]),
            data=train["data"],
            image_size=int(train["image_size"]),
            width=float(train["width"]),
        )

    def save(self, run_dir: str | Path) -> Path:
        path = Path(run_dir) / CONFIG_NAME
        atomic.write_json(path, self.to_json(), indent=2)
        return path

    @classmethod
    def load(cls, run_dir: str | Path) -> RecipeSearchConfig:
        """The settings saved in `run_dir`.

        Raises:
            ConfigError: `run_dir` holds no (readable) `keras-recipes tune` run.
        """
        path = Path(run_dir) / CONFIG_NAME
        if not path.is_file():
            raise ConfigError(
                f"{run_dir} is not a keras-recipes tune run directory (no {CONFIG_NAME} in it)."
            )
        try:
            return cls.from_json(json.loads(path.read_text()))
        except (ValueError, KeyError, TypeError) as err:
            raise ConfigError(f"Cannot read {path}: {err}") from None

    def with_max_trials(self, max_trials: int) -> RecipeSearchConfig:
        return replace(self, max_trials=max_trials)


def build_recipe_oracle(config: RecipeSearchConfig) -> tuple[keras_tuner.Oracle, str]:
    """keras-tuner's oracle for `config.oracle` over the recipe space, and a line saying what
    it will do."""
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
    oracle = keras_tuner.oracles.HyperbandOracle(
        objective=objective,
        max_epochs=config.epochs,
        factor=3,
        hyperband_iterations=1,
        seed=seed,
        hyperparameters=hps,
    )
    # Hyperband's own count follows from max_epochs; the oracle stops at max_trials too.
    oracle.max_trials = config.max_trials
    return oracle, (
        f"hyperband: max_epochs={config.epochs}, factor 3, one iteration, at most "
        f"{config.max_trials} trials"
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
    >>> from keras_recipes.tuning.outcome import TrialOutcome
    >>> def fake(params, epochs=None, trial_dir=None):  # stands in for training
    ...     return TrialOutcome(0.5 + params["learning_rate"], best_epoch=1, epochs_run=1)
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
    role = distributed.prepare_environment()
    stream = sys.stdout if verbose else None
    run_dir = Path(run_dir)
    if role != "worker":
        _check_run_dir(config, run_dir, resume)
    if objective is None:
        from keras_recipes.tuning.recipe_objective import RecipeObjective

        objective = RecipeObjective(
            config.recipe,
            config.space,
            config.data,
            image_size=config.image_size,
            width=config.width,
            seed=config.seed,
        )
        if role != "chief":
            load_data_first(objective)
    else:
        objective = _ValidFirst(config, objective)
    prepare_run_dir(run_dir)
    if role != "worker":
        config.save(run_dir)
    oracle, plan = build_recipe_oracle(config)
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
        _say(stream, line)
    return result


class _ValidFirst:
    # A caller's objective sees only the points the recipe validation accepts, as the
    # training objective does.
    def __init__(self, config: RecipeSearchConfig, objective):
        self.config = config
        self.objective = objective

    def __call__(self, params, *, epochs=None, trial_dir=None):
        from keras_recipes.tuning.outcome import TrialOutcome

        if self.config.space.invalid_reason(self.config.recipe, params) is not None:
            return TrialOutcome(score=math.nan, status="invalid")
        return self.objective(params, epochs=epochs, trial_dir=trial_dir)


class _RecipeTrialRecorder(TrialRecorder):
    # The engine's recorder, plus a `reason` column (why a trial is invalid or failed) and
    # `best.toml` written beside `best.json` each time.

    def __init__(self, config: RecipeSearchConfig, run_dir: Path | None, stream: TextIO | None):
        super().__init__(config.space, OBJECTIVE, run_dir, stream, epochs=True)
        self.config = config

    def row(self, trial) -> dict[str, Any]:
        row = super().row(trial)
        if row["status"] == "invalid" and row["trial"] not in self.messages:
            params = {n: param_value(trial.hyperparameters.values[n]) for n in self.space.names}
            reason = self.config.space.invalid_reason(self.config.recipe, params)
            self.messages[row["trial"]] = reason or "rejected by the recipe validation"
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


# -- run directory ---------------------------------------------------------------------------


def _check_run_dir(config: RecipeSearchConfig, run_dir: Path, resume: bool) -> None:
    # Read-only: the run directory is made once the data are known good too.
    if (run_dir / BO_CONFIG_NAME).exists():
        raise ConfigError(f"{run_dir} holds a train-with-bo run; choose another --out.")
    if resume:
        saved = RecipeSearchConfig.load(run_dir)
        old, new = saved.identity(), config.identity()
        for key in IDENTITY_KEYS:
            if old[key] != new[key]:
                raise ConfigError(
                    f"Cannot resume {run_dir} with a different {_KEY_NAMES.get(key, key)}: "
                    f"the run has {_show(key, old[key])}, this command asks for "
                    f"{_show(key, new[key])}. Resume with the run's settings (omit the flag) "
                    "or start a new --out."
                )
    elif (run_dir / CONFIG_NAME).exists():
        raise ConfigError(
            f"{run_dir} already holds a keras-recipes tune run; continue it with "
            f"--resume {run_dir}, or choose another --out."
        )
    check_run_dir(run_dir)


_KEY_NAMES = {
    "train": "training set-up (recipe/data/size/width/epochs)",
    "space": "recipe space",
    "init_points": "number of initial points",
}


def _show(key: str, value: Any) -> str:
    if key == "train":
        recipe = value["recipe"]
        return (
            f"recipe {recipe['name']} (epochs {recipe['training']['epochs']}, batch "
            f"{recipe['training']['batch_size']}), data {value['data']}, image size "
            f"{value['image_size']}, width {value['width']}"
        )
    return repr(value)


def _check_int(flag: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{flag} must be an integer >= {minimum}; got {value!r}.")


# -- messages --------------------------------------------------------------------------------


def _describe(config: RecipeSearchConfig) -> str:
    return (
        f"base recipe {config.recipe.name}, {config.epochs} epochs per trial, data "
        f"{config.data}, {config.image_size} px, width {config.width:g}"
    )


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
    return [
        f"best trial {best['trial']} of {len(frame)} ({counts}): {choices} {numbers} "
        f"{OBJECTIVE}={best[OBJECTIVE]:.4f} best_epoch={best['best_epoch']}",
        f"best recipe: {path} (train it: python train.py --recipe {path})",
    ]


def _say(stream: TextIO | None, text: str) -> None:
    if stream is not None:
        print(text, file=stream, flush=True)
