"""Process-wide TensorFlow clean-up for a process that trains many models in turn (a search,
a comparison): each model's graphs freed after it, and a misleading warning silenced."""

from __future__ import annotations

import gc
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from keras_recipes import _compat


@contextmanager
def free_trial_memory() -> Iterator[None]:
    """Frees what the `train()` calls inside the block left behind, however the block ends.

    Every `train()` builds a new model; in one process that trains many (a search, a
    comparison), graphs and weights pile up unless the Keras session is cleared and the
    custom-gradient registrations the block added are dropped (see
    `_forget_custom_gradients`). Models created inside the block must not be used after it.

    Example:

    >>> import keras
    >>> with free_trial_memory():
    ...     model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> del model
    """
    import keras

    registered = _custom_gradients()
    try:
        yield
    finally:
        keras.backend.clear_session()
        _forget_custom_gradients(registered)
        gc.collect()


def _not_a_retracing_warning(record: logging.LogRecord) -> bool:
    return "triggered tf.function retracing" not in record.getMessage()


def quiet_retracing_warnings() -> None:
    """Drops TensorFlow's "N out of the last M calls ... triggered tf.function retracing"
    warning (only that one) for the rest of the process.

    A process that trains many models (a search, a comparison) traces each new model's
    train step once; TF counts those traces against Keras's one step function and warns
    of a retracing loop that is not there. Other TF warnings still show.
    """
    logger = logging.getLogger("tensorflow")
    if _not_a_retracing_warning not in logger.filters:
        logger.addFilter(_not_a_retracing_warning)


#: Whether the user has been told that trial memory cannot be freed on this TF.
_warned_no_registry = False


def _gradient_registry() -> dict | None:
    registry = _compat.gradient_registry()
    if registry is None:
        _warn_no_registry()
    return registry


def _warn_no_registry() -> None:
    # Said once per process: without the registry every trial keeps its graphs (~15-20 MB).
    global _warned_no_registry
    if _warned_no_registry:
        return
    _warned_no_registry = True
    import tensorflow as tf

    warnings.warn(
        f"TensorFlow {tf.__version__} has no private gradient registry where keras-recipes "
        "expects it (see keras_recipes._compat.gradient_registry), so trials cannot "
        "drop their custom-gradient entries: each trial in this process keeps its graphs "
        "(~15-20 MB). Use the TensorFlow version pyproject.toml allows, or fewer trials per "
        "process.",
        RuntimeWarning,
        stacklevel=3,
    )


def _custom_gradients() -> set[str]:
    registry = _gradient_registry()
    return set(registry) if registry is not None else set()


def _forget_custom_gradients(before: set[str]) -> None:
    """Drops the `CustomGradient-N` entries a trial added to TF's global gradient registry.

    Written by hand because neither Keras nor TF does it (TF 2.21): every traced train step
    registers one (Keras' all-reduce of the gradients goes through `tf.custom_gradient`),
    and the entry's closure pins the step's whole FuncGraph, so `clear_session()` frees
    nothing and each trial kept ~15-20 MB (tensorflow/tensorflow#97697, keras-team/tf-keras
    #286). The entries are only read while a gradient is being traced; the trial's
    functions are gone, so nothing reads these again.
    """
    registry = _gradient_registry()
    if registry is None:
        return
    for name in [k for k in registry if k not in before and k.startswith("CustomGradient-")]:
        del registry[name]
