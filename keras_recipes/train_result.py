"""`TrainResult`: what `train()` returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import pandas as pd


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
