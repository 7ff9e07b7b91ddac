"""`SearchHParams`: a search's trials in TensorBoard's HParams dashboard.

Layout, under the search's run directory:

    tensorboard/                  the experiment: hyperparameters and metrics, declared once
    tensorboard/trial-007/        trial 7's session: its hyperparameters, status and score
    tensorboard/trial-007/train   its `train()` logs (and validation/), one sub-run per trial

`tensorboard --logdir RUN_DIR/tensorboard` then shows every trial in the HParams table,
parallel-coordinates and scatter views, and their curves in the scalars dashboard.

The summaries are written with TensorBoard's own `tensorboard.plugins.hparams.api` (as
keras-tuner's `Tuner` does for its trials, through its own `convert_hyperparams_to_hparams`),
one session per finished trial, including pruned, diverged, invalid and failed ones. The
plugin knows only success, failure, running and unknown; the session status says which of
those, and a `status` hyperparameter keeps the search's own word, so the table can be
filtered by it.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

#: The TensorBoard folder of a search run directory.
LOG_DIR_NAME = "tensorboard"
#: A trial's status (trials.csv) -> the HParams plugin's session status name.
SESSION_STATUS = {
    "completed": "STATUS_SUCCESS",
    "early_stopped": "STATUS_SUCCESS",
    "pruned": "STATUS_SUCCESS",  # stopped by the search's rule, with a real score
    "diverged": "STATUS_FAILURE",
    "invalid": "STATUS_FAILURE",
    "failed": "STATUS_FAILURE",
}
STATUS_HPARAM = "status"
_EVENT_PREFIX = "events.out.tfevents."
_PARTIAL = ".partial"
#: Metrics of a trial that trained: the last value of `train()`'s epoch scalars.
_TRAINING_METRICS = (
    ("validation", "epoch_accuracy", "val accuracy (last epoch)"),
    ("validation", "epoch_loss", "val loss (last epoch)"),
    ("train", "epoch_loss", "loss (last epoch)"),
)


def session_name(trial: int) -> str:
    """The session (and sub-run) of trial number `trial`: `trial-007`."""
    return f"trial-{trial:03d}"


def trial_log_dir(trial_dir: str | Path | None) -> Path | bool:
    """Where the `train()` of the trial in `RUN/trials/007` writes: `RUN/tensorboard/trial-007`
    (the `tensorboard` argument of `train()`).

    Example:

    >>> trial_log_dir("runs/bo/trials/007")
    PosixPath('runs/bo/tensorboard/trial-007')
    >>> trial_log_dir(None), trial_log_dir("my-trial")
    (False, True)
    """
    if trial_dir is None:
        return False
    trial_dir = Path(trial_dir)
    if not trial_dir.name.isdigit():
        return True  # not a search's numbered trial: its own run_dir/tensorboard
    return trial_dir.parent.parent / LOG_DIR_NAME / session_name(int(trial_dir.name))


class SearchHParams:
    """Writes the HParams summaries of a search: the experiment once, then one session per
    finished trial (each exactly once, also across `--resume`).

    Example:

    >>> import tempfile, keras_tuner
    >>> space = keras_tuner.HyperParameters()
    >>> _ = space.Float("x", -2.0, 6.0)
    >>> log_dir = Path(tempfile.mkdtemp())
    >>> hparams = SearchHParams(log_dir, space, "f", train_metrics=False)
    >>> frame = pd.DataFrame({"trial": [1, 2], "x": [0.6, 5.0], "f": [1.7, 0.1],
    ...                       "seconds": [0.1, 0.1], "status": ["completed", "diverged"]})
    >>> hparams.update(frame)
    [1, 2]
    >>> hparams.update(frame)
    []
    >>> sorted(p.name for p in log_dir.iterdir())[:2]
    ['events.out.tfevents.hparams', 'trial-001']

    Args:
        log_dir: str or path. The search's TensorBoard folder (`RUN_DIR/tensorboard`).
        hyperparameters: keras_tuner.HyperParameters. The search space (the oracle's
            `hyperparameters`); its domains become the experiment's.
        objective_name: str. The objective's column in the trial frame.
        train_metrics: bool. Also declare the trials' `train()` scalars (last validation
            accuracy and loss, last loss) as metrics.
    """

    def __init__(
        self,
        log_dir: str | Path,
        hyperparameters,
        objective_name: str,
        *,
        train_metrics: bool = True,
    ):
        from tensorboard.plugins.hparams import api as hp

        from keras_recipes._compat import hparams_domains

        self.log_dir = Path(log_dir)
        self.objective_name = objective_name
        self.train_metrics = train_metrics
        domains = hparams_domains(hyperparameters)
        self.hparams = {h.name: h for h in domains}
        self.hparams[STATUS_HPARAM] = hp.HParam(STATUS_HPARAM, hp.Discrete(list(SESSION_STATUS)))
        self._written: set[int] = set()
        self._experiment_written = False
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for partial in self.log_dir.glob(f"*{_PARTIAL}"):  # left by a kill mid-write
            shutil.rmtree(partial, ignore_errors=True)

    def metrics(self) -> list:
        """The experiment's metrics: the objective, epochs run, seconds (+ train scalars)."""
        from tensorboard.plugins.hparams import api as hp

        metrics = [hp.Metric(self.objective_name, display_name=self.objective_name)]
        if self.train_metrics:
            metrics.append(hp.Metric("epochs_run", display_name="epochs run"))
            for group, tag, display in _TRAINING_METRICS:
                metrics.append(hp.Metric(tag, group=group, display_name=display))
        metrics.append(hp.Metric("seconds", display_name="seconds"))
        return metrics

    def update(self, frame: pd.DataFrame) -> list[int]:
        """Writes the sessions of the trials in `frame` (rows of `trials.csv`) not written
        yet; returns their numbers."""
        self._write_experiment()
        new = []
        for row in frame.to_dict("records"):
            trial = int(row["trial"])
            if trial in self._written:
                continue
            if not _has_events(self.log_dir / session_name(trial)):
                self._write_session(trial, row)
                new.append(trial)
            self._written.add(trial)
        return new

    def _write_experiment(self) -> None:
        # The chief calls update() every 0.2 s: look at the folder once.
        if self._experiment_written or _has_events(self.log_dir):
            self._experiment_written = True
            return
        from tensorboard.plugins.hparams import api as hp

        def write():
            hp.hparams_config(hparams=list(self.hparams.values()), metrics=self.metrics())

        _write_atomically(self.log_dir, "hparams", write)
        self._experiment_written = True

    def _write_session(self, trial: int, row: Mapping[str, Any]) -> None:
        import tensorflow as tf
        from tensorboard.plugins.hparams import api as hp
        from tensorboard.plugins.hparams import api_pb2
        from tensorboard.plugins.hparams import summary as hparams_summary

        status = str(row["status"])
        values = {name: _hparam_value(row.get(name)) for name in self.hparams}
        values[STATUS_HPARAM] = status
        values = {name: value for name, value in values.items() if value is not None}
        scalars = {k: row.get(k) for k in (self.objective_name, "epochs_run", "seconds")}

        def write():
            hp.hparams(
                {self.hparams[name]: value for name, value in values.items()},
                trial_id=session_name(trial),
            )
            for tag, value in scalars.items():
                if _finite(value):
                    tf.summary.scalar(tag, float(value), step=0)
            end = hparams_summary.session_end_pb(getattr(api_pb2, SESSION_STATUS[status]))
            tf.summary.experimental.write_raw_pb(end.SerializeToString(), step=0)

        _write_atomically(self.log_dir / session_name(trial), "session", write)


