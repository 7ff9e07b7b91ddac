"""The 1-D toy demo of the original post: a cheap, deterministic objective with known maximum.

f(x) = exp(-(x-3)^2) + exp(-(3x-2)^2) + 1/(x^2+1) on (-2, 6), maximum f(0.631) = 1.707.
The engine tests, resume and distributed runs use it (`--objective toy`) because it costs
nothing and bayes_opt's own `maximize` gives the reference sequence of points.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np

#: Bounds, budget and acquisition of the original toy run.
TOY_BOUNDS: dict[str, tuple[float, float]] = {"x": (-2.0, 6.0)}
TOY_INIT_POINTS = 2
TOY_N_ITER = 14
TOY_XI = 0.01
#: Where the true maximum is (to 3 decimals), for plots and checks.
TOY_ARGMAX = 0.631


def toy_function(x):
    """f(x) = exp(-(x-3)^2) + exp(-(3x-2)^2) + 1/(x^2+1); works on floats and arrays.

    Example:

    >>> round(float(toy_function(0.631)), 3)
    1.707
    """
    return np.exp(-((x - 3) ** 2)) + np.exp(-((3 * x - 2) ** 2)) + 1 / (x**2 + 1)


class ToyObjective:
    """The toy function as a tuning objective: `params["x"]` -> f(x).

    Example:

    >>> objective = ToyObjective()
    >>> round(objective({"x": 0.631}), 3)
    1.707

    Args:
        delay: float. Seconds to sleep per evaluation, so a test can kill a run mid-trial.
    """

    def __init__(self, delay: float = 0.0):
        self.delay = float(delay)

    def __call__(self, params: Mapping[str, float], **_: object) -> float:
        if self.delay > 0:
            time.sleep(self.delay)
        return float(toy_function(float(params["x"])))
