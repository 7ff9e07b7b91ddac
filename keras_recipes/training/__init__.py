"""Training: `train()` and what it needs.

- `setup`: `TrainSetup`, what a run is made of, saved and described one way;
- `fit`: `train()` itself, as named steps;
- `build`: recipe -> optimizer, schedule callbacks and the compiled model;
- `run_dir`: the run folder (per-epoch record, checks, resume point, what is written);
- `result`: `TrainResult` and `summary.json`;
- `distribution`: `tf.distribute` strategies, batch and learning-rate scaling;
- `lr_range`: the LR range test through `train()`;
- `session`: freeing TensorFlow memory between the models of one process;
- `plots`: the learning curves of a run folder.

Names load on first use, so `import keras_recipes.training` (and the CLI's `--help`) does
not import TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TrainResult": "keras_recipes.training.result",
    "TrainSetup": "keras_recipes.training.setup",
    "TrainingInterrupted": "keras_recipes.training.fit",
    "compile_model": "keras_recipes.training.build",
    "find_learning_rate": "keras_recipes.training.lr_range",
    "free_trial_memory": "keras_recipes.training.session",
    "load_model": "keras_recipes.training.fit",
    "train": "keras_recipes.training.fit",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'keras_recipes.training' has no attribute {name!r}")
