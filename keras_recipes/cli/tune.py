"""`keras-recipes tune`: search the recipe space (activation, init, batch-norm placement,
optimizer, schedule, dropout kind; learning rate, weight decay, momentum) with keras-tuner's
random, Bayesian or Hyperband oracle, or bohb (Hyperband + bayes_opt's GP), on
`train-with-bo`'s trial engine.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from keras_recipes.cli.arguments import (
    DEMO_EPOCHS,
    Resumed,
    add_train_arguments,
    command_parser,
    demo_banner,
    guarded,
    positive_int,
)
from keras_recipes.startup import import_tensorflow_quietly

if TYPE_CHECKING:  # the module itself imports keras-tuner only when it runs
    from keras_recipes.tuning.recipe.config import RecipeSearchConfig

DEFAULT_ORACLE = "bayesian"
DEFAULT_MAX_TRIALS = 30
EXIT_NO_RESULT = 1
#: `tuning.recipe.config.ORACLES`, repeated so that `--help` does not import keras-tuner.
ORACLE_CHOICES = ("random", "bayesian", "hyperband", "bohb")

_DESCRIPTION = (
    "Search the recipe space with keras-tuner (the trial engine of "
    "train-with-bo).\nThe objective is the best validation accuracy over each trial's "
    "epochs; the winner is written as best.toml."
)
_EPILOG = """\
examples:
  keras-recipes tune --epochs 5                          30 Bayesian trials of 5 epochs
  keras-recipes tune --oracle random --max-trials 10     keras-tuner's random search
  keras-recipes tune --oracle hyperband --epochs 9       Hyperband, at most 30 trials
  keras-recipes tune --oracle bohb --epochs 27 --max-trials 60
                                                         Hyperband's brackets + a GP
  keras-recipes tune --resume runs/tune-20250101-120000  continue a killed run
  keras-recipes tune --resume runs/tune-... --max-trials 50   extend it
  python train.py --recipe runs/tune-.../best.toml       train the winner

