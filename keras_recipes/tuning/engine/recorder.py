"""`TrialRecorder`: the finished trials as a live table, `trials.csv` and `best.json`."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, TextIO

import keras_tuner
import numpy as np
import pandas as pd
from keras_tuner.engine.trial import TrialStatus

from keras_recipes import atomic
from keras_recipes.tuning.engine.failures import last_line
from keras_recipes.tuning.engine.outcome import STATUS_NAMES
from keras_recipes.tuning.engine.space import TrialSpace, param_value

#: Short headers of the live table (the CSV keeps the full names).
_HEADERS = {
    "log10_learning_rate": "log10 lr",
    "log10_weight_decay": "log10 wd",
    "learning_rate": "lr",
    "weight_decay": "wd",
    "best_val_accuracy": "best_val_acc",
    # keras-recipes tune's choices
    "normalization": "norm",
    "dropout_kind": "dropout",
    "one_minus_momentum": "1-momentum",
}


def trial_number(trial_id: str) -> int:
    """keras-tuner's zero-padded trial id ("07") -> 1-based trial number (8)."""
    return int(trial_id) + 1


@keras_tuner.synchronized
def _finished_trials(oracle) -> list:
    # Taken under the oracle's lock: on a chief, the gRPC thread ends trials meanwhile.
    seen = dict.fromkeys(oracle.end_order)
    return [oracle.trials[trial_id] for trial_id in seen]


class TrialRecorder:
    """Turns an oracle's finished trials into rows, prints new ones and writes the files.

    Columns: `trial`, the space's parameters, the values used (`10**x` for `log10_` names),
    (with `brackets`) `budget` (the trial's epochs, Hyperband's `tuner/epochs`) and
    `bracket` (keras-tuner's bracket number), the objective, `best_epoch`, `epochs_run`,
    `seconds`, `status` ("completed", "early_stopped", "diverged", "invalid" (rejected
    before training: no score) or "failed").

    Example:

    >>> from keras_recipes.tuning.bo.space import TRAIN_BOUNDS, SearchSpace
    >>> recorder = TrialRecorder(SearchSpace.from_mapping(TRAIN_BOUNDS), "best_val_accuracy")
    >>> recorder.columns
    ['trial', 'log10_learning_rate', 'log10_weight_decay', 'learning_rate', 'weight_decay', \
'best_val_accuracy', 'best_epoch', 'epochs_run', 'seconds', 'status']

    Args:
        space: TrialSpace. The tuned parameters (`SearchSpace`, `RecipeSpace`).
        objective_name: str. The objective's column.
        run_dir: path or None. Where `trials.csv` and `best.json` go.
        stream: text stream for the live table (e.g. sys.stdout); None prints nothing.
        epochs: bool. Include `best_epoch` and `epochs_run` (objectives that train).
        brackets: bool. Include `budget` and `bracket` (hyperband, bohb).
    """

    def __init__(
        self,
        space: TrialSpace,
        objective_name: str,
        run_dir: str | Path | None = None,
        stream: TextIO | None = None,
        epochs: bool = True,
        brackets: bool = False,
    ):
        self.space = space
        self.objective_name = objective_name
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.stream = stream
        self.columns = [
            "trial",
            *space.names,
            *[v for v, n in zip(space.value_names, space.names, strict=True) if v != n],
            *(["budget", "bracket"] if brackets else []),
            objective_name,
            *(["best_epoch", "epochs_run"] if epochs else []),
            "seconds",
            "status",
        ]
        self._printed: set[str] = set()
        self._header_printed = False
        self._written = False
        self.messages: dict[int, str] = {}

    # -- rows ------------------------------------------------------------------------------

    def row(self, trial) -> dict[str, Any]:
        """One finished keras-tuner Trial as a row."""
        values = trial.hyperparameters.values
        params = {name: param_value(values[name]) for name in self.space.names}
        row: dict[str, Any] = {"trial": trial_number(trial.trial_id), **params}
        row.update(
            {k: v for k, v in self.space.values(params).items() if k not in self.space.names}
        )
        if "budget" in self.columns:
            row["budget"], row["bracket"] = values.get("tuner/epochs"), values.get("tuner/bracket")
        completed = trial.status == TrialStatus.COMPLETED
        row[self.objective_name] = float(trial.score) if completed else math.nan
        row["best_epoch"] = _int_metric(trial, "best_epoch")
        row["epochs_run"] = _int_metric(trial, "epochs_run")
        row["seconds"] = _metric(trial, "seconds")
        if completed:
            code = _metric(trial, "status_code")
            row["status"] = (
                STATUS_NAMES.get(int(code), "completed") if code is not None else "completed"
            )
        else:
            row["status"] = "failed"
            if trial.message:
                self.messages[row["trial"]] = trial.message
        if row["status"] == "invalid":
            row[self.objective_name] = math.nan  # never trained: its worst score was for the oracle
        return row

    def frame(self, trials) -> pd.DataFrame:
        """Rows of `trials`, sorted by trial number, as a DataFrame with `self.columns`."""
        rows = [self.row(t) for t in trials]
        frame = pd.DataFrame(rows, columns=self.columns)
        if len(frame):
            frame = frame.sort_values("trial", kind="stable").reset_index(drop=True)
        for column in ("trial", "best_epoch", "epochs_run", "budget", "bracket"):
            if column in frame:
                frame[column] = frame[column].astype("Int64")
        return frame

    # -- live table and files --------------------------------------------------------------

    def update(self, oracle) -> pd.DataFrame:
        """Prints the trials that ended since the last call and rewrites the files if any did
        (a chief calls this every 0.2 s)."""
        trials = _finished_trials(oracle)
        frame = self.frame(trials)
        new = [t for t in trials if t.trial_id not in self._printed]
        if new:
            self.print_rows(frame[frame["trial"].isin([trial_number(t.trial_id) for t in new])])
            self._printed.update(t.trial_id for t in new)
        if self.run_dir is not None and (new or not self._written):
            self.write(frame)
            self._written = True
        return frame

    def print_header(self) -> None:
        if self.stream is None or self._header_printed:
            return
        self._header_printed = True
        print(" ".join(_cell(_HEADERS.get(c, c), c) for c in self.columns), file=self.stream)
        self.stream.flush()

    def print_rows(self, frame: pd.DataFrame) -> None:
        if self.stream is None:
            return
        self.print_header()
        for row in frame.to_dict("records"):
            line = " ".join(_cell(_format(c, row[c]), c) for c in self.columns)
            if row["status"] in ("failed", "invalid") and row["trial"] in self.messages:
                line += f"  {last_line(self.messages[row['trial']])}"
            print(line, file=self.stream)
        self.stream.flush()

    def write(self, frame: pd.DataFrame) -> None:
        """`trials.csv` and `best.json` (written whole each time, so a kill leaves both)."""
        atomic.write_csv(self.run_dir / "trials.csv", frame, index=False)
        best = best_trial(frame, self.objective_name)
        if best is not None:
            atomic.write_json(self.run_dir / "best.json", best, indent=2)


