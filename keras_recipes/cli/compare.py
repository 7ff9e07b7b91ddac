"""`keras-recipes compare`: which recipe wins on my data.

    keras-recipes compare --recipes alexnet2012 default selu elu --seeds 3

The recipe, data, training and output flags are those of `train.py` and apply to every
run (`--recipes` replaces `--recipe`; `--seed` is the first seed).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from keras_recipes.cli.arguments import (
    DEMO_EPOCHS,
    EXIT_INTERRUPTED,
    add_device_arguments,
    add_train_arguments,
    command_parser,
    default_run_dir,
    demo_banner,
    guarded,
    positive_int,
    setup_from_args,
    with_recipe,
)
from keras_recipes.errors import ConfigError
from keras_recipes.seeds import seed_problem
from keras_recipes.startup import import_tensorflow_quietly

DEFAULT_SEEDS = 3

_DESCRIPTION = (
    "Train several recipes for several seeds on the same data and print "
    "which wins\n(mean and spread of the best validation accuracy over the seeds)."
)
_EPILOG = """\
examples:
  keras-recipes compare --recipes alexnet2012 default selu elu --seeds 3
  keras-recipes compare --recipes relu elu my-recipe.toml --epochs 5 --out runs/cmp
  keras-recipes compare --recipes relu elu --seeds 5 --out runs/cmp   (adds seeds 3, 4)

Rerunning with the same --out trains only the runs that are missing; a run killed mid-way
continues from its last completed epoch.
"""


def build_parser(prog: str = "keras-recipes compare") -> argparse.ArgumentParser:
    """The parser of `keras-recipes compare`."""
    parser = command_parser(prog, _DESCRIPTION, _EPILOG)
    group = parser.add_argument_group("comparison")
    group.add_argument(
        "--recipes",
        nargs="+",
        required=True,
        metavar="RECIPE",
        help="registered recipe names or .toml files to compare",
    )
    group.add_argument(
        "--seeds",
        type=positive_int,
        default=DEFAULT_SEEDS,
        metavar="N",
        help=f"seeds per recipe: --seed, --seed + 1, ... (default: {DEFAULT_SEEDS})",
    )
    group.add_argument(
        "--tta",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="also report 10-crop test accuracy for every run (default: off, so every "
        "recipe is evaluated and timed the same way)",
    )
    add_train_arguments(
        parser,
        help_text={
            # train.py's --recipe: refused in run() with a pointer to --recipes.
            "recipe": argparse.SUPPRESS,
            "out": "output folder; rerun with the same one to resume (default: "
            "runs/compare-<timestamp>)",
            "seed": "first seed; it also draws the data split (default: 0)",
            "overrides": "override a field of every recipe, e.g. training.epochs=5 (repeatable)",
            "epochs": f"epochs of every run (default: each recipe's; demo {DEMO_EPOCHS})",
        },
    )
    parser.set_defaults(recipe=None)
    add_device_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Runs the comparison from parsed flags; returns the exit code."""
    if args.recipe is not None:
        raise ConfigError(
            f"compare takes --recipes NAME [NAME ...], not --recipe; got --recipe {args.recipe}."
        )
    # Every name resolved (and checked) before anything trains.
    setups = [setup_from_args(with_recipe(args, name)) for name in args.recipes]
    setup = setups[0]
    out = Path(args.out) if args.out else default_run_dir("compare")
    demo_banner(setup)
    from keras_recipes.comparison.compare import PLOT_NAME, RUNS_CSV, SUMMARY_CSV, compare_recipes
    from keras_recipes.comparison.table import format_table
    from keras_recipes.training.fit import TrainingInterrupted
    from keras_recipes.training.session import quiet_retracing_warnings

    quiet_retracing_warnings()
    try:
        result = compare_recipes(
            [one.recipe for one in setups],
            setup.data,
            seeds=list(range(args.seed, args.seed + args.seeds)),
            out=out,
            image_size=setup.image_size,
            width=setup.width,
            tta=args.tta,
            stream=sys.stdout,
            train_options={**setup.device, "cache": setup.cache, "model": setup.model},
        )
    except TrainingInterrupted as stop:
        print(
            f"interrupted: {stop.result.run_dir} keeps its checkpoint; rerun the same command "
            f"with --out {out} to continue (finished runs are kept).",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    print()
    print(format_table(result.table))
    for row in result.runs.itertuples():
        if row.status == "diverged":
            print(
                f"note: {row.recipe} seed {row.seed} diverged (loss NaN): its best is from the "
                "epochs before, and it has no test accuracy (the mean is over the other seeds)."
            )
    print(
        f"\nper run: {out / RUNS_CSV}; per recipe: {out / SUMMARY_CSV}; curves: {out / PLOT_NAME}"
    )
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "keras-recipes compare") -> int:
    """Entry point of `keras-recipes compare`."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    # The seed rule, for the last seed as well as the first (argparse checked the first).
    problem = seed_problem(args.seed, count=args.seeds)
    if problem is not None:
        parser.error(f"argument --seed: {problem} (--seed {args.seed} --seeds {args.seeds})")
    import_tensorflow_quietly()
    return guarded(run, args)


if __name__ == "__main__":
    sys.exit(main())
