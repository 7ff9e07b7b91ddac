"""`train-with-bo` (also `python -m keras_recipes.tuning`): tune log10 learning rate and log10
weight decay of a recipe with Bayesian optimisation (bayes_opt: GP + Expected Improvement),
or with keras-tuner's random / grid / Hyperband search over the same space.

Distributed mode is keras-tuner's: start one process with `KERASTUNER_TUNER_ID=chief` and
workers with other ids (tuner0, tuner1, ...), all with `KERASTUNER_ORACLE_PORT=<port>`
(and `KERASTUNER_ORACLE_IP`, default 127.0.0.1). The oracle service is unauthenticated
gRPC: keep it on a loopback address or a private network you trust.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from keras_recipes.cli.arguments import (
    DEMO_EPOCHS,
    Resumed,
    add_train_arguments,
    command_parser,
    guarded,
    pick,
    resolve_recipe,
    setup_from_args,
    train_flags_given,
)
from keras_recipes.errors import ConfigError
from keras_recipes.startup import import_tensorflow_quietly

# The defaults of the pruning flags, repeated from `tuning.engine.pruning` so that `--help`
# does not import keras-tuner (a test keeps them equal).
PRUNE_RULES = ("none", "median")
DEFAULT_WARMUP_EPOCHS = 2
DEFAULT_STARTUP_TRIALS = 5
# The same for --rung-schedule, from `tuning.engine.rungs` (which imports keras).
RUNG_SCHEDULES = ("compressed", "final")
DEFAULT_RUNG_SCHEDULE = "final"

DEFAULT_XI = 0.01
DEFAULT_KAPPA = 2.576
#: Budget defaults per objective: the AlexNet tuning of the post, and its toy demo.
DEFAULT_BUDGET = {"train": (3, 27), "toy": (2, 14)}
EXIT_TRIALS_FAILED = 1

_DESCRIPTION = (
    "Tune log10(learning rate) and log10(weight decay) of a recipe with\n"
    "Bayesian optimisation (bayes_opt GP + acquisition) on keras-tuner's trial engine.\n"
    "The objective is the best validation accuracy over each trial's epochs."
)
_EPILOG = """\
examples:
  train-with-bo --epochs 5                       tune the demo AlexNet, 30 trials of 5 epochs
  train-with-bo --objective toy                  the 1-D toy demo (16 points, seconds)
  train-with-bo --search random --epochs 5       the random-search baseline, same budget
  train-with-bo --search bohb --epochs 9         Hyperband brackets + bo's GP (multi-fidelity)
  train-with-bo --epochs 8 --prune median        stop trials below the median early
  train-with-bo --resume runs/bo-20250101-120000 continue a killed run
  train-with-bo --resume runs/bo-... --n-iter 40 extend it to 43 trials
  train-with-bo --resume runs/bohb-... --hyperband-iterations 2
                                                 run bohb's brackets once more

