"""What the commands share: the train and device flags, the demo defaults and banner, the
default run folder, the rule for a resumed run's values, and turning user errors into exit
code 2. argparse stays in this package; library code gets a `TrainSetup`.

The recipe's values < the demo defaults (demo data only) < `--set` < the dedicated flags
(`resolve_recipe`).
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from keras_recipes.errors import ConfigError, KerasRecipesError
from keras_recipes.seeds import seed_problem

# The choices of --distribute; keras_recipes.training.distribution imports TensorFlow.
DISTRIBUTE_CHOICES = ("auto", "none", "mirrored", "multi-worker")

DEMO_IMAGE_SIZE = 64
DEMO_WIDTH = 0.25
DEMO_EPOCHS = 15
DEMO_BATCH_SIZE = 64
FULL_IMAGE_SIZE = 227

EXIT_USER_ERROR = 2
EXIT_DIVERGED = 3
EXIT_INTERRUPTED = 130
#: The set-up flags (`add_train_arguments`) besides --recipe and --set.
TRAIN_FLAGS = ("data", "image_size", "width", "epochs", "batch_size", "model")


# -- argument types: each names the flag, the value and what is valid -----------------------


def positive_int(text: str) -> int:
    """argparse type: an int >= 1, or an error naming the value.

    Example:

    >>> positive_int("3")
    3
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a number > 0, or an error naming the value."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
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


def command_parser(prog: str, description: str, epilog: str) -> argparse.ArgumentParser:
    """A command's parser whose description and examples keep their line breaks."""
    return argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


# -- the shared flags --------------------------------------------------------------------------

