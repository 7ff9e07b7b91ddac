"""Keep a streaming process's memory flat: large buffers go back to the system when freed.

The pipelines hand the model one batch after another: buffers of 1-32 MB (a batch read
from the store, its crops, the model's activations) allocated and freed thousands of times
by tf.data's threads. glibc's malloc raises its mmap threshold each time such a block is
freed (up to 32 MB), after which blocks of that size come from the heap arenas, where a
freed block stays with the process and the arenas fragment. Memory then creeps with the
number of batches, so with the size of the data set: evaluating 200 batches of the
100,000-image store went from 1,333 to 1,422 MiB of RssAnon, and a whole `train.py` epoch
plus evaluation peaked 14% higher at 100,000 images than at 25,000. With the threshold
fixed at 1 MiB (which also turns off the dynamic raise) the same evaluation stayed at
1,327-1,332 MiB throughout (benchmarks/README.md, "Decoded-image store at scale").

No library sets this: it is glibc's own knob (`mallopt`), reached through ctypes; elsewhere
(macOS, musl, Windows) this is a no-op. A threshold the user set in the environment
(`MALLOC_MMAP_THRESHOLD_`, glibc's own variable) is left as it is.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

#: Blocks of at least this many bytes are mapped on their own and unmapped when freed.
MMAP_THRESHOLD = 1 << 20
_M_MMAP_THRESHOLD = -3  # glibc's malloc.h


@functools.cache
def return_large_buffers() -> bool:
    """Makes glibc's malloc give blocks of 1 MiB or more back to the system when freed.

    Idempotent and process-wide. Returns whether the setting is in effect (False where the
    C library is not glibc, or the user chose a threshold through the environment).

    Example:

    >>> isinstance(return_large_buffers(), bool)
    True
    """
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    mallopt = _glibc_function("mallopt")
    if mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))


def _glibc_function(name: str):
    """`name` from the running C library if it is glibc, else None."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    if not hasattr(libc, "gnu_get_libc_version"):
        return None
    function = getattr(libc, name, None)
    if function is not None:
        function.argtypes = [ctypes.c_int, ctypes.c_int]
        function.restype = ctypes.c_int
    return function
