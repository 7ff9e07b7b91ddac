"""Keras optimizers whose momentum (SGD) or beta_1 (Adam family) lives in a variable.

Keras keeps `SGD.momentum` and `Adam.beta_1` as Python floats, frozen into the train
step when `fit()` traces it, so a callback that changes them has no effect. These
subclasses read a scalar `keras.Variable` instead; every one exposes it as
`optimizer.momentum_variable` (and as `optimizer.momentum` / `optimizer.beta_1`), which
`keras_recipes.callbacks.OneCycleScheduler` assigns to cycle momentum.
"""

from keras_recipes.optimizers.adam import Adam
from keras_recipes.optimizers.adamw import AdamW
from keras_recipes.optimizers.nadam import Nadam
from keras_recipes.optimizers.sgd import SGD

__all__ = ["SGD", "Adam", "AdamW", "Nadam"]
