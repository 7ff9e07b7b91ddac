"""`keras-recipes train ...` (also `python train.py ...`): train the AlexNet pipeline with a
recipe, continue a killed run (`--resume`), or run the LR range test (`--find-lr`).

The run's set-up is saved in `RUN_DIR/command.json` as training begins; `--resume RUN_DIR`
reads it back.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from keras_recipes import atomic
from keras_recipes.cli.arguments import (
    EXIT_DIVERGED,
    EXIT_INTERRUPTED,
    add_device_arguments,
    add_train_arguments,
    default_run_dir,
    demo_banner,
    fit_verbosity,
    guarded,
    setup_from_args,
)
from keras_recipes.errors import ConfigError
from keras_recipes.startup import import_tensorflow_quietly

COMMAND_FILE = "command.json"
#: Flags a resumed run takes from its own command.json, never from the command line.
RUN_SETTINGS = (
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


def build_parser(prog: str = "train.py") -> argparse.ArgumentParser:
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


def run(args: argparse.Namespace, parser_defaults: dict[str, Any] | None = None) -> int:
    """Runs one training from parsed flags; returns the exit code."""
    if args.list_recipes:
        from keras_recipes.cli.recipes import recipes_table

        print(recipes_table())
        return 0
    resume = args.resume is not None
    setup, tta, run_dir = _resumed(args, parser_defaults or {}) if resume else _new_run(args)
    demo_banner(setup)
    if args.find_lr:
        return _find_lr(setup, run_dir)
    from keras_recipes.training.fit import TrainingInterrupted, train
    from keras_recipes.training.run_dir import backup_epoch

    callbacks = []
    if not resume and backup_epoch(run_dir) is None:
        callbacks.append(_command_writer(setup, tta, run_dir))
    try:
        result = train(
            **setup.train_kwargs(),
            run_dir=run_dir,
            tta=tta,
            callbacks=callbacks,
            verbose=fit_verbosity(),
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
    return _report(result, setup, run_dir)


def _new_run(args: argparse.Namespace):
    setup = setup_from_args(args)
    run_dir = Path(args.out) if args.out else default_run_dir(setup.recipe.name)
    return setup, args.tta, run_dir


def _resumed(args: argparse.Namespace, parser_defaults: dict[str, Any]):
    """The saved set-up of the run in `args.resume`; other training flags are an error.

    The device placement (`--distribute`, `--jit-compile`) and `--no-cache` may differ: a
    run may be continued on another machine.
    """
    from keras_recipes.training.setup import TrainSetup

    given = [
        f"--{k.replace('_', '-')}"
        for k in RUN_SETTINGS
        if getattr(args, k) != parser_defaults.get(k, getattr(args, k))
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
    here = {"distribute": args.distribute, "jit_compile": args.jit_compile, "cache": args.cache}
    if "setup" in saved:
        setup = TrainSetup.from_json(saved["setup"], source=str(path)).replace(**here)
        return setup, saved.get("tta"), Path(args.resume)
    # A command.json written before the set-up was saved whole holds the flags themselves.
    flags = argparse.Namespace(**{**vars(args), **saved})
    return setup_from_args(flags), flags.tta, Path(args.resume)


def _command_writer(setup, tta: bool | None, run_dir: Path):
    """A callback that writes what `--resume` reads into `run_dir` as training begins.

    `train()` creates `run_dir` once the recipe, flags and data have passed its checks, just
    before the first epoch; writing `command.json` then, and not before `train()` runs, leaves
    no folder behind after bad input, yet a run killed in its first epoch can resume.
    """
    import keras

    settings = {"setup": setup.to_json(), "tta": tta, "out": str(run_dir)}
    path = run_dir / COMMAND_FILE
    return keras.callbacks.LambdaCallback(
        on_train_begin=lambda logs: atomic.write_json(path, settings, indent=2)
    )


def _report(result, setup, run_dir: Path) -> int:
    """The final line (and a diverged run's advice); the exit code."""
    summary = result.summary
    if result.status == "diverged":
        print(
            f"error: training diverged (loss became NaN or inf at epoch {summary['epochs_run']}); "
            f"lower optimizer.learning_rate (now {setup.recipe.optimizer.learning_rate:g}) or "
            f"add clipping (optimizer.clipnorm). What was computed is in {run_dir}.",
            file=sys.stderr,
        )
    print(final_line(summary, run_dir))
    return EXIT_DIVERGED if result.status == "diverged" else 0


def _find_lr(setup, run_dir: Path) -> int:
    """`--find-lr`: the LR range test; `run_dir` gets only the plot, made after the sweep."""
    from keras_recipes.training.lr_range import find_learning_rate
    from keras_recipes.training.run_dir import check_run_dir, prepare_run_dir

    check_run_dir(run_dir)  # an unwritable --out fails now, not after the sweep
    finder = find_learning_rate(**setup.train_kwargs(), verbose=fit_verbosity())
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
    """`best_val_accuracy=<float> best_epoch=<int> ... run_dir=<path>`.

    Example:

    >>> final_line({"best_val_accuracy": 0.9, "best_epoch": 3, "status": "completed",
    ...             "train_images_per_second": 512.4}, Path("runs/x"))
    'best_val_accuracy=0.9000 best_epoch=3 images_per_s=512 status=completed run_dir=runs/x'
    """
    parts = [f"best_val_accuracy={summary['best_val_accuracy']:.4f}"]
    parts.append(f"best_epoch={summary['best_epoch']}")
    for key in ("test_accuracy", "test_accuracy_tta"):
        if key in summary:
            parts.append(f"{key}={summary[key]:.4f}")
    parts.append(f"images_per_s={summary['train_images_per_second']:.0f}")
    parts.append(f"status={summary['status']}")
    parts.append(f"run_dir={run_dir}")
    return " ".join(parts)


def main(argv: Sequence[str] | None = None, prog: str = "train.py") -> int:
    """Entry point of `python train.py` and `keras-recipes train`."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    import_tensorflow_quietly()
    defaults = {k: parser.get_default(k) for k in RUN_SETTINGS}
    return guarded(run, args, defaults)
