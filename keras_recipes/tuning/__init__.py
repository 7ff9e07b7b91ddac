"""Tuning: `train-with-bo` — Bayesian optimisation (bayes_opt) of log10 learning rate and
log10 weight decay on keras-tuner's trial engine, with random/grid/Hyperband baselines,
resume, chief/worker mode and plots; and `keras-recipes tune`, keras-tuner's oracles over
the recipe space (activation, init, batch norm, optimizer, schedule, dropout) on the same
engine.

Heavy modules (keras-tuner, TensorFlow) load on first use of a name below, so
`import keras_recipes.tuning` and the CLI's `--help` stay fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BayesOptOracle": "keras_recipes.tuning.oracle",
    "MedianPruner": "keras_recipes.tuning.pruning",
    "ObjectiveTuner": "keras_recipes.tuning.tuner",
    "RecipeObjective": "keras_recipes.tuning.recipe_objective",
    "RecipeSearchConfig": "keras_recipes.tuning.recipe_search",
    "RecipeSpace": "keras_recipes.tuning.recipe_space",
    "SearchResult": "keras_recipes.tuning.search",
    "SearchSpace": "keras_recipes.tuning.space",
    "TrainObjective": "keras_recipes.tuning.objective",
    "TrialOutcome": "keras_recipes.tuning.outcome",
    "TrialRecorder": "keras_recipes.tuning.recorder",
    "TrialsFailedError": "keras_recipes.tuning.errors",
    "ToyObjective": "keras_recipes.tuning.toy",
    "TuningConfig": "keras_recipes.tuning.config",
    "run_recipe_search": "keras_recipes.tuning.recipe_search",
    "run_search": "keras_recipes.tuning.search",
    "toy_function": "keras_recipes.tuning.toy",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'keras_recipes.tuning' has no attribute {name!r}")
