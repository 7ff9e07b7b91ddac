"""Learning-rate schedules Keras lacks.

For exponential, piecewise-constant and inverse-time decay use Keras's own
`keras.optimizers.schedules.ExponentialDecay`, `PiecewiseConstantDecay` and
`InverseTimeDecay`.
"""

from keras_recipes.schedules.inverse_sqrt import InverseSqrtDecay
from keras_recipes.schedules.power import PowerDecay

__all__ = ["InverseSqrtDecay", "PowerDecay"]
