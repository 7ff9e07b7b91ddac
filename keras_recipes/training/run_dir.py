"""A run folder: its per-epoch record (`RunRecorder`), its checks, its resume point and what
`train()` writes into it at the end.

The per-epoch record:
Keras's `CSVLogger` appends rows but cannot rewind, so a run killed between its write and
the epoch's backup would repeat an epoch on resume. This callback rewrites `history.csv`
whole each epoch and keeps, next to `BackupAndRestore`'s checkpoint, the history and the
schedule callbacks' states of the last two epochs, so a resume picks the ones that match
the checkpoint's epoch.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd

from keras_recipes import atomic
from keras_recipes.errors import ConfigError
from keras_recipes.recipes import Recipe
from keras_recipes.training.plots import plot_learning_curves
from keras_recipes.training.result import TrainResult

HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")
BACKUP_DIR = "backup"
#: Where `train(keep_state=True)` leaves a finished run's last checkpoint (`keep_state`).
STATE_DIR = "state"


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
    return _checkpoint_epoch(Path(run_dir) / BACKUP_DIR)


def state_epoch(run_dir: str | Path) -> int | None:
    """Epochs completed by the state a finished run kept in `run_dir/state`, or None."""
    return _checkpoint_epoch(Path(run_dir) / STATE_DIR)


def _checkpoint_epoch(folder: Path) -> int | None:
    # BackupAndRestore's metadata file (listed in keras_recipes/_compat.py).
    meta = folder / "training_metadata.json"
    if not meta.exists():
        return None
    return int(json.loads(meta.read_text())["epoch"])


def keep_state(run_dir: str | Path) -> None:
    """Turns a finished run's checkpoint (`backup/`) into its kept state (`state/`).

    The checkpoint is the resume point of the last completed epoch: weights, optimizer
    state, epoch counter, history and the schedule callbacks' and dropout generators'
    states. Renamed, not copied (one rename: a kill leaves one or the other), and under
    another name, so the finished run does not look unfinished (`backup_epoch` is None).
    The previous epoch's copies (`*.bkp`, kept against a kill while the weights are
    written) go: the run ended, its last weights are whole, and the state is half the size.
    """
    run_dir = Path(run_dir)
    if (run_dir / BACKUP_DIR).is_dir():
        drop_state(run_dir)
        os.replace(run_dir / BACKUP_DIR, run_dir / STATE_DIR)
        for copy in (run_dir / STATE_DIR).glob("*.bkp"):
            copy.unlink()


def continue_state(source: str | Path, run_dir: str | Path) -> int:
    """Moves the state `source` kept (`keep_state`) into `run_dir` as its checkpoint, so
    `train(..., run_dir=run_dir, resume=True)` continues that run; returns its epochs.

    The same resume point as a run cut off after those epochs: the continued run trains
    the remaining epochs of the same run (same recipe, seed and data assumed). The state
    moves (one rename, no copy on disk): it can be continued once.

    Example:

    >>> import tempfile
    >>> parent, child = Path(tempfile.mkdtemp()), Path(tempfile.mkdtemp()) / "child"
    >>> (parent / BACKUP_DIR).mkdir()
    >>> _ = (parent / BACKUP_DIR / "training_metadata.json").write_text('{"epoch": 3}')
    >>> keep_state(parent)
    >>> state_epoch(parent), backup_epoch(parent)
    (3, None)
    >>> continue_state(parent, child), backup_epoch(child), state_epoch(parent)
    (3, 3, None)

    Raises:
        ConfigError: `source` keeps no state, or `run_dir` holds a checkpoint already.
    """
    source, run_dir = Path(source), Path(run_dir)
    epoch = state_epoch(source)
    if epoch is None:
        raise ConfigError(f"{source} keeps no state to continue ({STATE_DIR}/ is missing).")
    if (run_dir / BACKUP_DIR).exists():
        raise ConfigError(f"{run_dir} holds a checkpoint already; resume it instead.")
    run_dir.mkdir(parents=True, exist_ok=True)
    os.replace(source / STATE_DIR, run_dir / BACKUP_DIR)
    return epoch


def drop_state(run_dir: str | Path) -> bool:
    """Removes the state `run_dir` kept, if any; True when there was one."""
    state = Path(run_dir) / STATE_DIR
    if not state.is_dir():
        return False
    shutil.rmtree(state, ignore_errors=True)
    return True


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


def default_run_dir(recipe: Recipe, root: str | Path = "runs") -> Path:
    """`runs/<recipe>-<YYYYmmdd-HHMMSS>`."""
    return Path(root) / f"{recipe.name}-{datetime.now():%Y%m%d-%H%M%S}"


def check_run_dir(run_dir: str | Path) -> Path:
    """Raises a `ConfigError` now when `run_dir` could not be created; creates nothing.

    The nearest folder that exists on the way to `run_dir` must be a writable folder. Bad
    input is found before anything is computed, and leaves no folder behind.
    """
    run_dir = Path(run_dir)
    existing = run_dir.absolute()
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    problem = None
    if not existing.is_dir():
        problem = f"{existing} is not a folder"
    elif not os.access(existing, os.W_OK | os.X_OK):
        problem = f"{existing} is not writable"
    if problem:
        raise ConfigError(
            f"Cannot write the run directory {run_dir}: {problem}. Choose another with --out."
        )
    return run_dir


def prepare_run_dir(run_dir: str | Path) -> Path:
    """Creates `run_dir` and proves it is writable now, not after hours of training."""
    run_dir = Path(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise ConfigError(
            f"Cannot write the run directory {run_dir}: {err.strerror or err}. "
            "Choose another with --out."
        ) from None
    return run_dir


def resume_point(run_dir: Path | None, resume: bool) -> tuple[int, list, dict]:
    """(initial epoch, history records, callback and seed states) to start from.

    Refuses to start afresh over an unfinished run, and checks (without creating) that the
    run folder can be made: it is created once the data and the model are known good.
    """
    initial_epoch, records, states = 0, [], {}
    if resume:
        if run_dir is None:
            raise ConfigError("resume=True needs the run_dir of the run to continue.")
        initial_epoch, records, states = load_resume_point(run_dir)
    elif run_dir is not None and backup_epoch(run_dir) is not None:
        raise ConfigError(
            f"{run_dir} holds an unfinished run (checkpoint at epoch {backup_epoch(run_dir)}). "
            "Continue it with --resume, or choose another --out."
        )
    if run_dir is not None:
        check_run_dir(run_dir)
    return initial_epoch, records, states


def write_run_dir(result: TrainResult, recipe: Recipe, *, save_model: bool = True) -> None:
    """recipe.toml, history.csv, summary.json, learning_curves.png and model.keras."""
    run_dir = result.run_dir
    recipe.to_toml(run_dir / "recipe.toml")
    atomic.write_csv(run_dir / "history.csv", result.history, index=False)
    atomic.write_json(run_dir / "summary.json", result.summary, indent=2, default=str)
    if len(result.history):
        plot_learning_curves(result.history, run_dir / "learning_curves.png", title=recipe.name)
    if save_model:
        with atomic.atomic_path(run_dir / "model.keras") as tmp:
            result.model.save(tmp)
