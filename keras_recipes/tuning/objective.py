"""`TrainObjective`: one tuning trial = one `train()` run at a (learning rate, weight decay)."""

from __future__ import annotations

import gc
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from keras_recipes.recipes import Recipe, get_recipe
from keras_recipes.tuning.outcome import TrialOutcome

PARAMS = ("log10_learning_rate", "log10_weight_decay")


class TrainObjective:
    """Trains `recipe` with `learning_rate = 10**x`, `weight_decay = 10**y`; returns the best
    validation accuracy over the epochs.

    The data are loaded once, on the first call, and the same bundle is passed to every
    `train()`; the Keras session is cleared after each trial so memory stays flat.

    Example:

    >>> import numpy as np
    >>> x = np.random.default_rng(0).integers(0, 255, (40, 40, 40, 3), dtype=np.uint8)
    >>> recipe = get_recipe("relu").with_overrides(["training.epochs=1", "training.batch_size=8"])
    >>> objective = TrainObjective(recipe, (x, np.arange(40) % 2), image_size=32, width=0.1)
    >>> outcome = objective({"log10_learning_rate": -2.0, "log10_weight_decay": -4.0})
    >>> outcome.epochs_run, outcome.status
    (1, 'completed')

    Args:
        recipe: Recipe or str. The recipe whose learning rate and weight decay are tuned;
            its `training.epochs` is the per-trial epoch count.
        data: str, (x, y) or DataBundle. What `train()` accepts.
        image_size: int. Crop size fed to the model.
        width: float. AlexNet width multiplier.
        seed: int. The same seed for every trial, so only the two parameters differ.
        save_model: bool. Write `model.keras` into each trial directory.
    """

    def __init__(
        self,
        recipe: Recipe | str,
        data: Any = "demo",
        *,
        image_size: int = 227,
        width: float = 1.0,
        seed: int = 0,
        save_model: bool = False,
    ):
        self.recipe = get_recipe(recipe) if isinstance(recipe, str) else recipe
        self.data = data
        self.image_size = image_size
        self.width = width
        self.seed = seed
        self.save_model = save_model
        self._bundle = None
        self.loads = 0

    def bundle(self):
        """The data, loaded on first use and reused by every later trial."""
        if self._bundle is None:
            from keras_recipes.data import DataBundle, load_data

            if isinstance(self.data, DataBundle):
                self._bundle = self.data
            else:
                training = self.recipe.training
                self._bundle = load_data(
                    self.data,
                    image_size=self.image_size,
                    batch_size=training.batch_size,
                    preprocessing=training.preprocessing,
                    seed=self.seed,
                )
                self.loads += 1
        return self._bundle

    def recipe_for(self, params: Mapping[str, float], epochs: int | None = None) -> Recipe:
        """The recipe with `10**params` as learning rate and weight decay (and `epochs`)."""
        sections: dict[str, dict[str, Any]] = {
            "optimizer": {"learning_rate": 10.0 ** float(params["log10_learning_rate"])},
            "regularization": {"weight_decay": 10.0 ** float(params["log10_weight_decay"])},
        }
        if epochs is not None:
            sections["training"] = {"epochs": int(epochs)}
        return self.recipe.replace(**sections)

    def __call__(
        self,
        params: Mapping[str, float],
        *,
        epochs: int | None = None,
        trial_dir: str | Path | None = None,
    ) -> TrialOutcome:
        import keras

        from keras_recipes.training import train

        recipe = self.recipe_for(params, epochs)
        registered = _custom_gradients()
        try:
            result = train(
                recipe,
                self.bundle(),
                image_size=self.image_size,
                width=self.width,
                seed=self.seed,
                run_dir=trial_dir,
                tta=False,
                verbose=0,
                save_model=self.save_model,
            )
            summary = result.summary
            outcome = TrialOutcome(
                score=float(summary["best_val_accuracy"]),
                best_epoch=summary.get("best_epoch"),
                epochs_run=summary.get("epochs_run"),
                status=summary["status"],
            )
            del result
        finally:
            # Each trial builds a new model; without this, graphs and weights pile up.
            keras.backend.clear_session()
            _forget_custom_gradients(registered)
            gc.collect()
        return outcome


def _gradient_registry() -> dict | None:
    try:
        from tensorflow.python.framework import ops

        return ops._gradient_registry._registry
    except (ImportError, AttributeError):  # a TF without this private registry
        return None


def _custom_gradients() -> set[str]:
    registry = _gradient_registry()
    return set(registry) if registry is not None else set()


def _forget_custom_gradients(before: set[str]) -> None:
    """Drops the `CustomGradient-N` entries a trial added to TF's global gradient registry.

    Written by hand because neither Keras nor TF does it (TF 2.21): every traced train step
    registers one (Keras' all-reduce of the gradients goes through `tf.custom_gradient`),
    and the entry's closure pins the step's whole FuncGraph, so `clear_session()` frees
    nothing and each trial kept ~15-20 MB (tensorflow/tensorflow#97697, keras-team/tf-keras
    #286). The entries are only read while a gradient is being traced; the trial's
    functions are gone, so nothing reads these again.
    """
    registry = _gradient_registry()
    if registry is None:
        return
    for name in [k for k in registry if k not in before and k.startswith("CustomGradient-")]:
        del registry[name]