#: Help of the shared flags, by destination; a command may reword some (`add_train_arguments`).
TRAIN_HELP = {
    "recipe": "registered recipe name or path to a .toml file (default: default)",
    "overrides": "override a recipe field, e.g. optimizer.learning_rate=0.02 (repeatable)",
    "data": "demo, a folder (Kaggle cat.N.jpg/dog.N.jpg or one sub-folder per class), "
    "or tfds:NAME (default: demo, with the CPU-sized AlexNet)",
    "image_size": f"crop size fed to the model (default: {FULL_IMAGE_SIZE}; demo "
    f"{DEMO_IMAGE_SIZE})",
    "width": f"AlexNet width multiplier; meaningless with --model (default: 1.0; demo "
    f"{DEMO_WIDTH})",
    "model": "your own model instead of AlexNet, the recipe applied to it: MODULE:FUNCTION "
    "or path/to/file.py:FUNCTION, where FUNCTION(input_shape, num_classes) returns a "
    "Sequential or Functional keras.Model; --image-size still sets the crop it is fed "
    "(default: AlexNet)",
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
    recipe.add_argument("--model", default=None, metavar="MODULE:FUNCTION", help=text["model"])
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
    data.add_argument("--width", type=positive_float, default=None, help=text["width"])
    data.add_argument(
        "--no-cache",
        dest="cache",
        action="store_false",
        default=None,
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


# -- parsed flags -> a training set-up ---------------------------------------------------------


def is_demo(args: argparse.Namespace) -> bool:
    """No --data, or --data demo: the CPU-sized demo defaults apply."""
    return args.data in (None, "demo")


def resolve_recipe(args: argparse.Namespace):
    """The recipe to train: the recipe's own < the demo defaults < `--set` < `--epochs` and
    `--batch-size`."""
    from keras_recipes.recipes import get_recipe

    recipe = get_recipe(args.recipe or "default")
    if is_demo(args):
        # The CPU-sized demo trains in minutes with these; what the user sets still wins.
        recipe = recipe.replace(training={"epochs": DEMO_EPOCHS, "batch_size": DEMO_BATCH_SIZE})
    recipe = recipe.with_overrides(list(args.overrides))
    flags = {"epochs": args.epochs, "batch_size": args.batch_size}
    given = {key: value for key, value in flags.items() if value is not None}
    return recipe.replace(training=given) if given else recipe


def setup_from_args(args: argparse.Namespace, **changes: Any):
    """Parsed flags -> `TrainSetup` (`changes` replace flag values first, e.g. a seed).

    Parsers without the device flags (train-with-bo, tune) get the defaults.
    """
    from keras_recipes.training.setup import DEVICE_DEFAULTS, TrainSetup

    if changes:
        args = argparse.Namespace(**{**vars(args), **changes})
    demo = is_demo(args)
    model = getattr(args, "model", None)
    if model is not None:
        from keras_recipes.training.user_model import resolve_model

        resolve_model(model)  # a bad spec fails now: before any data are loaded
    return TrainSetup(
        resolve_recipe(args),
        "demo" if demo else args.data,
        image_size=args.image_size or (DEMO_IMAGE_SIZE if demo else FULL_IMAGE_SIZE),
        width=args.width or (DEMO_WIDTH if demo else 1.0),
        seed=args.seed if args.seed is not None else 0,
        cache=getattr(args, "cache", None),
        model=model,
        **{name: getattr(args, name, default) for name, default in DEVICE_DEFAULTS.items()},
    )


def train_flags_given(args: argparse.Namespace) -> bool:
    """Whether any set-up flag (--recipe, --set, --data, ...) was given; a search parser sets
    --recipe's default to None so that "not given" can be told apart."""
    return bool(
        args.recipe is not None
        or args.overrides
        or any(getattr(args, name) is not None for name in TRAIN_FLAGS)
    )


def demo_banner(setup, what: str = "epochs") -> None:
    """The first line of a run on the demo data: what it trains, and the full-size command.

    `what` says what the epochs count ("epochs", "epochs per trial").
    """
    if setup.data != "demo":
        return
    model = (
        f"your model {setup.model} ({setup.image_size} px"
        if setup.model
        else f"the CPU-sized AlexNet ({setup.image_size} px, width {setup.width:g}"
    )
    # The full-size hint names AlexNet's width only when AlexNet is what is trained.
    full = "--image-size 227" if setup.model else "--image-size 227 --width 1"
    print(
        f"Using the built-in synthetic demo data and {model}, {setup.epochs} {what}). Full-size "
        f"pipeline: python train.py --data /path/to/dogs-vs-cats/train {full}",
        flush=True,
    )


def default_run_dir(kind: str) -> Path:
    """`runs/<kind>-<YYYYmmdd-HHMMSS>`: where a command writes when --out is not given."""
    return Path("runs") / f"{kind}-{datetime.now():%Y%m%d-%H%M%S}"


# -- a resumed search: saved values unless a flag is given ------------------------------------


class Resumed:
    """The rule for a resumed search's values: a flag that is given wins, else the saved
    run's value, else the default (a new run).

    Example:

    >>> import argparse
    >>> args = argparse.Namespace(resume=None, out=None)
    >>> Resumed(args, None).pick(None, "seed", 0)
    0
    """

    def __init__(self, args: argparse.Namespace, load: Callable[[Path], Any] | None):
        self.saved = None
        self.run_dir = Path(args.out) if args.out else None
        if args.resume:
            self.run_dir = Path(args.resume)
            self.saved = load(self.run_dir)  # first: "not a run directory" says the most
            if args.out and Path(args.out).resolve() != self.run_dir.resolve():
                raise ConfigError(
                    f"--out {args.out} and --resume {args.resume} name different "
                    "directories; a resumed run continues in its own directory (drop --out)."
                )

    @property
    def resume(self) -> bool:
        """Whether a saved run is being continued."""
        return self.saved is not None

    def pick(self, value: Any, name: str, default: Any) -> Any:
        """`value` if given, else the saved run's `name`, else `default`."""
        return pick(value, self.saved, name, default)

    def setup(self, args: argparse.Namespace, seed: int, keep_saved: bool = True):
        """The saved run's set-up when no set-up flag is given (and `keep_saved`), else the
        flags' (a resumed run then checks that they agree with the saved one)."""
        if keep_saved and self.saved is not None and not train_flags_given(args):
            return self.saved.setup.replace(seed=seed)
        return setup_from_args(args, seed=seed)

    def out(self, kind: str) -> Path:
        """The run folder: --resume's, --out, or `runs/<kind>-<stamp>`."""
        return self.run_dir or default_run_dir(kind)


def pick(value: Any, saved: Any, name: str, default: Any) -> Any:
    """`value` if given (not None), else `saved.name` (when there is a saved run), else
    `default`.

    Example:

    >>> pick(None, None, "seed", 0), pick(3, None, "seed", 0)
    (0, 3)
    """
    if value is not None:
        return value
    return getattr(saved, name) if saved is not None else default


# -- running a command -----------------------------------------------------------------------


def fit_verbosity() -> int:
    """Keras `fit` verbosity: progress bars on a terminal, one line per epoch in logs and CI."""
    return 1 if sys.stdout.isatty() else 2


def guarded(run: Callable[..., int], *args: Any) -> int:
    """Runs `run(*args)`, turning user errors into a message and exit code 2, no traceback."""
    try:
        return run(*args)
    except KerasRecipesError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def with_recipe(args: argparse.Namespace, recipe: str) -> argparse.Namespace:
    """A copy of `args` with --recipe set (compare resolves each of its recipes so)."""
    one = copy.copy(args)
    one.recipe = recipe
    return one
