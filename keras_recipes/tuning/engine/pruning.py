"""`MedianPruner`: stops a tuning trial whose best validation accuracy so far is below the
median of the finished trials' best-so-far at the same epoch (the median rule of Optuna's
`MedianPruner`, on Keras's `stop_training`).

The finished trials are read from the run directory (`trials/<n>/history.csv` and
`summary.json`), not from memory, so the rule sees the same trials in a single process, in
every worker that shares the run directory, and after `--resume`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd

from keras_recipes import atomic

#: `--prune` choices: none, or stop trials below the finished trials' median.
PRUNE_RULES = ("none", "median")
#: Epochs of every trial that are never pruned (a good point's first epochs are noisy).
DEFAULT_WARMUP_EPOCHS = 2
#: Finished trials needed before any trial is pruned (Optuna's default n_startup_trials).
DEFAULT_STARTUP_TRIALS = 5

#: Written into a trial's directory when it is pruned, before its summary.json exists.
PRUNED_MARKER = "pruned.json"
#: Statuses of trials that ran to their own end: their histories make the median.
_FINISHED = ("completed", "early_stopped")


def best_so_far(values: Sequence[float]) -> np.ndarray:
    """Running maximum, NaN-tolerant (a NaN epoch keeps the previous best).

    Example:

    >>> best_so_far([0.5, 0.7, float("nan"), 0.6, 0.8]).tolist()
    [0.5, 0.7, 0.7, 0.7, 0.8]
    """
    values = np.asarray(values, dtype=float)
    if not values.size:
        return values
    return np.fmax.accumulate(np.where(np.isnan(values), -np.inf, values))


class FinishedTrials:
    """Best-so-far validation accuracy per epoch of the finished trials under `trials_root`.

    A trial counts once its `summary.json` says it completed or stopped early by the
    recipe's own early stopping; pruned, diverged and unfinished trials do not (as in
    Optuna, where only complete trials make the median). Finished trials never change, so
    each is read once.

    Args:
        trials_root: path. The run directory's `trials/` (one folder per trial).
        monitor: str. The history column ("val_accuracy").
    """

    def __init__(self, trials_root: str | Path, monitor: str = "val_accuracy"):
        self.trials_root = Path(trials_root)
        self.monitor = monitor
        self._curves: dict[str, np.ndarray] = {}

    def curves(self, exclude: str | Path | None = None) -> dict[str, np.ndarray]:
        """{trial folder name: best-so-far per epoch} of every finished trial but `exclude`."""
        skip = Path(exclude).name if exclude is not None else None
        folders = sorted(self.trials_root.iterdir()) if self.trials_root.is_dir() else []
        for folder in folders:
            if folder.name in self._curves or folder.name == skip:
                continue
            curve = self._read(folder)
            if curve is not None:
                self._curves[folder.name] = curve
        return {name: c for name, c in self._curves.items() if name != skip}

    def _read(self, folder: Path) -> np.ndarray | None:
        summary = folder / "summary.json"
        if not summary.is_file() or (folder / PRUNED_MARKER).exists():
            return None
        try:
            status = json.loads(summary.read_text()).get("status")
            if status not in _FINISHED:
                return None
            history = pd.read_csv(folder / "history.csv")
        except (OSError, ValueError):  # being written by another worker: read it next time
            return None
        if self.monitor not in history:
            return None
        return best_so_far(history[self.monitor].to_numpy(dtype=float))

    def median(self, epoch: int, exclude: str | Path | None = None) -> tuple[float, int]:
        """(median best-so-far at 1-based `epoch`, trials that reached it); NaN when none."""
        at_epoch = [c[epoch - 1] for c in self.curves(exclude).values() if len(c) >= epoch]
        if not at_epoch:
            return math.nan, 0
        return float(np.median(at_epoch)), len(at_epoch)


class MedianPruner(keras.callbacks.Callback):
    """Stops training after an epoch whose best-so-far `monitor` is below the finished trials'
    median best-so-far at that epoch.

    It prunes only after `warmup_epochs` epochs, once `startup_trials` trials have finished,
    and never at the last epoch (nothing is left to save). Pass it to `train(callbacks=...)`.
    When it prunes, it writes `PRUNED_MARKER` into `trial_dir` and sets `pruned_at_epoch`.

    Example:

    >>> import tempfile
    >>> pruner = MedianPruner(tempfile.mkdtemp(), warmup_epochs=1, startup_trials=1)
    >>> pruner.should_prune(epoch=2, best=0.6, epochs=5)   # no finished trial yet
    False

    Args:
        trials_root: path. The folder holding every trial's folder (`run_dir/trials`).
        trial_dir: path or None. This trial's folder (left out of the median).
        warmup_epochs: int. Epochs 1..warmup_epochs are never pruned.
        startup_trials: int. Finished trials needed before pruning starts (>= 1).
        monitor: str. The logged metric, maximised ("val_accuracy").
        history: the monitor's values of the epochs already run (a resumed trial).
    """

    def __init__(
        self,
        trials_root: str | Path,
        trial_dir: str | Path | None = None,
        *,
        warmup_epochs: int = DEFAULT_WARMUP_EPOCHS,
        startup_trials: int = DEFAULT_STARTUP_TRIALS,
        monitor: str = "val_accuracy",
        history: Sequence[float] = (),
    ):
        super().__init__()
        if warmup_epochs < 0 or startup_trials < 1:
            raise ValueError(
                f"warmup_epochs must be >= 0 and startup_trials >= 1; got {warmup_epochs}, "
                f"{startup_trials}."
            )
        self.finished = FinishedTrials(trials_root, monitor)
        self.trial_dir = Path(trial_dir) if trial_dir is not None else None
        self.warmup_epochs = warmup_epochs
        self.startup_trials = startup_trials
        self.monitor = monitor
        curve = best_so_far(history)
        self.best = float(curve[-1]) if curve.size else -math.inf
        self.pruned_at_epoch: int | None = None
        self.decision: dict[str, Any] | None = None

    def should_prune(self, epoch: int, best: float, epochs: int | None) -> bool:
        """The rule at 1-based `epoch` for a trial whose best so far is `best`."""
        if epoch <= self.warmup_epochs or (epochs is not None and epoch >= epochs):
            return False
        curves = self.finished.curves(self.trial_dir)
        if len(curves) < self.startup_trials:
            return False
        median, reached = self.finished.median(epoch, self.trial_dir)
        if not reached:
            return False
        self.decision = {"epoch": epoch, "best_so_far": best, "median": median, "trials": reached}
        return best < median

    def on_train_begin(self, logs=None):
        if self.trial_dir is not None:
            # A resumed trial decides again: a marker from before the cut-off no longer holds.
            (self.trial_dir / PRUNED_MARKER).unlink(missing_ok=True)

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is not None and math.isfinite(float(value)):
            self.best = max(self.best, float(value))
        if not self.should_prune(epoch + 1, self.best, (self.params or {}).get("epochs")):
            return
        self.pruned_at_epoch = epoch + 1
        self.model.stop_training = True
        if self.trial_dir is not None:
            # Before summary.json exists, so no other worker counts this trial as finished.
            atomic.write_json(self.trial_dir / PRUNED_MARKER, self.decision, indent=2)
