"""The one rule for a seed, shared by every command line and every library entry point.

A seed is an integer in `0..MAX_SEED`. numpy's legacy seeding takes `0..2**32-1` (Keras's
`set_random_seed` and bayes_opt's `RandomState` use it), and keras-tuner reads seed 0 as
"no seed", so the tuners hand it `seed + 1`, which must fit as well.

Example:

>>> check_seed(7)
7
>>> seed_problem(-1)
'expected an integer in 0..4294967294, got -1'
>>> seed_problem(MAX_SEED, count=2)
'seeds 4294967294..4294967295 pass 4294967294, the largest seed'
"""

from __future__ import annotations

import numbers
from typing import Any

from keras_recipes.errors import ConfigError

MAX_SEED = 2**32 - 2


def seed_problem(seed: Any, count: int = 1) -> str | None:
    """What is wrong with `seed` and the `count - 1` seeds after it; None when nothing is.

    Args:
        seed: the seed to check.
        count: int. How many consecutive seeds, from `seed` on, will be used.

    Returns:
        str or None. The problem, naming the value and the valid range.
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        return f"expected an integer in 0..{MAX_SEED}, got {seed!r}"
    last = int(seed) + count - 1
    if last <= MAX_SEED:
        return None
    if count == 1:
        return f"expected an integer in 0..{MAX_SEED}, got {seed!r}"
    return f"seeds {seed}..{last} pass {MAX_SEED}, the largest seed"


def check_seed(seed: Any, *, count: int = 1, name: str = "seed") -> int:
    """`seed` as an int, or a `ConfigError` that names `name`, the value and the range.

    Args:
        seed: the seed to check.
        count: int. How many consecutive seeds, from `seed` on, will be used.
        name: str. What the message calls the seed (a flag or an argument name).

    Returns:
        int. The seed.

    Raises:
        ConfigError: the seed (or one of the following `count - 1`) is out of range.
    """
    problem = seed_problem(seed, count)
    if problem is not None:
        raise ConfigError(f"{name}: {problem}.")
    return int(seed)