Searched: activation (relu, leaky_relu, prelu, elu, selu), init (he_normal, lecun_normal,
glorot_uniform), batch norm (none, before, after), optimizer (momentum, nesterov, rmsprop,
adam, nadam), schedule (constant, exponential, power, inverse_sqrt, 1cycle), dropout kind
(dropout, alpha, mc); learning rate 1e-4..1e-1 and weight decay 1e-6..1e-2 on a log scale;
1 - momentum (or Adam's 1 - beta_1) 1e-3..1e-1 on a log scale. Every other field comes
from --recipe. A combination the recipe validation forbids (SELU with batch norm or
without LeCun init, 1cycle's momentum cycling with RMSProp, ...) is never trained: it is
recorded as "invalid" with the reason, counts as a trial and scores 0 for the oracle.
"""


def build_parser(prog: str = "keras-recipes tune") -> argparse.ArgumentParser:
    """The parser of `keras-recipes tune`."""
    parser = command_parser(prog, _DESCRIPTION, _EPILOG)
    search = parser.add_argument_group("search")
    search.add_argument(
        "--oracle",
        choices=ORACLE_CHOICES,
        default=None,
        help="keras-tuner's search algorithm, or bohb: Hyperband's brackets with new "
        f"configurations from bayes_opt's GP (default: {DEFAULT_ORACLE})",
    )
    search.add_argument(
        "--max-trials",
        type=positive_int,
        default=None,
        metavar="N",
        help="points to try, invalid ones included; caps Hyperband's count "
        f"(default: {DEFAULT_MAX_TRIALS}; with --resume: the run's, or a new total)",
    )
    search.add_argument(
        "--init-points",
        type=positive_int,
        default=None,
        metavar="N",
        help="bayesian: random points before the GP takes over (default: a third of "
        "--max-trials, at least 2)",
    )
    search.add_argument(
        "--min-epochs",
        type=int,
        default=None,
        metavar="N",
        help="hyperband, bohb: the smallest rung trains at least N epochs; the brackets "
        "whose first rung would train fewer are dropped (default: 1, as keras-tuner's "
        "Hyperband)",
    )
    search.add_argument(
        "--hyperband-iterations",
        type=int,
        default=None,
        metavar="N",
        help="hyperband, bohb: run the whole set of brackets N times (--max-trials still "
        "caps the trials). With --resume, a larger N continues a finished run (default: 1)",
    )
    add_train_arguments(
        parser,
        help_text={
            "recipe": "base recipe: name or .toml; supplies every field the search does not "
            "set (default: default)",
            "epochs": f"epochs of each trial (default: the recipe's; demo {DEMO_EPOCHS})",
            "out": "run directory (default: runs/tune-<timestamp>)",
            "seed": "seeds the oracle and every trial's training (default: 0)",
        },
    )
    # None = "not given", so a resumed run keeps its own values.
    parser.set_defaults(recipe=None, seed=None)
    parser.add_argument(
        "--resume",
        metavar="RUN_DIR",
        default=None,
        help="continue a run: finished trials are kept, a trial cut off mid-way runs again",
    )
    return parser


def build_config(args: argparse.Namespace) -> tuple[RecipeSearchConfig, Path, bool]:
    """Parsed flags (+ the saved settings when resuming) -> (config, run_dir, resume).

    On `--resume`, a flag that is not given keeps the run's value; one that is given must
    agree with it, except `--max-trials`, which sets the new total, and
    `--hyperband-iterations`, which may raise it.
    """
    from keras_recipes.tuning.recipe.config import RecipeSearchConfig
    from keras_recipes.tuning.recipe.space import RecipeSpace

    resumed = Resumed(args, RecipeSearchConfig.load)
    seed = resumed.pick(args.seed, "seed", 0)
    config = RecipeSearchConfig(
        resumed.setup(args, seed),
        oracle=resumed.pick(args.oracle, "oracle", DEFAULT_ORACLE),
        max_trials=resumed.pick(args.max_trials, "max_trials", DEFAULT_MAX_TRIALS),
        init_points=resumed.pick(args.init_points, "init_points", None),
        seed=seed,
        space=resumed.saved.space if resumed.resume else RecipeSpace(),
        min_epochs=resumed.pick(args.min_epochs, "min_epochs", 1),
        hyperband_iterations=resumed.pick(args.hyperband_iterations, "hyperband_iterations", 1),
    )
    return config, resumed.out("tune"), resumed.resume


def run(args: argparse.Namespace) -> int:
    """Runs `keras-recipes tune` from parsed flags; returns the exit code."""
    config, run_dir, resume = build_config(args)
    demo_banner(config.setup, "epochs per trial")
    from keras_recipes.training.session import quiet_retracing_warnings
    from keras_recipes.tuning.engine.failures import TrialsFailedError
    from keras_recipes.tuning.recipe.search import run_recipe_search

    quiet_retracing_warnings()

    try:
        result = run_recipe_search(config, run_dir, resume=resume)
    except TrialsFailedError as err:
        # Not a usage error (exit 2): the trials themselves broke; their causes are listed.
        print(f"error: {err}", file=sys.stderr)
        return EXIT_NO_RESULT
    # A worker reports nothing: the chief holds the trials, best.toml and the verdict.
    if result.best is None and result.role != "worker":
        print(
            "error: no trial trained a recipe (every point was invalid or failed); see "
            f"{run_dir / 'trials.csv'}. Try a base --recipe whose fixed fields allow more "
            "combinations, or more --max-trials.",
            file=sys.stderr,
        )
        return EXIT_NO_RESULT
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "keras-recipes tune") -> int:
    """Entry point of `keras-recipes tune`."""
    args = build_parser(prog).parse_args(argv)
    import_tensorflow_quietly()
    return guarded(run, args)


if __name__ == "__main__":
    sys.exit(main())
