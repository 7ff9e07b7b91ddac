"""`TuningConfig`: every setting of a search, as saved in `tuning.json` and checked on resume."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from keras_recipes.errors import ConfigError, check_int
from keras_recipes.recipes import Recipe
from keras_recipes.seeds import check_seed
from keras_recipes.training.setup import TrainSetup
from keras_recipes.tuning.bo.space import TRAIN_BOUNDS, SearchSpace
from keras_recipes.tuning.bo.toy import TOY_BOUNDS
from keras_recipes.tuning.engine.pruning import (
    DEFAULT_STARTUP_TRIALS,
    DEFAULT_WARMUP_EPOCHS,
    PRUNE_RULES,
)
from keras_recipes.tuning.engine.run_folder import SavedSettings
from keras_recipes.tuning.engine.rungs import (
    DEFAULT_RUNG_SCHEDULE,
    RUNG_SCHEDULES,
    check_more_iterations,
    check_rung_settings,
)

CONFIG_NAME = "tuning.json"
SEARCHES = ("bo", "random", "grid", "hyperband", "bohb")
#: The searches with rungs (trials of fewer epochs than the recipe's).
RUNG_SEARCHES = ("hyperband", "bohb")
ACQUISITIONS = ("ei", "ucb", "poi")
OBJECTIVES = ("train", "toy")
#: The objective's column name and its default bounds.
OBJECTIVE_NAMES = {"train": "best_val_accuracy", "toy": "f"}
DEFAULT_BOUNDS = {"train": TRAIN_BOUNDS, "toy": TOY_BOUNDS}
#: Settings that define what a trial measures: resuming with other values is an error.
IDENTITY_KEYS = ("objective", "bounds", "search", "seed", "train", "prune")


@dataclass(frozen=True)
class TuningConfig(SavedSettings):
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
        setup: TrainSetup or None. What each trial trains (train objective): its recipe is
            the tuned one, whose epochs are per trial; its seed is `seed`.
        final_epochs: int or None. Epochs of `--final-train` (the recipe's full epochs).
        diverged_score: float. Score recorded for a diverged trial (0.0: worst accuracy).
        prune: str. "none", or "median": stop a trial whose best validation accuracy so far
            is below the finished trials' median best-so-far at the same epoch.
        prune_warmup_epochs: int. Epochs 1..N of every trial are never pruned.
        prune_startup_trials: int. Finished trials needed before pruning starts.
        rung_schedule: str. Hyperband and bohb: a rung's 1cycle laid out over its own
            epochs ("compressed": a promoted configuration retrains from scratch) or the
            full budget's ("final": it continues its rung's run); see
            `keras_recipes.tuning.engine.rungs`. Other searches have no rungs.
        min_epochs: int. Hyperband and bohb: the smallest rung's epochs, at least (1 as in
            keras-tuner; `rungs.with_min_epochs`).
        hyperband_iterations: int. Hyperband and bohb: times the whole set of brackets runs
            (1 as in keras-tuner). A resumed run may raise it (more brackets), not lower it.
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
    setup: TrainSetup | None = None
    final_epochs: int | None = None
    diverged_score: float = 0.0
    prune: str = "none"
    prune_warmup_epochs: int = DEFAULT_WARMUP_EPOCHS
    prune_startup_trials: int = DEFAULT_STARTUP_TRIALS
    rung_schedule: str = DEFAULT_RUNG_SCHEDULE
    min_epochs: int = 1
    hyperband_iterations: int = 1

    CONFIG_NAME = CONFIG_NAME
    IDENTITY_KEYS = IDENTITY_KEYS
    KEY_NAMES: ClassVar[dict[str, str]] = {
        **SavedSettings.KEY_NAMES,
        "bounds": "search space",
        "budget": "trial budget (a grid is laid out when its run starts)",
        "prune": "pruning (--prune, --prune-warmup-epochs, --prune-startup-trials)",
        "rung_schedule": "rung schedule layout (--rung-schedule)",
        "min_epochs": "smallest rung (--min-epochs)",
        "hyperband_iterations": "Hyperband iterations (--hyperband-iterations)",
    }

    def __post_init__(self) -> None:
        if self.setup is not None and self.setup.seed != self.seed:
            # One seed seeds the search and every trial's training.
            object.__setattr__(self, "setup", self.setup.replace(seed=self.seed))
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
        check_int("--init-points", self.init_points, 1)
        check_int("--n-iter", self.n_iter, 0)
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
        if self.objective == "train" and self.setup is None:
            raise ConfigError("The train objective needs a training set-up (a recipe).")
        if self.rung_schedule not in RUNG_SCHEDULES:
            raise ConfigError(
                f"--rung-schedule {self.rung_schedule!r} is not a rung schedule; valid: "
                f"{', '.join(RUNG_SCHEDULES)}."
            )
        self._check_pruning()
        self._check_rungs()

    def _check_rungs(self) -> None:
        check_rung_settings(
            self.min_epochs,
            self.hyperband_iterations,
            self.max_epochs,
            has_rungs=self.search in RUNG_SEARCHES,
            applies_to=f"--search {' or '.join(RUNG_SEARCHES)}, not {self.search}",
        )

    def check_extends(self, saved: TuningConfig) -> None:
        """A resumed run may add Hyperband iterations, not drop them."""
        check_more_iterations(self.hyperband_iterations, saved.hyperband_iterations)

    def _check_pruning(self) -> None:
        if self.prune not in PRUNE_RULES:
            raise ConfigError(
                f"--prune {self.prune!r} is not a pruning rule; valid: {', '.join(PRUNE_RULES)}."
            )
        check_int("--prune-warmup-epochs", self.prune_warmup_epochs, 0)
        check_int("--prune-startup-trials", self.prune_startup_trials, 1)
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
    def recipe(self) -> Recipe | None:
        """The tuned recipe (train objective)."""
        return self.setup.recipe if self.setup is not None else None

    @property
    def epochs(self) -> int | None:
        """Per-trial epochs (train objective)."""
        return self.setup.epochs if self.setup is not None else None

    @property
    def max_epochs(self) -> int:
        """Hyperband's and bohb's largest budget: the per-trial epochs, or 3 for the toy
        objective (which ignores them)."""
        return self.epochs if self.objective == "train" else 3

    def identity(self) -> dict[str, Any]:
        """What a trial's score means: resuming with a different identity is an error."""
        doc = self.to_json()
        if doc["train"]:
            doc["train"] = {k: v for k, v in doc["train"].items() if k != "final_epochs"}
        if doc["prune"]["rule"] == "none":
            doc["prune"] = {"rule": "none"}  # its warm-up and start-up settings do nothing
        identity = {key: doc[key] for key in IDENTITY_KEYS}
        if self.search in RUNG_SEARCHES:  # the others train every trial for all its epochs
            identity["rung_schedule"] = self.rung_schedule
            identity["min_epochs"] = self.min_epochs
        return identity

    def resume_identity(self) -> dict[str, Any]:
        """The identity, `init_points` (it decides the point sequence) and, for a grid, the
        budget (keras-tuner lays a grid out once, from the first run's budget); `n_iter`
        may otherwise change: that is how a run is extended."""
        identity = {**self.identity(), "init_points": self.init_points}
        if self.search == "grid":
            identity["budget"] = self.budget
        return identity

    def describe_value(self, key: str, value: Any) -> str:
        if key == "bounds":
            return " ".join(f"{k}={lo:g},{hi:g}" for k, (lo, hi) in value.items())
        if key == "prune" and isinstance(value, dict):
            if value["rule"] == "none":
                return "--prune none"
            return (
                f"--prune {value['rule']} --prune-warmup-epochs {value['warmup_epochs']} "
                f"--prune-startup-trials {value['startup_trials']}"
            )
        return super().describe_value(key, value)

    def comparable(self) -> dict[str, Any]:
        """What must match for two runs to share a convergence plot (any search, seed)."""
        identity = self.identity()
        return {key: identity[key] for key in ("objective", "bounds", "train")}

    def to_json(self) -> dict[str, Any]:
        train = None
        if self.setup is not None:
            train = {**self.setup.to_json(), "final_epochs": self.final_epochs}
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
            "rung_schedule": self.rung_schedule,
            "min_epochs": self.min_epochs,
            "hyperband_iterations": self.hyperband_iterations,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> TuningConfig:
        train = doc.get("train") or {}
        # Runs saved before pruning existed did not prune.
        prune = doc.get("prune") or {}
        seed = int(doc["seed"])
        setup = TrainSetup.from_json(train, source=CONFIG_NAME, seed=seed) if train else None
        return cls(
            space=SearchSpace.from_mapping(doc["bounds"]),
            search=doc["search"],
            objective=doc["objective"],
            acquisition=doc["acquisition"],
            xi=float(doc["xi"]),
            kappa=float(doc["kappa"]),
            init_points=int(doc["init_points"]),
            n_iter=int(doc["n_iter"]),
            seed=seed,
            setup=setup,
            final_epochs=train.get("final_epochs"),
            diverged_score=float(doc.get("diverged_score", 0.0)),
            prune=prune.get("rule", "none"),
            prune_warmup_epochs=int(prune.get("warmup_epochs", DEFAULT_WARMUP_EPOCHS)),
            prune_startup_trials=int(prune.get("startup_trials", DEFAULT_STARTUP_TRIALS)),
            # Runs saved before the setting existed compressed each rung's schedule.
            rung_schedule=doc.get("rung_schedule", "compressed"),
            # Runs saved before the setting existed had keras-tuner's 1.
            min_epochs=int(doc.get("min_epochs", 1)),
            # ... and one iteration.
            hyperband_iterations=int(doc.get("hyperband_iterations", 1)),
        )

    def with_budget(self, n_iter: int) -> TuningConfig:
        return replace(self, n_iter=n_iter)
