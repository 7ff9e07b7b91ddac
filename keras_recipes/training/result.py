"""`TrainResult`: what `train()` returns, and the summary (`summary.json`) inside it."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

import keras_recipes
from keras_recipes.models import prediction_passes
from keras_recipes.recipes import Recipe

#: The headline of a run's summary: what `compare` tabulates and `--final-train` reports.
HEADLINE_KEYS = (
    "best_val_accuracy",
    "best_epoch",
    "epochs_run",
    "status",
    "test_accuracy",
    "test_accuracy_tta",
)


@dataclass
class TrainResult:
    """The outcome of one `train()` call.

    Attributes:
        history: pandas.DataFrame. One row per epoch: epoch, loss, accuracy, val_loss,
            val_accuracy, learning_rate.
        summary: dict. What `summary.json` holds (best_val_accuracy, best_epoch, ...).
        model: keras.Model. The trained model.
        run_dir: Path or None. Where the artefacts were written.
        callbacks: list. The callbacks that ran, for inspection (e.g. an LR trace).
    """

    history: pd.DataFrame
    summary: dict[str, Any]
    model: keras.Model
    run_dir: Path | None = None
    callbacks: list = field(default_factory=list)

    @property
    def best_val_accuracy(self) -> float:
        """The best validation accuracy over the epochs (the tuning objective)."""
        return self.summary["best_val_accuracy"]

    @property
    def status(self) -> str:
        """ "completed", "early_stopped", "diverged" or "interrupted"."""
        return self.summary["status"]


def run_status(history: pd.DataFrame, epochs: int) -> str:
    """ "diverged" (a loss that is not finite), "early_stopped" or "completed"."""
    losses = history["loss"].to_numpy(dtype=float) if "loss" in history else np.array([])
    if losses.size and not np.isfinite(losses).all():
        return "diverged"
    if len(history) < epochs:
        return "early_stopped"
    return "completed"


def summarize(
    recipe: Recipe,
    bundle: Any,
    model: keras.Model,
    history: pd.DataFrame,
    seed: int,
    image_size: int,
    width: float,
) -> dict[str, Any]:
    """What a run trained and how well: the first part of `summary.json`."""
    val = history.get("val_accuracy", pd.Series(dtype=float)).to_numpy(dtype=float)
    finite = np.where(np.isfinite(val), val, -np.inf)
    best_index = int(np.argmax(finite)) if val.size and np.isfinite(val).any() else None
    return {
        "recipe": recipe.name,
        "best_val_accuracy": float(val[best_index]) if best_index is not None else 0.0,
        "best_epoch": best_index + 1 if best_index is not None else None,
        "epochs_run": len(history),
        "epochs_requested": recipe.training.epochs,
        "final_learning_rate": float(history["learning_rate"].iloc[-1])
        if "learning_rate" in history and len(history)
        else None,
        "seed": seed,
        "image_size": image_size,
        "width": width,
        "parameters": int(model.count_params()),
        # Validation, test and every 10-crop view average this many stochastic passes
        # (MC dropout's T; 1 for a deterministic model).
        "prediction_passes": prediction_passes(model),
        "data": bundle.describe(),
        "versions": package_versions(),
    }


def package_versions() -> dict[str, str]:
    """Versions that decide whether a run can be replayed bit for bit."""
    return {
        "python": platform.python_version(),
        "keras_recipes": keras_recipes.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
    }
