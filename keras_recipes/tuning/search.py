"""`run_search`: one tuning run, from settings to run directory (the CLI is a thin layer on it).

Run directory:

    tuning.json        the settings (checked when resuming)
    trials.csv         one row per finished trial (rewritten after each)
    best.json          the best trial so far
    convergence.png    best-so-far against trial number (+ comparable runs beside it)
    gp_posterior.png   2-D: GP mean, GP std, acquisition (toy: toy.png); --animate: .gif
    final/             --final-train: the best point retrained, with 10-crop TTA
    trials/<n>/        each trial's train() run (history.csv, summary.json; no model;
                       pruned.json when --prune stopped it)
    tensorboard/       every trial in TensorBoard's HParams dashboard, and each trial's
                       curves as its sub-run trial-<n>/ (`tuning.hparams`)
    keras_tuner/       keras-tuner's project: oracle.json, trial_*/trial.json (resume)
    fidelity.json      hyperband, bohb: after each bracket, the Kendall tau of each lower
                       budget's scores with the top budget's (`fidelity_check`)
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

from keras_recipes import _compat, atomic
from keras_recipes.errors import ConfigError
from keras_recipes.recipes import Recipe
from keras_recipes.training import check_run_dir, prepare_run_dir
from keras_recipes.tuning import distributed
from keras_recipes.tuning.config import CONFIG_NAME, TuningConfig, check_same_identity
from keras_recipes.tuning.errors import TrialsFailedError, last_line
from keras_recipes.tuning.faults import check_trial_timeout
from keras_recipes.tuning.fidelity_check import FidelityCheck
from keras_recipes.tuning.hparams import LOG_DIR_NAME, SearchHParams
from keras_recipes.tuning.oracles import build_oracle
from keras_recipes.tuning.outcome import STATUS_NAMES
from keras_recipes.tuning.recorder import TrialRecorder, best_trial, trial_number
from keras_recipes.tuning.space import param_value
from keras_recipes.tuning.toy import ToyObjective, toy_function
from keras_recipes.tuning.tuner import ObjectiveTuner

PROJECT_NAME = "keras_tuner"
#: Searches whose trials run on several budgets (trials.csv: `budget`, `bracket`).
MULTI_FIDELITY = ("hyperband", "bohb")
#: Searches whose points come from a GP (the posterior plot marks its next point).
GP_SEARCHES = ("bo", "bohb")


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


def run_search(
    config: TuningConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    objective: Callable[..., Any] | None = None,
    toy_delay: float = 0.0,
    trial_timeout: float | None = None,
    animate: bool = False,
    final_recipe: Recipe | None = None,
    compare_with: Sequence[str | Path] = (),
    verbose: bool = True,
) -> SearchResult:
    """Runs (or resumes) a search and writes the run directory.

    In keras-tuner's distributed mode (`KERASTUNER_TUNER_ID`, `KERASTUNER_ORACLE_IP`,
    `KERASTUNER_ORACLE_PORT`), the chief serves the oracle and writes the run directory;
    a worker only runs trials.

    Example:

    >>> import tempfile
    >>> from keras_recipes.tuning.space import SearchSpace
    >>> config = TuningConfig(SearchSpace.from_mapping({"x": (-2, 6)}), objective="toy",
    ...                       init_points=2, n_iter=3)
    >>> result = run_search(config, tempfile.mkdtemp() + "/run", verbose=False)
    >>> result.frame["trial"].tolist(), result.best["trial"]
    ([1, 2, 3, 4, 5], 5)

    Args:
        config: TuningConfig. The settings.
        run_dir: path. The run directory (created; must not hold another run unless
            `resume`).
        resume: bool. Continue the run in `run_dir` up to `config.budget` trials: finished
            trials are kept, a trial cut off mid-way runs again.
        objective: callable or None. Replaces the config's objective (tests, notebooks):
            `objective(params, epochs=None, trial_dir=None) -> TrialOutcome | float`.
        toy_delay: float. Seconds each toy evaluation sleeps (to test killing a run).
        trial_timeout: float or None. Chief only: a worker that has not asked for a trial
            for this many seconds is presumed dead and its trial goes to another worker
            (`faults.WorkerWatch`); None (default): the chief waits for it for ever.
        animate: bool. Also write the posterior as a GIF over the trials.
        final_recipe: Recipe or None. Retrain the best point with this recipe (its epochs)
            and 10-crop TTA into `run_dir/final` (train objective only).
        compare_with: run directories to overlay on `convergence.png` (comparable runs in
            sibling directories are found on their own).
        verbose: bool. Print the plan, the live trial table and the best trial (stdout).

    Returns:
        SearchResult.

    Raises:
        ConfigError: bad settings, a run directory that holds another run, or a resume
            that asks for another search space or objective.
        TrialsFailedError: every trial failed (or the search stopped on repeated failures).
    """
    role = distributed.prepare_environment()
    trial_timeout = check_trial_timeout(trial_timeout)
    for path in map(Path, compare_with):  # checked now, not after hours of trials
        try:
            TuningConfig.load(path)
        except ConfigError as err:
            raise ConfigError(f"--compare-with {path}: {err}") from None
    stream = sys.stdout if verbose else None
    run_dir = Path(run_dir)
    if role != "worker":
        _check_run_dir(config, run_dir, resume)
    oracle, plan = build_oracle(  # checks the budget (a grid's points) before any data
        config.search,
        config.space,
        keras_tuner.Objective(config.objective_name, "max"),
        init_points=config.init_points,
        n_iter=config.n_iter,
        seed=config.seed,
        acquisition=config.acquisition,
        xi=config.xi,
        kappa=config.kappa,
        max_epochs=config.epochs if config.objective == "train" else 3,
    )
    objective_fn = objective or _objective(config, toy_delay)
    if objective is None and role != "chief":
        load_data_first(objective_fn)
    prepare_run_dir(run_dir)
    if role != "worker":
        config.save(run_dir)
    recorder = TrialRecorder(
        config.space,
        config.objective_name,
        run_dir if role != "worker" else None,
        stream,
        epochs=config.objective == "train",
        brackets=config.search in MULTI_FIDELITY,
    )
    result = drive_search(
        oracle,
        objective_fn,
        recorder,
        run_dir,
        role=role,
        resume=resume,
        param_names=config.space.names,
        objective_name=config.objective_name,
        plan=f"{plan}; objective {config.objective_name}{_describe_objective(config)}",
        trial_root=run_dir / "trials" if config.objective == "train" else None,
        diverged_score=config.diverged_score,
        trial_timeout=trial_timeout,
        stream=stream,
    )
    if role == "worker":
        return result
    frame = result.frame
    result.best = best_trial(frame, config.objective_name)
    result.plots = _write_plots(config, run_dir, frame, animate, compare_with)
    _say(stream, _best_line(config, result.best, len(frame), run_dir))
    if final_recipe is not None and result.best is not None:
        result.final = _final_train(config, objective_fn, final_recipe, result.best, run_dir)
        _say(stream, _final_line(result.final, run_dir / "final"))
    return result


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
        role: str. "single", "chief" or "worker" (`distributed.prepare_environment()`).
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
    tuner_file = project / f"{os.environ.get(distributed.ENV_ID, 'tuner0')}.json"
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

    _say(stream, plan)
    if role == "chief":
        address = f"{os.environ[distributed.ENV_IP]}:{os.environ[distributed.ENV_PORT]}"
        _say(stream, f"chief: serving the oracle on {address} (unauthenticated gRPC)")
    elif role == "worker":
        _say(stream, f"worker {tuner.tuner_id}: taking trials from the chief")
    if role == "worker":
        tuner.trial_end_callback = _worker_printer(stream, param_names, objective_name)
        return _run_worker(tuner, param_names, objective_name)

    recorder.print_header()
    record = _with_hparams(recorder, oracle, run_dir, objective_name, trial_root is not None)
    done = record(oracle)
    if len(done):
        _say(stream, f"(resumed: {len(done)} finished trials above are kept)")
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


# -- run directory ---------------------------------------------------------------------------


def _check_run_dir(config: TuningConfig, run_dir: Path, resume: bool) -> None:
    # Read-only: the run directory is made once the data are known good too.
    if resume:
        saved = TuningConfig.load(run_dir)
        check_same_identity(saved, config, run_dir)
    elif (run_dir / CONFIG_NAME).exists():
        raise ConfigError(
            f"{run_dir} already holds a tuning run; continue it with --resume {run_dir}, "
            "or choose another --out."
        )
    check_run_dir(run_dir)


def load_data_first(objective: Any) -> None:
    """Loads a training objective's data now, before the run directory is made.

    The trials need them anyway; loaded first, a missing or empty data source is a clear
    error that leaves no run directory behind, not a failure of every trial. A chief, which
    trains nothing, leaves them to its workers.
    """
    from keras_recipes.tuning.objective import TrainObjective

    if isinstance(objective, TrainObjective):
        objective.bundle()


# -- objectives -------------------------------------------------------------------------------


def _objective(config: TuningConfig, toy_delay: float):
    if config.objective == "toy":
        return ToyObjective(delay=toy_delay)
    from keras_recipes.tuning.objective import TrainObjective

    return TrainObjective(
        config.recipe,
        config.data or "demo",
        image_size=config.image_size,
        width=config.width,
        seed=config.seed,
        prune=config.prune,
        prune_warmup_epochs=config.prune_warmup_epochs,
        prune_startup_trials=config.prune_startup_trials,
    )


def _describe_objective(config: TuningConfig) -> str:
    if config.objective == "toy":
        return " (toy f(x) of the original post; max f(0.631) = 1.707)"
    pruning = ""
    if config.prune != "none":
        warmup, startup = config.prune_warmup_epochs, config.prune_startup_trials
        pruning = (
            f"; pruning: {config.prune} rule after {warmup} warm-up epoch{_s(warmup)}, once "
            f"{startup} trial{'s have' if startup != 1 else ' has'} finished"
        )
    return (
        f" (recipe {config.recipe.name}, {config.epochs} epochs per trial, data "
        f"{config.data or 'demo'}, {config.image_size} px, width {config.width:g}{pruning})"
    )


def _s(count: int) -> str:
    return "" if count == 1 else "s"


# -- workers -------------------------------------------------------------------------------


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
        _say(
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


# -- after the search -------------------------------------------------------------------------


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


def comparable_runs(
    config: TuningConfig, run_dir: Path, extra: Sequence[str | Path] = ()
) -> list[tuple[str, pd.DataFrame]]:
    """Runs to overlay on the convergence plot: `extra`, plus the newest sibling directory
    of each other search kind whose objective and space match this run's."""
    found: dict[Path, tuple[str, pd.DataFrame]] = {}
    for path in map(Path, extra):
        try:
            other = TuningConfig.load(path)
        except ConfigError as err:
            raise ConfigError(f"--compare-with {path}: {err}") from None
        if (path / "trials.csv").is_file():
            found[path.resolve()] = (f"{other.search} ({path.name})", _read_trials(path))
    newest: dict[str, tuple[float, Path, TuningConfig]] = {}
    parent = run_dir.resolve().parent
    for sibling in sorted(parent.iterdir()) if parent.is_dir() else []:
        csv = sibling / "trials.csv"
        if sibling.resolve() == run_dir.resolve() or not csv.is_file():
            continue
        try:
            other = TuningConfig.load(sibling)
        except ConfigError:
            continue
        if other.search == config.search or other.comparable() != config.comparable():
            continue
        mtime = csv.stat().st_mtime
        if other.search not in newest or mtime > newest[other.search][0]:
            newest[other.search] = (mtime, sibling, other)
    for _, sibling, other in newest.values():
        found.setdefault(
            sibling.resolve(), (f"{other.search} ({sibling.name})", _read_trials(sibling))
        )
    return list(found.values())


