"""`ResumableEarlyStopping`: Keras's EarlyStopping whose state survives a resumed run."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

import keras_recipes.callbacks._common as _common
from keras_recipes import atomic

_STATE_KEYS = ("wait", "best", "best_epoch", "best_weights_file")


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """EarlyStopping with `get_state()` / `set_state()`, so `--resume` continues it.

    Keras's EarlyStopping forgets everything at `on_train_begin`: a resumed run would
    restart the patience count and, with `restore_best_weights`, put back the best
    weights of the epochs after the resume only. This one carries the count, the best
    value and epoch, and (when `weights_dir` is given) the best weights, written to
    `weights_dir` as a NumPy `.npz` file each time the monitored value improves.

    Args:
        weights_dir: path or None. Where the best weights are kept for resuming; None
            keeps them in memory only (as Keras does).
        **kwargs: `keras.callbacks.EarlyStopping`'s arguments.

    Example:

    >>> import tempfile
    >>> stopper = ResumableEarlyStopping(
    ...     weights_dir=tempfile.mkdtemp(), monitor="val_accuracy", mode="max", patience=3)
    >>> stopper.set_state({"wait": 2, "best": 0.9, "best_epoch": 4, "best_weights_file": None})
    >>> stopper.on_train_begin()
    >>> stopper.get_state()
    {'wait': 2, 'best': 0.9, 'best_epoch': 4, 'best_weights_file': None}
    """

    def __init__(self, weights_dir: str | Path | None = None, **kwargs):
        super().__init__(**kwargs)
        self.weights_dir = None if weights_dir is None else Path(weights_dir)
        self._weights_file: str | None = None
        self._previous_file: str | None = None
        self._pending: dict | None = None

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._weights_file = None
        if self._pending is not None:
            # Applied here: Keras's on_train_begin would wipe what set_state() restored.
            state, self._pending = self._pending, None
            self.wait = int(state["wait"])
            self.best = None if state["best"] is None else float(state["best"])
            self.best_epoch = int(state["best_epoch"])
            name = state["best_weights_file"]
            if name is not None and self.weights_dir is not None:
                with np.load(self.weights_dir / name) as saved:  # arrays only: no pickle
                    self.best_weights = [saved[f"arr_{i}"] for i in range(len(saved.files))]
                self._weights_file = name

    def on_epoch_end(self, epoch, logs=None):
        before = self.best_weights
        super().on_epoch_end(epoch, logs)
        # Keras stores a new list whenever the best weights change.
        changed = self.best_weights is not None and self.best_weights is not before
        if changed and self.weights_dir is not None:
            self._save_best_weights(epoch)

    def _save_best_weights(self, epoch: int) -> None:
        self.weights_dir.mkdir(parents=True, exist_ok=True)
        name = f"early-stopping-best-epoch{epoch + 1}.npz"
        with atomic.atomic_path(self.weights_dir / name) as tmp:
            np.savez(tmp, *self.best_weights)
        if self._weights_file == name:
            return
        # Keep the file before this one: the previous epoch's saved state names it, and it
        # stays the resume point until this epoch's state is written. The one before goes.
        if self._previous_file is not None:
            (self.weights_dir / self._previous_file).unlink(missing_ok=True)
        self._previous_file, self._weights_file = self._weights_file, name

    def get_state(self) -> dict:
        """The count, best value and epoch, and the best weights' file, JSON-serialisable."""
        best = None if self.best is None else float(self.best)
        return {
            "wait": int(self.wait),
            "best": best,
            "best_epoch": int(self.best_epoch),
            "best_weights_file": self._weights_file,
        }

    def set_state(self, state: dict) -> None:
        """Restores what `get_state()` returned; it takes effect when training begins.

        Args:
            state: dict. A `get_state()` result, possibly through JSON.
        """
        _common.check_state(state, _STATE_KEYS)
        self._pending = dict(state)
