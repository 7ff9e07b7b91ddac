"""`drive_search`: runs an oracle's trials with an objective on keras-tuner's engine, from a
claimed run folder. `train-with-bo` and `keras-recipes tune` both go through here.

As a single process or a chief it prints the plan and a live table, saves every finished
trial (`TrialRecorder`, TensorBoard's HParams) and turns failed trials into a clear
error; as a worker it only runs the chief's trials.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import keras_tuner
import pandas as pd

from keras_recipes import _compat
from keras_recipes.tuning.engine import cluster
from keras_recipes.tuning.engine.failures import TrialsFailedError, last_line
from keras_recipes.tuning.engine.fidelity_check import FidelityCheck
from keras_recipes.tuning.engine.hparams import LOG_DIR_NAME, SearchHParams
from keras_recipes.tuning.engine.outcome import STATUS_NAMES
from keras_recipes.tuning.engine.recorder import TrialRecorder, trial_number
from keras_recipes.tuning.engine.space import param_value
from keras_recipes.tuning.engine.tuner import ObjectiveTuner

PROJECT_NAME = "keras_tuner"


@dataclass
class SearchResult:
    """What `run_search` returns.

    Attributes:
        run_dir: Path. The run directory.
        role: str. "single", "chief" or "worker".
        frame: pandas.DataFrame. The rows of `trials.csv` (a worker: the trials it ran).
        best: dict or None. The best trial (what `best.json` holds).
        final: dict or None. `--final-train`'s summary (test accuracy, with TTA).
        plots: list of Path. The figures written.
    """

    run_dir: Path
    role: str
    frame: pd.DataFrame
    best: dict[str, Any] | None = None
    final: dict[str, Any] | None = None
    plots: list[Path] = field(default_factory=list)


def drive_search(
    oracle: keras_tuner.Oracle,
    objective_fn: Callable[..., Any],
    recorder: TrialRecorder,
    run_dir: Path,
    *,
    role: str,
    resume: bool,
    param_names: Sequence[str],
    objective_name: str,
    plan: str,
    trial_root: Path | None = None,
    diverged_score: float = 0.0,
    trial_timeout: float | None = None,
    stream: TextIO | None = None,
) -> SearchResult:
    """Runs `oracle`'s trials with `objective_fn` on keras-tuner's engine, from a claimed
    run directory; `train-with-bo` and `keras-recipes tune` both go through here.

    Builds the `ObjectiveTuner` (reloading keras-tuner's project when resuming), prints
    `plan`, then as a single process or chief runs the search, printing and saving each
    trial through `recorder`; a worker only runs the chief's trials.

    Args:
        oracle: keras_tuner.Oracle. Chooses the points.
        objective_fn: callable. `objective(params, epochs=None, trial_dir=None)`.
        recorder: TrialRecorder. Prints the live table, writes `trials.csv` / `best.json`.
        run_dir: Path. The (claimed) run directory; keras-tuner's project goes inside.
        role: str. "single", "chief" or "worker" (`cluster.prepare_environment()`).
        resume: bool. Reload keras-tuner's project in `run_dir` and continue it.
        param_names: the parameters passed to the objective.
        objective_name: str. The objective's metric.
        plan: str. The first line printed: what the search will do.
        trial_root: Path or None. Each trial's `trial_dir` goes under it.
        diverged_score: float. Score recorded for diverged and invalid trials.
        trial_timeout: float or None. Chief only (see `run_search`).
        stream: text stream or None. Where the plan and the live table go.

    Returns:
        SearchResult with the finished trials (`best` and `plots` are left to the caller).

    Raises:
        TrialsFailedError: every trial failed (or the search stopped on repeated failures).
    """
    project = run_dir / PROJECT_NAME
    reload = resume and role != "worker" and (project / "oracle.json").is_file()
    # keras-tuner reloads the oracle only when it finds this tuner id's own file.
    tuner_file = project / f"{os.environ.get(cluster.ENV_ID, 'tuner0')}.json"
    reloads_itself = tuner_file.is_file()
    tuner = ObjectiveTuner(
        oracle,
        objective_fn,
        param_names,
        directory=run_dir,
        project_name=PROJECT_NAME,
        trial_root=trial_root,
        diverged_score=diverged_score,
        # A worker must never wipe the project: on one machine it shares the chief's.
        overwrite=not reload and role != "worker",
        trial_timeout=trial_timeout,
    )
    if reload and not reloads_itself:
        tuner.oracle.reload()
    if reload:
        _drop_finished_retries(tuner.oracle)
    if role != "worker":
        # oracle.json from the start, so a run killed in its first trial can be resumed.
        tuner.save()

    say(stream, plan)
    if role == "chief":
        address = f"{os.environ[cluster.ENV_IP]}:{os.environ[cluster.ENV_PORT]}"
        say(stream, f"chief: serving the oracle on {address} (unauthenticated gRPC)")
    elif role == "worker":
        say(stream, f"worker {tuner.tuner_id}: taking trials from the chief")
    if role == "worker":
        tuner.trial_end_callback = _worker_printer(stream, param_names, objective_name)
        return _run_worker(tuner, param_names, objective_name)

    recorder.print_header()
    record = _with_hparams(recorder, oracle, run_dir, objective_name, trial_root is not None)
    done = record(oracle)
    if len(done):
        say(stream, f"(resumed: {len(done)} finished trials above are kept)")
    tuner.trial_end_callback = lambda t, _trial: record(t.oracle)
    tuner.poll_callback = lambda: record(oracle)
    stopped: RuntimeError | None = None
    try:
        tuner.search()
    except RuntimeError as err:
        # keras-tuner stops a search after 3 consecutive failed trials by raising this.
        if not str(err).startswith("Number of consecutive failures"):
            raise
        stopped = err
    frame = record(oracle)
    _check_failures(frame, recorder, stopped)
    return SearchResult(run_dir=run_dir, role=role, frame=frame)


def _with_hparams(recorder: TrialRecorder, oracle, run_dir: Path, objective_name: str, trains):
    # Each finished trial also becomes a session of TensorBoard's HParams dashboard.
    hparams = SearchHParams(
        run_dir / LOG_DIR_NAME, oracle.hyperparameters, objective_name, train_metrics=trains
    )
    # Hyperband and bohb: after each bracket, do low budgets rank points as the top one does?
    fidelity = FidelityCheck.for_oracle(oracle, recorder)

    def record(current) -> pd.DataFrame:
        frame = recorder.update(current)
        hparams.update(frame)
        if fidelity is not None:
            fidelity.update(frame)
        return frame

    return record


def _drop_finished_retries(oracle) -> None:
    # keras-tuner's end_trial saves oracle.json before it drops the trial from the ongoing
    # ones (the tuner saves again right after). A kill between the two saves leaves a
    # finished trial "ongoing", and reload() would queue it to run again. Only INVALID
    # trials are retried legitimately, and those never enter end_order.
    finished = set(oracle.end_order)
    queue = _compat.retry_queue(oracle)
    queue[:] = [t for t in queue if t not in finished]


def load_data_first(objective: Any) -> None:
    """Loads a training objective's data now, before the run directory is made.

    The trials need them anyway; loaded first, a missing or empty data source is a clear
    error that leaves no run directory behind, not a failure of every trial. A chief, which
    trains nothing, leaves them to its workers.
    """
    from keras_recipes.tuning.engine.objective import TrainingObjective

    if isinstance(objective, TrainingObjective):
        objective.bundle()


def _worker_printer(stream, names: Sequence[str], objective_name: str):
    def report(tuner: ObjectiveTuner, trial) -> None:
        metrics = tuner.results.get(trial.trial_id)
        params = " ".join(f"{n}={_param_text(trial.hyperparameters.values[n])}" for n in names)
        if metrics is None or trial.status != "COMPLETED":
            detail = f"failed: {last_line(trial.message or '')}"
        else:
            detail = f"{objective_name}={metrics[objective_name]:.4f}"
            status = STATUS_NAMES.get(int(metrics.get("status_code", 0)), "completed")
            if status != "completed":
                detail += f" {status} after {int(metrics.get('epochs_run', 0))} epochs"
        say(
            stream,
            f"worker {tuner.tuner_id}: trial {trial_number(trial.trial_id)} {params} {detail}",
        )

    return report


def _param_text(value: Any) -> str:
    value = param_value(value)
    return value if isinstance(value, str) else f"{value:.4f}"


def _run_worker(tuner: ObjectiveTuner, names: Sequence[str], objective_name: str) -> SearchResult:
    failed: dict[int, str] = {}
    ran: list[dict[str, Any]] = []
    printer = tuner.trial_end_callback

    def collect(t: ObjectiveTuner, trial) -> None:
        printer(t, trial)
        row = {"trial": trial_number(trial.trial_id), "status": trial.status}
        row.update({n: param_value(trial.hyperparameters.values[n]) for n in names})
        metrics = t.results.get(trial.trial_id, {})
        row[objective_name] = metrics.get(objective_name, math.nan)
        ran.append(row)
        if trial.status != "COMPLETED":
            failed[row["trial"]] = trial.message or ""

    tuner.trial_end_callback = collect
    tuner.search()
    if ran and len(failed) == len(ran):
        raise TrialsFailedError(failed, total=len(ran))
    return SearchResult(run_dir=Path(tuner.directory), role="worker", frame=pd.DataFrame(ran))


def _check_failures(frame: pd.DataFrame, recorder: TrialRecorder, stopped: Exception | None):
    failed = frame[frame["status"] == "failed"]
    messages = {int(n): recorder.messages.get(int(n), "") for n in failed["trial"]}
    if stopped is not None:
        if not len(failed):
            raise stopped
        raise TrialsFailedError(
            messages,
            total=len(frame),
            headline=(
                f"the search stopped: {str(stopped).splitlines()[0]} "
                f"({len(failed)} of {len(frame)} finished trials failed). Causes:"
            ),
        )
    if len(frame) and len(failed) == len(frame):
        raise TrialsFailedError(messages, total=len(frame))
    if len(failed):
        first = next(iter(messages.values()), "")
        print(
            f"warning: {len(failed)} of {len(frame)} trials failed (first: {last_line(first)})",
            file=sys.stderr,
        )


def say(stream: TextIO | None, text: str) -> None:
    if stream is not None:
        print(text, file=stream, flush=True)
