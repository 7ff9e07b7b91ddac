"""Command line: `keras-recipes train ...` (also `python train.py ...`) and `keras-recipes list`.

The recipe's values < the demo defaults (demo data only) < `--set` < the dedicated flags
(`resolve_recipe`). One function, `train_kwargs`, turns parsed arguments into `train()`
arguments, so library code never sees argparse.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from keras_recipes import atomic
from keras_recipes.errors import ConfigError, KerasRecipesError
from keras_recipes.seeds import seed_problem
from keras_recipes.startup import import_tensorflow_quietly

# The choices of --distribute; keras_recipes.distribution imports TensorFlow, this must not.
DISTRIBUTE_CHOICES = ("auto", "none", "mirrored", "multi-worker")
# train() keyword arguments of the device flags (add_device_arguments).
DEVICE_OPTIONS = ("distribute", "batch_per_replica", "mixed_precision", "jit_compile")

DEMO_IMAGE_SIZE = 64
DEMO_WIDTH = 0.25
DEMO_EPOCHS = 15
DEMO_BATCH_SIZE = 64
FULL_IMAGE_SIZE = 227

EXIT_USER_ERROR = 2
EXIT_DIVERGED = 3
EXIT_INTERRUPTED = 130


# -- argument types: each names the flag, the value and what is valid -----------------------


def positive_int(text: str) -> int:
    """argparse type: an int >= 1, or an error naming the value."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def seed_value(text: str) -> int:
    """argparse type: a seed, by the one rule of `keras_recipes.seeds`."""
    try:
        value: Any = int(text)
    except ValueError:
        value = text
    problem = seed_problem(value)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


class _NoCache(argparse.Action):
    """--no-cache sets KERAS_RECIPES_NO_CACHE, so it reaches load_data in this process and in
    every worker process the command starts (they inherit the environment)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=False, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        os.environ["KERAS_RECIPES_NO_CACHE"] = "1"
        setattr(namespace, self.dest, True)


#: Help of the shared flags, by destination; a command may reword some (`add_train_arguments`).
TRAIN_HELP = {
    "recipe": "registered recipe name or path to a .toml file (default: default)",
    "overrides": "override a recipe field, e.g. optimizer.learning_rate=0.02 (repeatable)",
    "data": "demo, a folder (Kaggle cat.N.jpg/dog.N.jpg or one sub-folder per class), "
    "or tfds:NAME (default: demo, with the CPU-sized AlexNet)",
    "image_size": f"crop size fed to the model (default: {FULL_IMAGE_SIZE}; demo "
    f"{DEMO_IMAGE_SIZE})",
    "width": f"AlexNet width multiplier (default: 1.0; demo {DEMO_WIDTH})",
    "epochs": f"epochs (default: the recipe's; demo {DEMO_EPOCHS})",
    "batch_size": f"batch size (default: the recipe's; demo {DEMO_BATCH_SIZE})",
    "seed": "random seed (default: 0)",
    "out": "run directory (default: runs/<recipe>-<timestamp>)",
}


def add_train_arguments(
    parser: argparse.ArgumentParser, help_text: Mapping[str, str] | None = None
) -> None:
    """The recipe, data, training and output flags shared by train, tuning and compare.

    Args:
        parser: argparse.ArgumentParser. Gets the flags, in groups.
        help_text: mapping or None. Destination -> help text, for the flags a command reads its
            own way (`argparse.SUPPRESS` hides one); the others keep `TRAIN_HELP`'s.
    """
    text = {**TRAIN_HELP, **(help_text or {})}
    recipe = parser.add_argument_group("recipe")
    recipe.add_argument("--recipe", default="default", help=text["recipe"])
    recipe.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=text["overrides"],
    )
    data = parser.add_argument_group("data")
    data.add_argument("--data", default=None, help=text["data"])
    data.add_argument("--image-size", type=positive_int, default=None, help=text["image_size"])
    data.add_argument("--width", type=_positive_float, default=None, help=text["width"])
    data.add_argument(
        "--no-cache",
        action=_NoCache,
        help="decode the images into memory instead of the decoded-image store under "
        "$KERAS_RECIPES_CACHE (see `keras-recipes cache list`)",
    )
    training = parser.add_argument_group("training")
    training.add_argument("--epochs", type=positive_int, default=None, help=text["epochs"])
    training.add_argument("--batch-size", type=positive_int, default=None, help=text["batch_size"])
    training.add_argument("--seed", type=seed_value, default=0, help=text["seed"])
    output = parser.add_argument_group("output")
    output.add_argument("--out", default=None, help=text["out"])


def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    """How training uses the hardware: tf.distribute, mixed precision, XLA."""
    device = parser.add_argument_group("devices")
    device.add_argument(
        "--distribute",
        choices=DISTRIBUTE_CHOICES,
        default="none",
        help="data-parallel training: auto (MirroredStrategy on 2+ GPUs, else none), "
        "mirrored (every visible GPU), multi-worker (MultiWorkerMirroredStrategy from "
        "TF_CONFIG) (default: none)",
    )
    device.add_argument(
        "--batch-per-replica",
        action="store_true",
        help="the batch size is each replica's: the global batch and the learning rate are "
        "multiplied by the number of replicas (linear scaling rule) (default: the batch "
        "size is the global batch, split across the replicas; learning rate unchanged)",
    )
    device.add_argument(
        "--mixed-precision",
        action="store_true",
        help="float16 compute with loss scaling on GPUs (bfloat16 on CPUs) (default: off)",
    )
    device.add_argument(
        "--jit-compile",
        action="store_true",
        help="compile the train step with XLA (default: off; it helps on GPUs, not on CPUs)",
    )


def build_train_parser(prog: str = "train.py") -> argparse.ArgumentParser:
    """The parser of `python train.py` / `keras-recipes train`."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Train the AlexNet dogs-vs-cats pipeline with a recipe.",
    )
    add_train_arguments(parser)
    add_device_arguments(parser)
    parser.add_argument(
        "--tta",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="10-crop test-time augmentation on the test split (default: the recipe's "
        "training.evaluation)",
    )
    parser.add_argument(
        "--tensorboard",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write TensorBoard logs into RUN_DIR/tensorboard (default: on)",
    )
    parser.add_argument(
        "--list-recipes", action="store_true", help="print the registered recipes and exit"
    )
    parser.add_argument(
        "--resume",
        metavar="RUN_DIR",
        default=None,
        help="continue a killed or interrupted run from its last completed epoch, with the "
        "run's own settings (give no other training flags)",
    )
    parser.add_argument(
        "--find-lr",
        action="store_true",
        help="run the learning-rate range test instead of training: print a suggested "
        "max_lr for 1cycle and write lr_finder.png into --out",
    )
    return parser