distributed (keras-tuner's chief/worker mode, all processes with the same flags):
  KERASTUNER_TUNER_ID=chief  KERASTUNER_ORACLE_PORT=8000 train-with-bo --out runs/bo-dist
  KERASTUNER_TUNER_ID=tuner0 KERASTUNER_ORACLE_PORT=8000 train-with-bo --out runs/bo-dist
  --trial-timeout SECONDS (above the longest trial; read by the chief) hands the trial of
  a worker that died to another worker instead of waiting for it for ever.
  KERASTUNER_ORACLE_IP defaults to 127.0.0.1. SECURITY: the oracle service is
  unauthenticated, unencrypted gRPC; anyone who can reach the port can read the trials
  and report false results. Bind a non-loopback address only on a network you trust.
"""


def build_parser(prog: str = "train-with-bo") -> argparse.ArgumentParser:
    """The parser of `train-with-bo`."""
    parser = command_parser(prog, _DESCRIPTION, _EPILOG)
    _add_search_arguments(parser.add_argument_group("search"))
    _add_pruning_arguments(
        parser.add_argument_group("pruning (early stopping of unpromising trials)")
    )
    add_train_arguments(
        parser,
        help_text={
            "epochs": f"epochs of each trial (default: the recipe's; demo {DEMO_EPOCHS})",
            "out": "run directory (default: runs/<search>-<timestamp>, e.g. runs/bo-...)",
            "seed": "seeds the search and every trial's training (default: 0)",
        },
    )
    # None = "not given", so a resumed run keeps its own values (checked against the saved).
    parser.set_defaults(recipe=None, seed=None)
    _add_run_arguments(parser.add_argument_group("run"))
    return parser


def _add_search_arguments(search) -> None:
    search.add_argument(
        "--search",
        choices=("bo", "random", "grid", "hyperband", "bohb"),
        default=None,
        help="bo (bayes_opt), or keras-tuner's random / grid / hyperband over the same "
        "space and budget, or bohb: hyperband's brackets with new points from bo's GP "
        "(default: bo)",
    )
    search.add_argument(
        "--objective",
        choices=("train", "toy"),
        default=None,
        help="train: train() per trial; toy: the 1-D demo f(x) on (-2, 6) (default: train)",
    )
    search.add_argument(
        "--acq",
        choices=("ei", "ucb", "poi"),
        default=None,
        help="acquisition function: expected improvement, upper confidence bound, "
        "probability of improvement (default: ei)",
    )
    search.add_argument(
        "--xi", type=float, default=None, help=f"EI/POI exploration margin (default: {DEFAULT_XI})"
    )
    search.add_argument(
        "--kappa",
        type=float,
        default=None,
        help=f"UCB exploration weight (default: {DEFAULT_KAPPA})",
    )
    search.add_argument(
        "--bounds",
        action="append",
        default=[],
        metavar="NAME=LOW,HIGH",
        help="bounds of a tuned parameter, repeatable (default: log10_learning_rate=-5,-1 "
        "log10_weight_decay=-5,-1; toy: x=-2,6)",
    )
    search.add_argument(
        "--init-points",
        type=int,
        default=None,
        metavar="N",
        help="random points before the GP takes over (default: 3; toy: 2)",
    )
    search.add_argument(
        "--n-iter",
        type=int,
        default=None,
        metavar="N",
        help="GP-guided points; budget = init points + n-iter for every search (default: 27; "
        "toy: 14)",
    )


def _add_pruning_arguments(prune) -> None:
    prune.add_argument(
        "--prune",
        choices=PRUNE_RULES,
        default=None,
        help="median: after each epoch, stop a trial whose best validation accuracy so far "
        "is below the median of the finished trials' best-so-far at that epoch (Optuna's "
        "median rule); a pruned trial keeps its score so far, which still informs the GP "
        "(default: none)",
    )
    prune.add_argument(
        "--prune-warmup-epochs",
        type=int,
        default=None,
        metavar="N",
        help=f"epochs 1..N of every trial are never pruned (default: {DEFAULT_WARMUP_EPOCHS})",
    )
    prune.add_argument(
        "--prune-startup-trials",
        type=int,
        default=None,
        metavar="N",
        help="finished (not pruned) trials needed before any trial is pruned "
        f"(default: {DEFAULT_STARTUP_TRIALS})",
    )
    prune.add_argument(
        "--rung-schedule",
        choices=RUNG_SCHEDULES,
        default=None,
        help="hyperband, bohb: a rung of k epochs trains a 1cycle laid out over its k epochs "
        "(compressed; a promoted configuration trains again from scratch) or the first k "
        "epochs of the full budget's cycle (final; a promoted configuration continues its "
        "rung's run, weights and optimizer, and trains only the epochs after it) "
        f"(default: {DEFAULT_RUNG_SCHEDULE})",
    )
    prune.add_argument(
        "--min-epochs",
        type=int,
        default=None,
        metavar="N",
        help="hyperband, bohb: the smallest rung trains at least N epochs; the brackets "
        "whose first rung would train fewer are dropped (with --epochs 9 and 3: 5 x 3 -> "
        "2 x 9, then 3 x 9). Raise it when the fidelity check warns that low-budget scores "
        "do not predict full-budget ones (default: 1, as keras-tuner's Hyperband)",
    )
    prune.add_argument(
        "--hyperband-iterations",
        type=int,
        default=None,
        metavar="N",
        help="hyperband, bohb: run the whole set of brackets N times; later iterations of "
        "bohb propose from every score so far. With --resume, a larger N continues a "
        "finished run (default: 1, as keras-tuner's Hyperband)",
    )


def _add_run_arguments(run) -> None:
    run.add_argument(
        "--resume",
        metavar="RUN_DIR",
        default=None,
        help="continue a run to the requested total; finished trials are kept, a trial cut "
        "off mid-way runs again (default: start a new run)",
    )
    run.add_argument(
        "--animate", action="store_true", help="also write the GP posterior as a GIF over trials"
    )
    run.add_argument(
        "--final-train",
        action="store_true",
        help="retrain the best point for the recipe's full epochs and report test accuracy "
        "with 10-crop TTA",
    )
    run.add_argument(
        "--final-epochs",
        type=int,
        default=None,
        metavar="N",
        help="epochs of --final-train (default: the recipe's; demo 15)",
    )
    run.add_argument(
        "--compare-with",
        nargs="+",
        default=[],
        metavar="DIR",
        help="run directories to overlay on convergence.png (comparable sibling runs are "
        "added on their own)",
    )
    run.add_argument(
        "--trial-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="distributed chief: a worker that has not asked for a trial for this long is "
        "presumed dead and its trial goes to the next worker (3 time-outs: recorded as "
        "failed); set it above the longest trial. A worker restarted with the same "
        "KERASTUNER_TUNER_ID gets its trial back either way (default: off, the chief "
        "waits for a dead worker for ever)",
    )
    # For tests: each toy evaluation sleeps this long, so a run can be killed mid-trial.
    run.add_argument("--toy-delay", type=float, default=0.0, help=argparse.SUPPRESS)


def build_config(args: argparse.Namespace):
    """Parsed flags (+ the saved settings when resuming) -> (TuningConfig, run_dir, resume).

    On `--resume`, a flag that is not given keeps the run's value; one that is given must
    agree with it (the search space and objective), except `--n-iter`, which sets the new
    total, and `--hyperband-iterations`, which may raise it.
    """
    from keras_recipes.tuning.bo.config import TuningConfig

    resumed = Resumed(args, TuningConfig.load)
    objective = resumed.pick(args.objective, "objective", "train")
    same_objective = resumed.resume and resumed.saved.objective == objective
    seed = resumed.pick(args.seed, "seed", 0)
    saved = resumed.saved if same_objective else None  # another objective starts anew
    init_default, n_iter_default = DEFAULT_BUDGET[objective]
    config = TuningConfig(
        space=_space(args, saved, objective),
        search=resumed.pick(args.search, "search", "bo"),
        objective=objective,
        acquisition=resumed.pick(args.acq, "acquisition", "ei"),
        xi=resumed.pick(args.xi, "xi", DEFAULT_XI),
        kappa=resumed.pick(args.kappa, "kappa", DEFAULT_KAPPA),
        init_points=pick(args.init_points, saved, "init_points", init_default),
        n_iter=pick(args.n_iter, saved, "n_iter", n_iter_default),
        seed=seed,
        prune=resumed.pick(args.prune, "prune", "none"),
        prune_warmup_epochs=resumed.pick(
            args.prune_warmup_epochs, "prune_warmup_epochs", DEFAULT_WARMUP_EPOCHS
        ),
        prune_startup_trials=resumed.pick(
            args.prune_startup_trials, "prune_startup_trials", DEFAULT_STARTUP_TRIALS
        ),
        rung_schedule=resumed.pick(args.rung_schedule, "rung_schedule", DEFAULT_RUNG_SCHEDULE),
        min_epochs=resumed.pick(args.min_epochs, "min_epochs", 1),
        hyperband_iterations=resumed.pick(args.hyperband_iterations, "hyperband_iterations", 1),
        **_train_settings(args, saved, objective, seed),
    )
    return config, resumed.out(config.search), resumed.resume


def _space(args: argparse.Namespace, saved, objective: str):
    """--bounds over the saved run's space (same objective) or the objective's defaults."""
    from keras_recipes.tuning.bo.config import DEFAULT_BOUNDS
    from keras_recipes.tuning.bo.space import SearchSpace

    defaults = saved.space.pbounds if saved is not None else DEFAULT_BOUNDS[objective]
    if args.bounds:
        return SearchSpace.from_specs(args.bounds, defaults)
    return saved.space if saved is not None else SearchSpace.from_mapping(defaults)


def _train_settings(args, saved, objective: str, seed: int) -> dict[str, Any]:
    """The set-up and --final-train's epochs (train objective); none for the toy."""
    if objective != "train":
        if args.final_train:
            raise ConfigError("--final-train retrains a network; it needs --objective train.")
        return {}
    if saved is not None and not train_flags_given(args):
        setup, final_epochs = saved.setup.replace(seed=seed), saved.final_epochs
    else:
        setup = setup_from_args(args, seed=seed)
        # --epochs is per trial; --final-train uses the recipe's own (demo: 15).
        final_epochs = resolve_recipe(argparse.Namespace(**{**vars(args), "epochs": None}))
        final_epochs = final_epochs.training.epochs
    if args.final_epochs is not None:
        if args.final_epochs < 1:
            raise ConfigError(f"--final-epochs must be >= 1; got {args.final_epochs}.")
        final_epochs = args.final_epochs
    return {"setup": setup, "final_epochs": final_epochs}


def run(args: argparse.Namespace) -> int:
    """Runs `train-with-bo` from parsed flags; returns the exit code."""
    config, run_dir, resume = build_config(args)
    final_recipe = None
    if args.final_train:
        final_recipe = config.recipe.replace(
            training={"epochs": config.final_epochs or DEMO_EPOCHS}
        )
    from keras_recipes.tuning.bo.search import run_search
    from keras_recipes.tuning.engine.failures import TrialsFailedError

    try:
        run_search(
            config,
            run_dir,
            resume=resume,
            toy_delay=args.toy_delay,
            trial_timeout=args.trial_timeout,
            animate=args.animate,
            final_recipe=final_recipe,
            compare_with=args.compare_with,
        )
    except TrialsFailedError as err:
        # Not a usage error (exit 2): the trials themselves broke; their causes are listed.
        print(f"error: {err}", file=sys.stderr)
        return EXIT_TRIALS_FAILED
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `train-with-bo` and `python -m keras_recipes.tuning`."""
    args = build_parser().parse_args(argv)
    import_tensorflow_quietly()
    return guarded(run, args)


if __name__ == "__main__":
    sys.exit(main())