def read_sessions(log_dir: str | Path) -> pd.DataFrame:
    """The HParams sessions under `log_dir`, read back with TensorBoard's own reader.

    Example:

    >>> import tempfile, keras_tuner
    >>> space = keras_tuner.HyperParameters()
    >>> _ = space.Choice("activation", ["relu", "selu"])
    >>> log_dir = tempfile.mkdtemp()
    >>> frame = pd.DataFrame({"trial": [1], "activation": ["selu"], "acc": [float("nan")],
    ...                       "seconds": [0.0], "status": ["invalid"]})
    >>> _ = SearchHParams(log_dir, space, "acc", train_metrics=False).update(frame)
    >>> read_sessions(log_dir).to_dict("records")
    [{'run': 'trial-001', 'activation': 'selu', 'status': 'invalid', \
'session_status': 'STATUS_FAILURE', 'seconds': 0.0}]

    Returns:
        pandas.DataFrame, one row per session: `run`, its hyperparameters, `session_status`
        (the plugin's) and the last value of each scalar written beside them.
    """
    from tensorboard.backend.event_processing import event_multiplexer
    from tensorboard.plugins.hparams import api_pb2, metadata

    from keras_recipes.callbacks.tensorboard import read_scalars

    multiplexer = event_multiplexer.EventMultiplexer(purge_orphaned_data=False)
    multiplexer.AddRunsFromDirectory(str(log_dir))
    multiplexer.Reload()
    content = multiplexer.PluginRunToTagToContent(metadata.PLUGIN_NAME)
    scalars = read_scalars(log_dir)
    rows = []
    for run in sorted(content):
        tags = content[run]
        if metadata.SESSION_START_INFO_TAG not in tags:
            continue
        start = metadata.parse_session_start_info_plugin_data(tags[metadata.SESSION_START_INFO_TAG])
        row: dict[str, Any] = {"run": run}
        for name, value in sorted(start.hparams.items()):  # a proto map: no set order
            row[name] = getattr(value, value.WhichOneof("kind"))  # number, string or bool
        end = tags.get(metadata.SESSION_END_INFO_TAG)
        status = metadata.parse_session_end_info_plugin_data(end).status if end else 0
        row["session_status"] = api_pb2.Status.Name(status)
        mine = scalars[scalars.run == run]
        for tag in mine.tag.unique():
            row[tag] = mine[mine.tag == tag].value.iloc[-1]
        rows.append(row)
    return pd.DataFrame(rows)


def _write_atomically(folder: Path, name: str, write) -> None:
    """Runs `write()` under a writer into `folder/.NAME.partial`, then moves the event file
    into `folder` as `events.out.tfevents.NAME`: a kill leaves all of it or none."""
    import tensorflow as tf

    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{name}{_PARTIAL}"
    shutil.rmtree(partial, ignore_errors=True)
    writer = tf.summary.create_file_writer(str(partial))
    with writer.as_default():
        write()
    writer.close()
    (written,) = partial.glob(f"{_EVENT_PREFIX}*")
    os.replace(written, folder / f"{_EVENT_PREFIX}{name}")
    shutil.rmtree(partial, ignore_errors=True)


def _has_events(folder: Path) -> bool:
    return folder.is_dir() and any(p.name.startswith(_EVENT_PREFIX) for p in folder.iterdir())


def _hparam_value(value: Any) -> Any:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, str | bool):
        return value
    return float(value) if _finite(value) else None


def _finite(value: Any) -> bool:
    try:
        return value is not None and value is not pd.NA and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