def resolve_recipe(args: argparse.Namespace):
    """The recipe to train: the recipe's own < the demo defaults < `--set` < `--epochs` and
    `--batch-size`."""
    from keras_recipes.recipes import get_recipe

    recipe = get_recipe(args.recipe)
    if args.data in (None, "demo"):
        # The CPU-sized demo trains in minutes with these; what the user sets still wins.
        recipe = recipe.replace(training={"epochs": DEMO_EPOCHS, "batch_size": DEMO_BATCH_SIZE})
    recipe = recipe.with_overrides(list(args.overrides))
    flags = {"epochs": args.epochs, "batch_size": args.batch_size}
    given = {key: value for key, value in flags.items() if value is not None}
    return recipe.replace(training=given) if given else recipe


def train_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Parsed flags -> keyword arguments of `train()` (recipe included)."""
    demo = args.data in (None, "demo")
    kwargs = {
        "recipe": resolve_recipe(args),
        "data": "demo" if demo else args.data,
        "image_size": args.image_size or (DEMO_IMAGE_SIZE if demo else FULL_IMAGE_SIZE),
        "width": args.width or (DEMO_WIDTH if demo else 1.0),
        "seed": args.seed,
    }
    # Only parsers with the device flags (train, compare) pass them on.
    for name in DEVICE_OPTIONS:
        if hasattr(args, name):
            kwargs[name] = getattr(args, name)
    return kwargs


def recipes_table() -> str:
    """The registered recipes as a text table."""
    import pandas as pd

    from keras_recipes.recipes import get_recipe, list_recipes

    rows = []
    for name in list_recipes():
        r = get_recipe(name)
        norm = "none" if r.normalization.kind == "none" else f"bn-{r.normalization.placement}"
        rows.append(
            {
                "recipe": name,
                "init": r.init.kernel,
                "activation": r.activation.name,
                "norm": norm,
                "dropout": f"{r.regularization.dropout_kind} {r.regularization.dropout_rate:g}",
                "decay": f"{r.regularization.weight_decay_mode} {r.regularization.weight_decay:g}",
                "optimizer": f"{r.optimizer.name} {r.optimizer.learning_rate:g}",
                "schedule": r.schedule.name,
                "inputs": r.training.preprocessing,
            }
        )
    return pd.DataFrame(rows).to_string(index=False)


def _fit_verbosity() -> int:
    # Progress bars on a terminal; one line per epoch in logs and CI.
    return 1 if sys.stdout.isatty() else 2


COMMAND_FILE = "command.json"
# Flags a resumed run takes from its own command.json, never from the command line.
_RUN_SETTINGS = (
    "recipe",
    "overrides",
    "data",
    "image_size",
    "width",
    "epochs",
    "batch_size",
    "seed",
    "out",
    "tta",
    "batch_per_replica",
    "mixed_precision",
)


def _resumed_args(args: argparse.Namespace, parser_defaults: dict[str, Any]) -> argparse.Namespace:
    """The saved flags of the run in `args.resume`; other training flags are an error."""
    import json

    given = [
        f"--{k.replace('_', '-')}" for k in _RUN_SETTINGS if getattr(args, k) != parser_defaults[k]
    ]
    if given:
        raise ConfigError(
            f"--resume {args.resume} continues with that run's own settings; drop "
            f"{', '.join(given)}."
        )
    path = Path(args.resume) / COMMAND_FILE
    if not path.exists():
        raise ConfigError(f"{args.resume} is not a run directory of train.py: no {COMMAND_FILE}.")
    saved = json.loads(path.read_text())
    return argparse.Namespace(**{**vars(args), **saved, "out": args.resume})


def run_train(args: argparse.Namespace, parser_defaults: dict[str, Any] | None = None) -> int:
    """Runs one training from parsed flags; returns the exit code."""
    if args.list_recipes:
        print(recipes_table())
        return 0
    resume = args.resume is not None
    if resume:
        args = _resumed_args(args, parser_defaults or {})
    kwargs = train_kwargs(args)
    recipe = kwargs["recipe"]
    if kwargs["data"] == "demo":
        print(
            f"Using the built-in synthetic demo data and the CPU-sized AlexNet "
            f"({kwargs['image_size']} px, width {kwargs['width']}, "
            f"{recipe.training.epochs} epochs). Full-size pipeline: "
            "python train.py --data /path/to/dogs-vs-cats/train --image-size 227 --width 1",
            flush=True,
        )
    from keras_recipes.run_recorder import backup_epoch
    from keras_recipes.training import TrainingInterrupted, default_run_dir, train

    run_dir = Path(args.out) if args.out else default_run_dir(recipe)
    if args.find_lr:
        return _find_lr(kwargs, run_dir)
    callbacks = []
    if not resume and backup_epoch(run_dir) is None:
        callbacks.append(_command_writer(args, run_dir))
    try:
        result = train(
            **kwargs,
            run_dir=run_dir,
            tta=args.tta,
            callbacks=callbacks,
            verbose=_fit_verbosity(),
            resume=resume,
            tensorboard=args.tensorboard,
        )
    except TrainingInterrupted as stop:
        print(
            f"interrupted: the model, history and summary so far are in {run_dir}; continue "
            f"with: python train.py --resume {run_dir}",
            file=sys.stderr,
        )
        print(final_line(stop.result.summary, run_dir))
        return EXIT_INTERRUPTED
    summary = result.summary
    if result.status == "diverged":
        print(
            f"error: training diverged (loss became NaN or inf at epoch {summary['epochs_run']}); "
            f"lower optimizer.learning_rate (now {recipe.optimizer.learning_rate:g}) or add "
            f"clipping (optimizer.clipnorm). What was computed is in {run_dir}.",
            file=sys.stderr,
        )
    print(final_line(summary, run_dir))
    return EXIT_DIVERGED if result.status == "diverged" else 0


def _command_writer(args: argparse.Namespace, run_dir: Path):
    """A callback that writes the flags `--resume` reads into `run_dir` as training begins.

    `train()` creates `run_dir` once the recipe, flags and data have passed its checks, just
    before the first epoch; writing `command.json` then, and not before `train()` runs, leaves
    no folder behind after bad input, yet a run killed in its first epoch can resume.
    """
    import keras

    settings = {**{k: getattr(args, k) for k in _RUN_SETTINGS}, "out": str(run_dir)}
    path = run_dir / COMMAND_FILE
    return keras.callbacks.LambdaCallback(
        on_train_begin=lambda logs: atomic.write_json(path, settings)
    )


def _find_lr(kwargs: dict[str, Any], run_dir: Path) -> int:
    """`--find-lr`: the LR range test; `run_dir` gets only the plot, made after the sweep."""
    from keras_recipes.training import check_run_dir, find_learning_rate, prepare_run_dir

    check_run_dir(run_dir)  # an unwritable --out fails now, not after the sweep
    finder = find_learning_rate(**kwargs, verbose=_fit_verbosity())
    plot = prepare_run_dir(run_dir) / "lr_finder.png"
    finder.plot(plot)
    suggestion = finder.suggestion()
    print(
        f"LR range test over {len(finder.history['lr'])} batches; plot: {plot}\n"
        f"suggested_max_lr={suggestion:.3g} (a tenth of the rate where the loss turns "
        f"up); train with --set optimizer.learning_rate={suggestion:.3g}"
    )
    return 0


def final_line(summary: dict[str, Any], run_dir: Path) -> str:
    """`best_val_accuracy=<float> best_epoch=<int> ... run_dir=<path>`."""
    parts = [f"best_val_accuracy={summary['best_val_accuracy']:.4f}"]
    parts.append(f"best_epoch={summary['best_epoch']}")
    for key in ("test_accuracy", "test_accuracy_tta"):
        if key in summary:
            parts.append(f"{key}={summary[key]:.4f}")
    parts.append(f"images_per_s={summary['train_images_per_second']:.0f}")
    parts.append(f"status={summary['status']}")
    parts.append(f"run_dir={run_dir}")
    return " ".join(parts)


def guarded(run, *args) -> int:
    """Runs `run(*args)`, turning user errors into a message and exit code 2, no traceback."""
    try:
        return run(*args)
    except KerasRecipesError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def train_main(argv: Sequence[str] | None = None, prog: str = "train.py") -> int:
    """Entry point of `python train.py`."""
    parser = build_train_parser(prog)
    args = parser.parse_args(argv)
    import_tensorflow_quietly()
    defaults = {k: parser.get_default(k) for k in _RUN_SETTINGS}
    return guarded(run_train, args, defaults)


SUBCOMMANDS = {
    "train": "train the AlexNet pipeline",
    "list": "list the registered recipes",
    "compare": "train several recipes for several seeds; which wins on my data",
    "tune": "search the recipe space with keras-tuner (random, bayesian, hyperband)",
    "cache": "list or clear the decoded-image stores (cache list|clear)",
}


def main(argv: Sequence[str] | None = None, prog: str = "keras-recipes") -> int:
    """Entry point of `keras-recipes`: `train` (the default), `list`, `compare` or `tune`.

    `python train.py compare ...` and `python train.py tune ...` come here too (prog
    "train.py"); `python train.py [flags]` trains.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(f"usage: {prog} {{{','.join(SUBCOMMANDS)}}} ...\n")
        for name, text in SUBCOMMANDS.items():
            print(f"  {name:9s}{text}")
        return 0
    if argv and argv[0] == "list":
        print(recipes_table())
        return 0
    if argv and argv[0] == "compare":
        # Imported here: their modules pull in pandas/keras-tuner, which `train` never needs.
        from keras_recipes.comparison.cli import main as compare_main

        return compare_main(argv[1:], prog=f"{prog} compare")
    if argv and argv[0] == "tune":
        from keras_recipes.tuning.recipe_cli import main as tune_main

        return tune_main(argv[1:], prog=f"{prog} tune")
    if argv and argv[0] == "cache":
        import_tensorflow_quietly()  # the store module imports the data package
        from keras_recipes.cache_cli import main as cache_main

        return cache_main(argv[1:], prog=f"{prog} cache")
    if argv and argv[0] == "train":
        argv = argv[1:]
    return train_main(argv, prog=f"{prog} train" if prog == "keras-recipes" else prog)


if __name__ == "__main__":
    sys.exit(main())
