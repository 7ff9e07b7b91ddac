"""A clean first screen: TensorFlow's start-up noise hidden, its real warnings kept.

Importing TensorFlow, and its first look for GPUs, write C++ log lines straight to file
descriptor 2 (oneDNN's notice, the CPU-instructions notice, "Could not find cuda
drivers", `E0000 ... failed call to cuInit` on a machine without a GPU). They come before
absl's logging is set up, so neither `TF_CPP_MIN_LOG_LEVEL` (which would also hide real
warnings) nor Python's `logging` can filter them. `import_tensorflow_quietly` runs the
import and the device probe with descriptor 2 fed through a pipe, drops the lines that
match `NOISE`, and passes every other line on, so a real warning or error still shows.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import sys
import threading
from collections.abc import Iterator

#: Start-up lines that tell a user nothing they can act on; anything else is passed on.
NOISE = re.compile(
    "|".join(
        [
            r"All log messages before absl::InitializeLog\(\) is called are written to STDERR",
            r"oneDNN custom operations are on",
            r"This TensorFlow binary is optimized to use available CPU instructions",
            r"^To enable the following instructions: .* rebuild TensorFlow with the "
            r"appropriate compiler flags\.$",
            r"Could not find cuda drivers on your machine, GPU will not be used",
            r"failed call to cuInit",
            r"Unable to register cu(DNN|FFT|BLAS) factory",
            r"computation placer already registered",
            r"TF-TRT Warning: Could not find TensorRT",
        ]
    )
)
_PIPE_SIZE = 1 << 20  # the C++ writers never block on the reader thread
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow and probes the devices with the start-up noise filtered out.

    The device probe (`tf.config.list_physical_devices`) is where TensorFlow calls
    `cuInit`; it configures nothing, so a distribution strategy can still be set up after.

    Example:

    >>> import_tensorflow_quietly()
    >>> "tensorflow" in sys.modules
    True
    """
    # C++ INFO lines off (TensorFlow's own default shows them); warnings and errors stay.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    if "tensorflow" in sys.modules:
        return
    with filtered_stderr(NOISE):
        import tensorflow as tf

        tf.config.list_physical_devices()


@contextlib.contextmanager
def filtered_stderr(pattern: re.Pattern[str]) -> Iterator[None]:
    """Within the block, lines written to descriptor 2 (by Python or C++) that match
    `pattern` are dropped; the others reach the real stderr, in order.

    Example:

    >>> with filtered_stderr(re.compile("noise")):
    ...     pass
    """
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    with contextlib.suppress(OSError):  # Linux only; elsewhere the default size
        fcntl.fcntl(write_end, _F_SETPIPE_SZ, _PIPE_SIZE)
    real = os.dup(2)
    os.dup2(write_end, 2)
    os.close(write_end)
    pump = threading.Thread(target=_pass_on, args=(read_end, real, pattern), daemon=True)
    pump.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(real, 2)  # the pipe's last writer closed: the pump reads to the end
        pump.join()
        os.close(real)


def _pass_on(read_end: int, real: int, pattern: re.Pattern[str]) -> None:
    with os.fdopen(read_end, "rb") as pipe:
        for line in pipe:
            if not pattern.search(line.decode(errors="replace").rstrip("\n")):
                os.write(real, line)
