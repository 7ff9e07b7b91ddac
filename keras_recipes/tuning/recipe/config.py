"""`RecipeSearchConfig`: the settings of one `keras-recipes tune` run, as saved in `tune.json`."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from keras_recipes.errors import ConfigError, check_int
from keras_recipes.recipes import Recipe
from keras_recipes.seeds import check_seed
from keras_recipes.training.setup import TrainSetup
from keras_recipes.tuning.engine.run_folder import SavedSettings
from keras_recipes.tuning.engine.rungs import check_more_iterations, check_rung_settings
from keras_recipes.tuning.recipe.space import RecipeSpace

CONFIG_NAME = "tune.json"
BEST_RECIPE = "best.toml"
OBJECTIVE = "best_val_accuracy"
ORACLES = ("random", "bayesian", "hyperband", "bohb")
#: The oracles with Hyperband's brackets (`min_epochs`, `hyperband_iterations`).
RUNG_ORACLES = ("hyperband", "bohb")
#: Settings a resumed run may not change (`max_trials` may grow).
IDENTITY_KEYS = ("oracle", "seed", "init_points", "space", "train")


@dataclass(frozen=True)
class RecipeSearchConfig(SavedSettings):
    """The settings of one `keras-recipes tune` run, as saved in `tune.json`.

    Example:

    >>> from keras_recipes.recipes import get_recipe
    >>> config = RecipeSearchConfig(get_recipe("default"), oracle="bayesian", max_trials=30)
    >>> config.init_points, config.epochs
    (10, 300)
    >>> RecipeSearchConfig.from_json(config.to_json()) == config
    True

    Args:
        setup: TrainSetup, Recipe or str. What each trial trains: its recipe is the base
            recipe (the fields the space does not set, and `training.epochs`, the epochs of
            each trial; Hyperband: the most a trial gets). A recipe alone means the demo
            data at 227 px, width 1. Its seed becomes `seed`.
        oracle: str. keras-tuner's "random", "bayesian" (GP) or "hyperband", or "bohb"
            (Hyperband's brackets, new configurations from bayes_opt's GP: `BOHBOracle`).
        max_trials: int. Points the oracle proposes, invalid ones included (they cost no
            training). Hyperband's (and bohb's) count follows from the epochs; this caps it.
        seed: int. Seeds the oracle and every trial's training.
        space: RecipeSpace. The searched choices and ranges.
        init_points: int or None. Bayesian: random points before the GP takes over
            (default: a third of `max_trials`, at least 2; fixed when the run starts, so
            raising `max_trials` on resume does not change it). keras-tuner's own default,
            3 per dimension (27 here), would leave few guided trials in a typical budget.
        min_epochs: int. Hyperband and bohb: the smallest rung's epochs, at least (1 as in
            keras-tuner; `rungs.with_min_epochs`). Part of the run's identity.
        hyperband_iterations: int. Hyperband and bohb: times the whole set of brackets
            runs; a resumed run may raise it (`max_trials` still caps the trials).
    """

    setup: TrainSetup
    oracle: str = "bayesian"
    max_trials: int = 30
    seed: int = 0
    space: RecipeSpace = field(default_factory=RecipeSpace)
    init_points: int | None = None
    min_epochs: int = 1
    hyperband_iterations: int = 1

    CONFIG_NAME = CONFIG_NAME
    IDENTITY_KEYS = IDENTITY_KEYS
    KEY_NAMES: ClassVar[dict[str, str]] = {
        **SavedSettings.KEY_NAMES,
        "space": "recipe space",
        "init_points": "number of initial points",
        "min_epochs": "smallest rung (--min-epochs)",
    }

    def __post_init__(self) -> None:
        setup = self.setup
        if not isinstance(setup, TrainSetup):
            setup = TrainSetup(setup, seed=self.seed)
        object.__setattr__(self, "setup", setup.replace(seed=self.seed))
        if self.oracle not in ORACLES:
            raise ConfigError(f"Unknown oracle {self.oracle!r}; valid: {', '.join(ORACLES)}.")
        check_int("--max-trials", self.max_trials, 1)
        if self.init_points is not None:
            check_int("--init-points", self.init_points, 1)
        elif self.oracle == "bayesian":
            object.__setattr__(self, "init_points", max(2, self.max_trials // 3))
        check_seed(self.seed, name="--seed")
        self._check_rungs()

    def _check_rungs(self) -> None:
        check_rung_settings(
            self.min_epochs,
            self.hyperband_iterations,
            self.epochs,
            has_rungs=self.oracle in RUNG_ORACLES,
            applies_to=f"--oracle {' or '.join(RUNG_ORACLES)}, not {self.oracle}",
        )

    def identity(self) -> dict[str, Any]:
        """What a trial's score means; Hyperband's smallest rung shapes every bracket."""
        identity = super().identity()
        if self.oracle in RUNG_ORACLES:
            identity["min_epochs"] = self.min_epochs
        return identity

    def check_extends(self, saved: RecipeSearchConfig) -> None:
        """A resumed run may add Hyperband iterations, not drop them."""
        check_more_iterations(self.hyperband_iterations, saved.hyperband_iterations)

    @property
    def recipe(self) -> Recipe:
        """The base recipe."""
        return self.setup.recipe

    @property
    def epochs(self) -> int:
        """Epochs of each trial."""
        return self.setup.epochs

    def to_json(self) -> dict[str, Any]:
        return {
            "oracle": self.oracle,
            "max_trials": self.max_trials,
            "init_points": self.init_points,
            "seed": self.seed,
            "space": self.space.to_json(),
            "train": self.setup.to_json(),
            "min_epochs": self.min_epochs,
            "hyperband_iterations": self.hyperband_iterations,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> RecipeSearchConfig:
        seed = int(doc["seed"])
        return cls(
            TrainSetup.from_json(doc["train"], source=CONFIG_NAME, seed=seed),
            oracle=doc["oracle"],
            max_trials=int(doc["max_trials"]),
            init_points=doc.get("init_points"),
            seed=seed,
            space=RecipeSpace.from_json(doc["space"]),
            # Runs saved before these settings had keras-tuner's layout.
            min_epochs=int(doc.get("min_epochs", 1)),
            hyperband_iterations=int(doc.get("hyperband_iterations", 1)),
        )

    def with_max_trials(self, max_trials: int) -> RecipeSearchConfig:
        return replace(self, max_trials=max_trials)
