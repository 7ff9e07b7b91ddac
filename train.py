#!/usr/bin/env python
"""Train the AlexNet dogs-vs-cats pipeline with a recipe: `python train.py --recipe selu`.

The same command line as `keras-recipes`: `python train.py [train flags]` trains (see
`python train.py --help`); `python train.py compare ...`, `tune ...` and `list` run those
commands.
"""

import sys

from keras_recipes.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="train.py"))
