#!/usr/bin/env python
"""Train the AlexNet dogs-vs-cats pipeline with a recipe: `python train.py --recipe selu`.

The same command line as `keras-recipes`: `python train.py [train flags]` trains (see
`python train.py --help`); `python train.py compare ...`, `tune ...` and `list` run those
commands.
"""

import sys

from keras_recipes.cli import SUBCOMMANDS, main, train_main

if __name__ == "__main__":
    argv = sys.argv[1:]
    if argv and argv[0] in SUBCOMMANDS:
        sys.exit(main(argv, prog="train.py"))
    sys.exit(train_main(argv))
