"""`python -m keras_recipes.tuning`: the same as `train-with-bo`."""

import sys

from keras_recipes.cli.train_with_bo import main

sys.exit(main())
