"""`keras-recipes compare`: which recipe wins on my data.

    keras-recipes compare --recipes alexnet2012 default selu elu --seeds 3

The recipe, data, training and output flags are those of `train.py` and apply to every
run (`--recipes` replaces `--recipe`; `--seed` is the first seed).
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from keras_recipes.cli import (
    DEMO_EPOCHS,
    DEVICE_OPTIONS,
    EXIT_INTERRUPTED,
    add_device_arguments,
    add_train_arguments,
    guarded,
    import_tensorflow_quietly,
    positive_int,
    train_kwargs,
)
from keras_recipes.errors import ConfigError
from keras_recipes.seeds import seed_problem

DEFAULT_SEEDS = 3

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
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Train several recipes for several seeds on the same data and print "
        "which wins\n(mean and spread of the best validation accuracy over the seeds).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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
    recipes, kwargs = [], {}
    for name in args.recipes:  # every name resolved (and checked) before anything trains
        one = copy.copy(args)
        one.recipe = name
        kwargs = train_kwargs(one)
        recipes.append(kwargs["recipe"])
    out = Path(args.out) if args.out else Path("runs") / f"compare-{datetime.now():%Y%m%d-%H%M%S}"
    if kwargs["data"] == "demo":
        print(
            f"Using the built-in synthetic demo data and the CPU-sized AlexNet "
            f"({kwargs['image_size']} px, width {kwargs['width']}, "
            f"{recipes[0].training.epochs} epochs).",
            flush=True,
        )
    from keras_recipes.comparison.compare import PLOT_NAME, RUNS_CSV, SUMMARY_CSV, compare_recipes
    from keras_recipes.comparison.table import format_table
    from keras_recipes.training import TrainingInterrupted
    from keras_recipes.tuning.objective import quiet_retracing_warnings

    quiet_retracing_warnings()

    try:
        result = compare_recipes(
            recipes,
            kwargs["data"],
            seeds=list(range(args.seed, args.seed + args.seeds)),
            out=out,
            image_size=kwargs["image_size"],
            width=kwargs["width"],
            tta=args.tta,
            stream=sys.stdout,
            train_options={k: kwargs[k] for k in DEVICE_OPTIONS},
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