def _read_trials(run_dir: Path) -> pd.DataFrame:
    return pd.read_csv(run_dir / "trials.csv")


def _write_plots(config, run_dir, frame, animate, compare_with) -> list[Path]:
    from keras_recipes.tuning import plots
    from keras_recipes.tuning.bohb import plot_budget

    written: list[Path] = []
    if not len(frame):
        return written
    runs = [(f"{config.search} (this run)", frame), *comparable_runs(config, run_dir, compare_with)]
    written.append(plots.plot_convergence(runs, config.objective_name, run_dir / "convergence.png"))
    settings = {
        "acquisition": config.acquisition,
        "xi": config.xi,
        "kappa": config.kappa,
        "seed": config.seed,
        "truth": toy_function if config.objective == "toy" else None,
        # Only a GP search has a "next point"; a multi-fidelity run's GP is fitted on one
        # budget (bohb's rule), named in the title.
        "next_point": config.search in GP_SEARCHES,
        "budget": plot_budget(frame, len(config.space.names)) if "budget" in frame else None,
    }
    stem = "toy" if config.objective == "toy" else "gp_posterior"
    path = plots.plot_posterior(
        frame, config.space, config.objective_name, run_dir / f"{stem}.png", **settings
    )
    if path is not None:
        written.append(path)
    if animate:
        gif = plots.animate_posterior(
            frame,
            config.space,
            config.objective_name,
            run_dir / f"{stem}.gif",
            start=min(config.init_points, len(frame)),
            **settings,
        )
        if gif is not None:
            written.append(gif)
    return written