def best_trial(frame: pd.DataFrame, objective_name: str) -> dict[str, Any] | None:
    """The row with the highest objective among trials that did not fail or diverge."""
    ok = frame[frame["status"].isin(["completed", "early_stopped"])]
    ok = ok[np.isfinite(ok[objective_name].astype(float))]
    if not len(ok):
        return None
    row = ok.loc[ok[objective_name].astype(float).idxmax()].to_dict()
    out: dict[str, Any] = {}
    for key, value in row.items():
        if value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            out[key] = None
        elif isinstance(value, np.integer | int) and not isinstance(value, bool):
            out[key] = int(value)
        elif isinstance(value, np.floating | float):
            out[key] = float(value)
        else:
            out[key] = value
    out["trials_finished"] = len(frame)
    return out


def _metric(trial, name: str) -> float | None:
    if not trial.metrics.exists(name):
        return None
    value = trial.metrics.get_last_value(name)
    return None if value is None else float(value)


def _int_metric(trial, name: str) -> int | None:
    value = _metric(trial, name)
    # 0 stands for "none" (keras-tuner metrics are numbers only): epochs are 1-based.
    return int(value) if value else None


def _width(column: str) -> int:
    return max(len(_HEADERS.get(column, column)), 10 if column != "status" else 13)


def _cell(text: str, column: str) -> str:
    width = _width(column) if column != "trial" else 5
    return text.ljust(width) if column == "status" else text.rjust(width)


def _format(column: str, value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if column in ("trial", "best_epoch", "epochs_run", "budget", "bracket"):
        return str(int(value))
    if column == "seconds":
        return f"{value:.1f}"
    if column == "status" or isinstance(value, str):
        return str(value)
    if column in ("learning_rate", "weight_decay"):
        return f"{value:.3e}"
    return f"{value:.4f}"
