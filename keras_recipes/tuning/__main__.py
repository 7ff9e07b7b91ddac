"""`python -m keras_recipes.tuning`: the same as `train-with-bo`."""

import sys

from keras_recipes.tuning.cli import main

sys.exit(main())
