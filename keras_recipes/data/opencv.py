"""OpenCV, imported on first use (66 ms) with its own thread pool off."""

from __future__ import annotations

import functools
from types import ModuleType


@functools.cache
def opencv() -> ModuleType:
    """The `cv2` module, set to run each call in the calling thread.

    The toolkit's decoding threads are the parallelism; OpenCV's pool on top of them only
    oversubscribes the cores, and its threads do not survive a fork (a forked child that
    resizes would hang).

    Example:

    >>> opencv().getNumThreads()
    1
    """
    import cv2

    cv2.setNumThreads(1)
    return cv2
