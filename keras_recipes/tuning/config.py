"""`TuningConfig`: every setting of a search, as saved in `tuning.json` and checked on resume."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from keras_recipes import atomic
from keras_recipes.errors import ConfigError
from keras_recipes.recipes import Recipe
from keras_recipes.seeds import check_seed
from keras_recipes.tuning.space import TRAIN_BOUNDS, SearchSpace
from keras_recipes.tuning.toy import TOY_BOUNDS

CONFIG_NAME = "tuning.json"
SEARCHES = ("bo", "random", "grid", "hyperband", "bohb")
ACQUISITIONS = ("ei", "ucb", "poi")
OBJECTIVES = ("train", "toy")
#: The objective's column name and its default bounds.
OBJECTIVE_NAMES = {"train": "best_val_accuracy", "toy": "f"}
DEFAULT_BOUNDS = {"train": TRAIN_BOUNDS, "toy": TOY_BOUNDS}
#: `--prune` choices: none, or stop trials below the finished trials' median (pruning.py).
PRUNE_RULES = ("none", "median")
#: Epochs of every trial that are never pruned (a good point's first epochs are noisy).
DEFAULT_WARMUP_EPOCHS = 2
#: Finished trials needed before any trial is pruned (Optuna's default n_startup_trials).
DEFAULT_STARTUP_TRIALS = 5
#: Settings that define what a trial measures: resuming with other values is an error.
IDENTITY_KEYS = ("objective", "bounds", "search", "seed", "train", "prune")


@dataclass(frozen=True)
class TuningConfig:
    """The settings of one tuning run.

    Example:

    >>> config = TuningConfig(objective="toy", space=SearchSpace.from_mapping({"x": (-2, 6)}),
    ...                       init_points=2, n_iter=14)
    >>> config.budget, config.objective_name
    (16, 'f')
    >>> TuningConfig.from_json(config.to_json()) == config
    True

    Args:
        space: SearchSpace. The tuned parameters.
        search: str. "bo", "random", "grid", "hyperband" or "bohb".
        objective: str. "train" (train() per trial) or "toy" (the 1-D demo function).
        acquisition: str. "ei", "ucb" or "poi" (bo only).
        xi: float. EI/POI exploration margin.
        kappa: float. UCB exploration weight.
        init_points: int. Random points first (>= 1).
        n_iter: int. Guided points after them (>= 0); the budget is their sum.
        seed: int. Seeds the search and every trial's training.
        recipe: Recipe or None. The tuned recipe (train objective); its epochs are per trial.
        data: str or None. The data spec (train objective).
        image_size: int or None. Crop size (train objective).
        width: float or None. AlexNet width multiplier (train objective).
        final_epochs: int or None. Epochs of `--final-train` (the recipe's full epochs).
        diverged_score: float. Score recorded for a diverged trial (0.0: worst accuracy).
        prune: str. "none", or "median": stop a trial whose best validation accuracy so far
            is below the finished trials' median best-so-far at the same epoch.
        prune_warmup_epochs: int. Epochs 1..N of every trial are never pruned.
        prune_startup_trials: int. Finished trials needed before pruning starts.
    """

    space: SearchSpace
    search: str = "bo"
    objective: str = "train"
    acquisition: str = "ei"
    xi: float = 0.01
    kappa: float = 2.576
    init_points: int = 3
    n_iter: int = 27
    seed: int = 0
    recipe: Recipe | None = field(default=None, compare=False)
    data: str | None = None
    image_size: int | None = None
    width: float | None = None
    final_epochs: int | None = None
    diverged_score: float = 0.0
    prune: str = "none"
    prune_warmup_epochs: int = DEFAULT_WARMUP_EPOCHS
    prune_startup_trials: int = DEFAULT_STARTUP_TRIALS

    def __post_init__(self) -> None:
        if self.search not in SEARCHES:
            raise ConfigError(f"Unknown search {self.search!r}; valid: {', '.join(SEARCHES)}.")
        if self.objective not in OBJECTIVES:
            raise ConfigError(
                f"Unknown objective {self.objective!r}; valid: {', '.join(OBJECTIVES)}."
            )
        if self.acquisition not in ACQUISITIONS:
            raise ConfigError(
                f"Unknown acquisition function {self.acquisition!r}; "
                f"valid: {', '.join(ACQUISITIONS)}."
            )
        _check_int("init_points", self.init_points, 1, "--init-points")
        _check_int("n_iter", self.n_iter, 0, "--n-iter")
        check_seed(self.seed, name="--seed")
        for name in ("xi", "kappa"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"--{name} must be a finite number >= 0; got {value}.")
        valid = DEFAULT_BOUNDS[self.objective]
        if set(self.space.names) != set(valid):
            raise ConfigError(
                f"The {self.objective} objective tunes {', '.join(valid)}; the search space "
                f"has {', '.join(self.space.names)}."
            )
        if self.objective == "train" and self.recipe is None:
            raise ConfigError("The train objective needs a recipe.")
        self._check_pruning()

    def _check_pruning(self) -> None:
        if self.prune not in PRUNE_RULES:
            raise ConfigError(
                f"--prune {self.prune!r} is not a pruning rule; valid: {', '.join(PRUNE_RULES)}."
            )
        _check_int("prune_warmup_epochs", self.prune_warmup_epochs, 0, "--prune-warmup-epochs")
        _check_int("prune_startup_trials", self.prune_startup_trials, 1, "--prune-startup-trials")
        if self.prune == "none":
            return
        if self.objective != "train":
            raise ConfigError(
                f"--prune {self.prune} stops training epochs early; it needs --objective train "
                f"(got {self.objective!r})."
            )
        if self.search in ("hyperband", "bohb"):
            raise ConfigError(
                f"--prune {self.prune} does not combine with --search {self.search}, which stops "
                "trials early by its own schedule; use --prune none, or --search bo, random "
                "or grid."
            )
        if self.prune_warmup_epochs >= self.epochs - 1:
            raise ConfigError(
                f"--prune-warmup-epochs {self.prune_warmup_epochs} leaves no epoch to prune in "
                f"trials of {self.epochs} epochs (the last one is never pruned); choose at most "
                f"{max(self.epochs - 2, 0)}, or more --epochs."
            )

    @property
    def budget(self) -> int:
        """Trials requested: init_points + n_iter."""
        return self.init_points + self.n_iter

    @property
    def objective_name(self) -> str:
        """The objective's metric / column: best_val_accuracy (train) or f (toy)."""
        return OBJECTIVE_NAMES[self.objective]

    @property
    def epochs(self) -> int | None:
        """Per-trial epochs (train objective)."""
        return self.recipe.training.epochs if self.recipe is not None else None

    def identity(self) -> dict[str, Any]:
        """What a trial's score means: resuming with a different identity is an error."""
        doc = self.to_json()
        if doc["train"]:
            doc["train"] = {k: v for k, v in doc["train"].items() if k != "final_epochs"}
        if doc["prune"]["rule"] == "none":
            doc["prune"] = {"rule": "none"}  # its warm-up and start-up settings do nothing
        return {key: doc[key] for key in IDENTITY_KEYS}

    def comparable(self) -> dict[str, Any]:
        """What must match for two runs to share a convergence plot (any search, seed)."""
        identity = self.identity()
        return {key: identity[key] for key in ("objective", "bounds", "train")}

    def to_json(self) -> dict[str, Any]:
        train = None
        if self.objective == "train":
            train = {
                "recipe": self.recipe.to_dict(),
                "data": self.data,
                "image_size": self.image_size,
                "width": self.width,
                "final_epochs": self.final_epochs,
            }
        return {
            "search": self.search,
            "objective": self.objective,
            "bounds": self.space.to_json(),
            "acquisition": self.acquisition,
            "xi": self.xi,
            "kappa": self.kappa,
            "init_points": self.init_points,
            "n_iter": self.n_iter,
            "seed": self.seed,
            "diverged_score": self.diverged_score,
            "prune": {
                "rule": self.prune,
                "warmup_epochs": self.prune_warmup_epochs,
                "startup_trials": self.prune_startup_trials,
            },
            "train": train,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> TuningConfig:
        train = doc.get("train") or {}
        # Runs saved before pruning existed did not prune.
        prune = doc.get("prune") or {}
        recipe = Recipe.from_dict(train["recipe"], source="tuning.json") if train else None
        return cls(
            space=SearchSpace.from_mapping(doc["bounds"]),
            search=doc["search"],
            objective=doc["objective"],
            acquisition=doc["acquisition"],
            xi=float(doc["xi"]),
            kappa=float(doc["kappa"]),
            init_points=int(doc["init_points"]),
            n_iter=int(doc["n_iter"]),
            seed=int(doc["seed"]),
            recipe=recipe,
            data=train.get("data"),
            image_size=train.get("image_size"),
            width=train.get("width"),
            final_epochs=train.get("final_epochs"),
            diverged_score=float(doc.get("diverged_score", 0.0)),
            prune=prune.get("rule", "none"),
            prune_warmup_epochs=int(prune.get("warmup_epochs", DEFAULT_WARMUP_EPOCHS)),
            prune_startup_trials=int(prune.get("startup_trials", DEFAULT_STARTUP_TRIALS)),
        )

    def save(self, run_dir: str | Path) -> Path:
        path = Path(run_dir) / CONFIG_NAME
        atomic.write_json(path, self.to_json(), indent=2)
        return path

    @classmethod
    def load(cls, run_dir: str | Path) -> TuningConfig:
        """The config saved in `run_dir`.

        Raises:
            ConfigError: `run_dir` holds no (readable) tuning run.
        """
        path = Path(run_dir) / CONFIG_NAME
        if not path.is_file():
            raise ConfigError(
                f"{run_dir} is not a train-with-bo run directory (no {CONFIG_NAME} in it)."
            )
        try:
            return cls.from_json(json.loads(path.read_text()))
        except (ValueError, KeyError, TypeError) as err:
            raise ConfigError(f"Cannot read {path}: {err}") from None

    def with_budget(self, n_iter: int) -> TuningConfig:
        return replace(self, n_iter=n_iter)


def check_same_identity(saved: TuningConfig, requested: TuningConfig, run_dir: Path) -> None:
    """Raises ConfigError naming both values when `requested` measures something else.

    `init_points` must match too (it decides the point sequence); `n_iter` may change
    (that is how a run is extended), except for a grid, whose layout is fixed.
    """
    old, new = saved.identity(), requested.identity()
    old["init_points"], new["init_points"] = saved.init_points, requested.init_points
    if saved.search == "grid":
        # keras-tuner's grid is laid out once, from the first run's budget.
        old["budget"], new["budget"] = saved.budget, requested.budget
    for key in (*IDENTITY_KEYS, "init_points", "budget"):
        if key in old and old[key] != new[key]:
            raise ConfigError(
                f"Cannot resume {run_dir} with a different {_describe_key(key)}: the run has "
                f"{_describe(key, old[key])}, this command asks for {_describe(key, new[key])}. "
                "Resume with the run's settings (omit the flag) or start a new --out."
            )


def _describe_key(key: str) -> str:
    return {
        "bounds": "search space",
        "train": "training set-up (recipe/data/size/width/epochs)",
        "budget": "trial budget (a grid is laid out when its run starts)",
        "prune": "pruning (--prune, --prune-warmup-epochs, --prune-startup-trials)",
    }.get(key, key)


def _describe(key: str, value: Any) -> str:
    if key == "bounds":
        return " ".join(f"{k}={lo:g},{hi:g}" for k, (lo, hi) in value.items())
    if key == "train" and isinstance(value, dict):
        recipe = value["recipe"]
        return (
            f"recipe {recipe['name']} (epochs {recipe['training']['epochs']}, batch "
            f"{recipe['training']['batch_size']}, lr {recipe['optimizer']['learning_rate']}), "
            f"data {value['data']}, image size {value['image_size']}, width {value['width']}"
        )
    if key == "prune" and isinstance(value, dict):
        if value["rule"] == "none":
            return "--prune none"
        return (
            f"--prune {value['rule']} --prune-warmup-epochs {value['warmup_epochs']} "
            f"--prune-startup-trials {value['startup_trials']}"
        )
    return repr(value)


def _check_int(name: str, value: Any, minimum: int, flag: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{flag} must be an integer >= {minimum}; got {value!r}.")
