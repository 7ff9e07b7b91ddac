"""`RunRecorder`: the per-epoch record of a training run, kept on disk as it grows.

Keras's `CSVLogger` appends rows but cannot rewind, so a run killed between its write and
the epoch's backup would repeat an epoch on resume. This callback rewrites `history.csv`
whole each epoch and keeps, next to `BackupAndRestore`'s checkpoint, the history and the
schedule callbacks' states of the last two epochs, so a resume picks the ones that match
the checkpoint's epoch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd

from keras_recipes import atomic
from keras_recipes.errors import ConfigError

HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")
BACKUP_DIR = "backup"


def history_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Per-epoch records -> DataFrame with the standard columns first."""
    frame = pd.DataFrame(records)
    if frame.empty:
        return pd.DataFrame(columns=list(HISTORY_COLUMNS))
    ordered = [c for c in HISTORY_COLUMNS if c in frame]
    return frame[ordered + [c for c in frame.columns if c not in ordered]]


def seed_states(model: keras.Model) -> list:
    """The dropout layers' random-generator states, in model order.

    `save_weights` (and so `BackupAndRestore`) leaves them out; without them a resumed run
    would draw other dropout masks than an uninterrupted one.
    """
    return [v for v in model.variables if "seed_generator_state" in v.path]


def _state_path(run_dir: Path, epoch: int) -> Path:
    return run_dir / BACKUP_DIR / f"run-state-{epoch}.json"


class RunRecorder(keras.callbacks.Callback):
    """Records each epoch's logs; with a `run_dir`, also writes them there as they come.

    Place it after the callbacks that add to the logs (learning rate) and before
    `BackupAndRestore`, so an epoch's state is on disk before its checkpoint.

    Example:

    >>> import numpy as np
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> recorder = RunRecorder()
    >>> _ = model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=2, verbose=0,
    ...               callbacks=[recorder])
    >>> [row["epoch"] for row in recorder.records]
    [1, 2]

    Args:
        run_dir: path or None. Where `history.csv` and the resume states go.
        records: list of dict. Epochs already run (a resumed run's first part).
        stateful: dict of name -> callback with `get_state()`; saved each epoch.
    """

    def __init__(self, run_dir=None, records=None, stateful=None):
        super().__init__()
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.records = list(records or [])
        self.stateful = dict(stateful or {})

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1}
        row.update({k: float(v) for k, v in (logs or {}).items()})
        self.records.append(row)
        if self.run_dir is None:
            return
        atomic.write_csv(self.run_dir / "history.csv", history_frame(self.records), index=False)
        state = {
            "epoch": epoch + 1,
            "records": self.records,
            "callbacks": {name: cb.get_state() for name, cb in self.stateful.items()},
            "seed_states": [v.numpy().tolist() for v in seed_states(self.model)],
        }
        (self.run_dir / BACKUP_DIR).mkdir(exist_ok=True)
        atomic.write_json(_state_path(self.run_dir, epoch + 1), state, default=float)
        old = _state_path(self.run_dir, epoch - 1)  # keep this epoch's and the previous one
        old.unlink(missing_ok=True)


def backup_epoch(run_dir: str | Path) -> int | None:
    """Epochs completed by the checkpoint `BackupAndRestore` left in `run_dir`, or None."""
    meta = Path(run_dir) / BACKUP_DIR / "training_metadata.json"
    if not meta.exists():
        return None
    return int(json.loads(meta.read_text())["epoch"])


def load_resume_point(run_dir: str | Path) -> tuple[int, list[dict], dict[str, Any]]:
    """(epochs done, their records, the saved states) matching the checkpoint.

    The states are {"callbacks": {name: state}, "seed_states": [...]}.

    Raises:
        ConfigError: when `run_dir` holds no unfinished run to resume.
    """
    run_dir = Path(run_dir)
    epoch = backup_epoch(run_dir)
    if epoch is None:
        raise ConfigError(
            f"Nothing to resume in {run_dir}: it has no checkpoint ({BACKUP_DIR}/ is removed "
            "when a run finishes, and written after the first completed epoch)."
        )
    path = _state_path(run_dir, epoch)
    if not path.exists():
        raise ConfigError(
            f"Cannot resume {run_dir}: the checkpoint is at epoch {epoch} but "
            f"{path.name} is missing."
        )
    state = json.loads(path.read_text())
    records = [{k: (np.nan if v is None else v) for k, v in r.items()} for r in state["records"]]
    return epoch, records[:epoch], {k: state[k] for k in ("callbacks", "seed_states")}


def restore_seed_states(model: keras.Model, values: list) -> None:
    """Assigns states saved by `RunRecorder` back, in model order."""
    variables = seed_states(model)
    if len(variables) != len(values):
        raise ConfigError(
            f"Cannot resume: the model has {len(variables)} dropout random states, the "
            f"checkpoint {len(values)}; was the recipe changed?"
        )
    for variable, value in zip(variables, values, strict=True):
        variable.assign(np.asarray(value, dtype=variable.dtype))