def _best_line(config: TuningConfig, best: dict | None, finished: int, run_dir: Path) -> str:
    if best is None:
        return f"no trial produced a score ({finished} finished); run_dir={run_dir}"
    parts = [f"best trial {best['trial']} of {finished}:"]
    parts += [f"{name}={best[name]:.4f}" for name in config.space.names]
    parts += [
        f"{name}={best[name]:.4g}"
        for name in config.space.value_names
        if name not in config.space.names
    ]
    parts.append(f"{config.objective_name}={best[config.objective_name]:.4f}")
    if best.get("best_epoch"):
        parts.append(f"best_epoch={best['best_epoch']}")
    parts.append(f"run_dir={run_dir}")
    return " ".join(parts)


def _final_train(config, objective_fn, final_recipe, best, run_dir) -> dict[str, Any]:
    from keras_recipes.training import train
    from keras_recipes.tuning.objective import TrainObjective

    params = {name: best[name] for name in config.space.names}
    trainer = objective_fn if isinstance(objective_fn, TrainObjective) else _objective(config, 0)
    recipe = TrainObjective(final_recipe).recipe_for(params)
    result = train(
        recipe,
        trainer.bundle(),
        image_size=config.image_size,
        width=config.width,
        seed=config.seed,
        run_dir=run_dir / "final",
        tta=True,
        verbose=2,
    )
    summary = {
        key: result.summary.get(key)
        for key in (
            "best_val_accuracy",
            "best_epoch",
            "epochs_run",
            "status",
            "test_accuracy",
            "test_accuracy_tta",
        )
    }
    summary.update({name: params[name] for name in config.space.names})
    summary["learning_rate"] = recipe.optimizer.learning_rate
    summary["weight_decay"] = recipe.regularization.weight_decay
    summary["epochs"] = recipe.training.epochs
    atomic.write_json(run_dir / "final.json", summary, indent=2, default=str)
    return summary


def _final_line(final: dict[str, Any], final_dir: Path) -> str:
    parts = [f"final ({final['epochs']} epochs):"]
    for key in ("best_val_accuracy", "test_accuracy", "test_accuracy_tta"):
        if final.get(key) is not None:
            parts.append(f"{key}={final[key]:.4f}")
    parts.append(f"status={final['status']} run_dir={final_dir}")
    return " ".join(parts)


def _say(stream: TextIO | None, text: str) -> None:
    if stream is not None:
        print(text, file=stream, flush=True)
