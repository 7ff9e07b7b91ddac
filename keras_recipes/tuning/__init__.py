"""Tuning: two products on one trial engine.

- `engine/`: keras-tuner's trials driven by an objective, the live table and
  `trials.csv`, chief/worker mode, pruning, the run folder's claim and resume check;
- `bo/`: `train-with-bo`, Bayesian optimisation (bayes_opt) of log10 learning rate and
  log10 weight decay, with random/grid/Hyperband baselines and plots; and
  `BayesOptTuner`, the same GP + EI for any keras-tuner hypermodel, and `BOHBTuner`,
  keras-tuner's Hyperband with that GP behind its brackets;
- `recipe/`: `keras-recipes tune`, keras-tuner's oracles (and bo's `BOHBOracle`) over the
  recipe space (activation, init, batch norm, optimizer, schedule, dropout).

Heavy modules (keras-tuner, TensorFlow) load on first use of a name below, so
`import keras_recipes.tuning` and the CLI's `--help` stay fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BayesOptOracle": "keras_recipes.tuning.bo.oracle",
    "BOHBOracle": "keras_recipes.tuning.bo.bohb",
    "BOHBTuner": "keras_recipes.tuning.bo.tuner",
    "BayesOptTuner": "keras_recipes.tuning.bo.tuner",
    "HPSpace": "keras_recipes.tuning.bo.hp_space",
    "MedianPruner": "keras_recipes.tuning.engine.pruning",
    "ObjectiveTuner": "keras_recipes.tuning.engine.tuner",
    "RecipeObjective": "keras_recipes.tuning.recipe.objective",
    "RecipeSearchConfig": "keras_recipes.tuning.recipe.config",
    "RecipeSpace": "keras_recipes.tuning.recipe.space",
    "SearchResult": "keras_recipes.tuning.engine.driver",
    "SearchSpace": "keras_recipes.tuning.bo.space",
    "TrainObjective": "keras_recipes.tuning.bo.objective",
    "TrainingObjective": "keras_recipes.tuning.engine.objective",
    "TrialOutcome": "keras_recipes.tuning.engine.outcome",
    "TrialRecorder": "keras_recipes.tuning.engine.recorder",
    "TrialsFailedError": "keras_recipes.tuning.engine.failures",
    "ToyObjective": "keras_recipes.tuning.bo.toy",
    "TuningConfig": "keras_recipes.tuning.bo.config",
    "run_recipe_search": "keras_recipes.tuning.recipe.search",
    "run_search": "keras_recipes.tuning.bo.search",
    "toy_function": "keras_recipes.tuning.bo.toy",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'keras_recipes.tuning' has no attribute {name!r}")
