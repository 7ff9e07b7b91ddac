"""Command line: `keras-recipes` (and `python train.py`) with its commands, and `train-with-bo`.

One module per command (`train`, `recipes` for `list`, `compare`, `tune`, `cache`,
`train_with_bo`), the flags and rules they share in `arguments`. Each command module
imports its library code only once its flags are parsed, so `--help` is fast and
TensorFlow's start-up noise can be hidden first.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

#: `keras-recipes` commands -> (module under keras_recipes.cli, one-line help).
SUBCOMMANDS = {
    "train": ("train", "train the AlexNet pipeline"),
    "list": ("recipes", "list the registered recipes"),
    "compare": ("compare", "train several recipes for several seeds; which wins on my data"),
    "tune": ("tune", "search the recipe space with keras-tuner (random, bayesian, hyperband)"),
    "cache": ("cache", "list or clear the decoded-image stores (cache list|clear)"),
}


def main(argv: Sequence[str] | None = None, prog: str = "keras-recipes") -> int:
    """Entry point of `keras-recipes`: `train` (the default), `list`, `compare`, `tune` or
    `cache`.

    `python train.py compare ...` and the others come here too (prog "train.py");
    `python train.py [flags]` trains.

    Example:

    >>> import contextlib, io
    >>> with contextlib.redirect_stdout(io.StringIO()) as shown:
    ...     code = main(["--help"])
    >>> code, "compare" in shown.getvalue()
    (0, True)
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(f"usage: {prog} {{{','.join(SUBCOMMANDS)}}} ...\n")
        for name, (_, text) in SUBCOMMANDS.items():
            print(f"  {name:9s}{text}")
        return 0
    command = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    if command is None:  # `keras-recipes --epochs 2` and `python train.py ...` train
        train_prog = f"{prog} train" if prog == "keras-recipes" else prog
        return _command("train").main(argv, prog=train_prog)
    return _command(command).main(argv[1:], prog=f"{prog} {command}")


def _command(name: str):
    # Imported on use: compare and tune pull in pandas and keras-tuner, which train never needs.
    return importlib.import_module(f"keras_recipes.cli.{SUBCOMMANDS[name][0]}")
