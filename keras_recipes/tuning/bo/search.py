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
                       budget's scores with the top budget's (`engine.fidelity_check`)
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras_tuner
import pandas as pd

from keras_recipes import atomic
from keras_recipes.errors import ConfigError
from keras_recipes.recipes import Recipe
from keras_recipes.training.run_dir import prepare_run_dir
from keras_recipes.tuning.bo.config import TuningConfig
from keras_recipes.tuning.bo.objective import TrainObjective
from keras_recipes.tuning.bo.searches import build_oracle
from keras_recipes.tuning.bo.toy import ToyObjective, toy_function
from keras_recipes.tuning.engine import cluster
from keras_recipes.tuning.engine.driver import SearchResult, drive_search, load_data_first, say
from keras_recipes.tuning.engine.faults import check_trial_timeout
from keras_recipes.tuning.engine.recorder import TrialRecorder, best_trial
from keras_recipes.tuning.engine.run_folder import claim_run_dir

#: Searches whose trials run on several budgets (trials.csv: `budget`, `bracket`).
MULTI_FIDELITY = ("hyperband", "bohb")
#: Searches whose points come from a GP (the posterior plot marks its next point).
GP_SEARCHES = ("bo", "bohb")


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
    >>> from keras_recipes.tuning.bo.space import SearchSpace
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
    role = cluster.prepare_environment()
    trial_timeout = check_trial_timeout(trial_timeout)
    for path in map(Path, compare_with):  # checked now, not after hours of trials
        try:
            TuningConfig.load(path)
        except ConfigError as err:
            raise ConfigError(f"--compare-with {path}: {err}") from None
    stream = sys.stdout if verbose else None
    run_dir = Path(run_dir)
    if role != "worker":
        claim_run_dir(config, run_dir, resume)
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
        max_epochs=config.max_epochs,
        min_epochs=config.min_epochs,
        hyperband_iterations=config.hyperband_iterations,
        # The toy has no runs to continue; "compressed" starts every rung again.
        continued=config.objective == "train" and config.rung_schedule == "final",
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
    say(stream, _best_line(config, result.best, len(frame), run_dir))
    if final_recipe is not None and result.best is not None:
        result.final = _final_train(config, objective_fn, final_recipe, result.best, run_dir)
        say(stream, _final_line(result.final, run_dir / "final"))
    return result


# -- objectives -------------------------------------------------------------------------------


def _objective(config: TuningConfig, toy_delay: float):
    if config.objective == "toy":
        return ToyObjective(delay=toy_delay)
    return TrainObjective(
        config.setup,
        prune=config.prune,
        prune_warmup_epochs=config.prune_warmup_epochs,
        prune_startup_trials=config.prune_startup_trials,
        rung_schedule=config.rung_schedule,
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
    return f" (each trial: {config.setup.describe()}{pruning})"


def _s(count: int) -> str:
    return "" if count == 1 else "s"


# -- after the search -------------------------------------------------------------------------


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
    from keras_recipes.tuning.bo import plots
    from keras_recipes.tuning.bo.bohb import plot_budget

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
    from keras_recipes.training.fit import train
    from keras_recipes.training.result import HEADLINE_KEYS

    params = {name: best[name] for name in config.space.names}
    trainer = objective_fn if isinstance(objective_fn, TrainObjective) else _objective(config, 0)
    recipe = TrainObjective(final_recipe).recipe_for(params)
    settings = {**config.setup.train_kwargs(), "recipe": recipe, "data": trainer.bundle()}
    result = train(
        **settings,
        run_dir=run_dir / "final",
        tta=True,
        verbose=2,
    )
    summary = {key: result.summary.get(key) for key in HEADLINE_KEYS}
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
