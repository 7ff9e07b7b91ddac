#!/usr/bin/env python
"""Train the AlexNet dogs-vs-cats pipeline with a recipe: `python train.py --recipe selu`.

The same command line as `keras-recipes train`; see `python train.py --help`.
"""

import sys

from keras_recipes.cli import train_main

if __name__ == "__main__":
    sys.exit(train_main())
