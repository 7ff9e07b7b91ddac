"""`TrainObjective`: one tuning trial = one `train()` run at a (learning rate, weight decay)."""

from __future__ import annotations

import gc
import logging
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from keras_recipes import _compat, atomic
from keras_recipes.errors import ConfigError
from keras_recipes.recipes import Recipe, get_recipe
from keras_recipes.tuning.config import (
    DEFAULT_STARTUP_TRIALS,
    DEFAULT_WARMUP_EPOCHS,
    PRUNE_RULES,
)
from keras_recipes.tuning.hparams import trial_log_dir
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
        prune: str. "none", or "median": a `MedianPruner` stops a trial below the finished
            trials' median (needs the trial directories; the outcome's status is "pruned").
        prune_warmup_epochs: int. Epochs of every trial that are never pruned.
        prune_startup_trials: int. Finished trials needed before pruning starts.
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
        prune: str = "none",
        prune_warmup_epochs: int = DEFAULT_WARMUP_EPOCHS,
        prune_startup_trials: int = DEFAULT_STARTUP_TRIALS,
    ):
        if prune not in PRUNE_RULES:
            raise ConfigError(f"Unknown pruning rule {prune!r}; valid: {', '.join(PRUNE_RULES)}.")
        self.prune = prune
        self.prune_warmup_epochs = prune_warmup_epochs
        self.prune_startup_trials = prune_startup_trials
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
        from keras_recipes.run_recorder import backup_epoch
        from keras_recipes.training import train

        recipe = self.recipe_for(params, epochs)
        # A trial cut off mid-way (a killed search, now resumed) left its checkpoint in
        # trial_dir: the same trial continues from it, as train.py --resume would.
        resume = trial_dir is not None and backup_epoch(trial_dir) is not None
        pruner = self._pruner(trial_dir, resume)
        with free_trial_memory():
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
                resume=resume,
                callbacks=[pruner] if pruner is not None else (),
                tensorboard=trial_log_dir(trial_dir),
            )
            summary = result.summary
            if pruner is not None and pruner.pruned_at_epoch is not None:
                summary["status"] = "pruned"
                summary["pruned"] = pruner.decision
                _rewrite_summary(trial_dir, summary)
            outcome = TrialOutcome(
                score=float(summary["best_val_accuracy"]),
                best_epoch=summary.get("best_epoch"),
                epochs_run=summary.get("epochs_run"),
                status=summary["status"],
            )
            del result
        return outcome

    def _pruner(self, trial_dir: str | Path | None, resume: bool):
        from keras_recipes.tuning.pruning import MedianPruner

        # Without a trial directory there are no finished trials to compare with.
        if self.prune == "none" or trial_dir is None:
            return None
        history: list[float] = []
        if resume:
            from keras_recipes.run_recorder import load_resume_point

            _, records, _ = load_resume_point(trial_dir)
            history = [float(r.get("val_accuracy", float("nan"))) for r in records]
        return MedianPruner(
            Path(trial_dir).parent,
            trial_dir,
            warmup_epochs=self.prune_warmup_epochs,
            startup_trials=self.prune_startup_trials,
            history=history,
        )


def _rewrite_summary(trial_dir: str | Path, summary: Mapping[str, Any]) -> None:
    # train() wrote summary.json as "early_stopped"; only the objective knows why it stopped.
    atomic.write_json(Path(trial_dir) / "summary.json", summary, indent=2, default=str)


@contextmanager
def free_trial_memory() -> Iterator[None]:
    """Frees what the `train()` calls inside the block left behind, however the block ends.

    Every `train()` builds a new model; in one process that trains many (a search, a
    comparison), graphs and weights pile up unless the Keras session is cleared and the
    custom-gradient registrations the block added are dropped (see
    `_forget_custom_gradients`). Models created inside the block must not be used after it.

    Example:

    >>> import keras
    >>> with free_trial_memory():
    ...     model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> del model
    """
    import keras

    registered = _custom_gradients()
    try:
        yield
    finally:
        keras.backend.clear_session()
        _forget_custom_gradients(registered)
        gc.collect()


def _not_a_retracing_warning(record: logging.LogRecord) -> bool:
    return "triggered tf.function retracing" not in record.getMessage()


def quiet_retracing_warnings() -> None:
    """Drops TensorFlow's "N out of the last M calls ... triggered tf.function retracing"
    warning (only that one) for the rest of the process.

    A process that trains many models (a search, a comparison) traces each new model's
    train step once; TF counts those traces against Keras's one step function and warns
    of a retracing loop that is not there. Other TF warnings still show.
    """
    logger = logging.getLogger("tensorflow")
    if _not_a_retracing_warning not in logger.filters:
        logger.addFilter(_not_a_retracing_warning)


#: Whether the user has been told that trial memory cannot be freed on this TF.
_warned_no_registry = False


def _gradient_registry() -> dict | None:
    registry = _compat.gradient_registry()
    if registry is None:
        _warn_no_registry()
    return registry


def _warn_no_registry() -> None:
    # Said once per process: without the registry every trial keeps its graphs (~15-20 MB).
    global _warned_no_registry
    if _warned_no_registry:
        return
    _warned_no_registry = True
    import tensorflow as tf

    warnings.warn(
        f"TensorFlow {tf.__version__} has no private gradient registry where keras-recipes "
        "expects it (see keras_recipes._compat.gradient_registry), so trials cannot "
        "drop their custom-gradient entries: each trial in this process keeps its graphs "
        "(~15-20 MB). Use the TensorFlow version pyproject.toml allows, or fewer trials per "
        "process.",
        RuntimeWarning,
        stacklevel=3,
    )


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
