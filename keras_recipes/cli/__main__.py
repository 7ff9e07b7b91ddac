"""`python -m keras_recipes.cli`: the same as `keras-recipes`."""

import sys

from keras_recipes.cli import main

sys.exit(main())
