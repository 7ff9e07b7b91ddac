"""Writes that a kill cannot tear: every file a later run reads goes through here.

A file written in place and killed half-way (SIGKILL, OOM killer, a power cut before the
cache is flushed) is left truncated, and the next run that reads it (`--resume`, a rerun
of `compare`, a tuning worker) fails on half a CSV or JSON document. Here the new content
goes to a temporary file in the same folder, is flushed to disk, and is then renamed over
the target with `os.replace`, which POSIX and Windows make atomic within one file system:
a reader sees the old file or the new one, never part of one.

The standard library and pandas have no such writer (`tempfile` leaves the rename to the
caller); `atomic_path` is that missing step, and the `write_*` functions are the writes
the toolkit makes.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas is the caller's; importing it here would slow every CLI start
    import pandas as pd


def temp_name(path: str | Path) -> Path:
    """A unique hidden name beside `path` that keeps its suffix.

    The suffix stays last because some writers choose the format by it (Keras's
    `model.save` wants `.keras`, `numpy.savez` appends `.npz` otherwise, matplotlib
    picks PNG or GIF). The process id and a random part keep concurrent writers (tuning
    workers sharing a folder) off each other's temporary file.

    Example:

    >>> name = temp_name("runs/x/history.csv")
    >>> name.parent.as_posix(), name.name.startswith(".history.csv."), name.suffix
    ('runs/x', True, '.csv')
    """
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp{path.suffix}")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yields a temporary path to write; on success it replaces `path` in one step.

    If the block raises, the temporary file is removed and `path` keeps its old content.

    Example:

    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "trials.csv"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("trial,score\\n1,0.9\\n")
    >>> target.read_text()
    'trial,score\\n1,0.9\\n'
    >>> sorted(p.name for p in target.parent.iterdir())  # no temporary file left
    ['trials.csv']

    Args:
        path: str or Path. The file to (re)write; its folder must exist.

    Yields:
        Path. Where the block writes the new content.
    """
    path = Path(path)
    tmp = temp_name(path)
    try:
        yield tmp
        _flush_to_disk(tmp)
        os.replace(tmp, path)
    except BaseException:
        # BaseException: a Ctrl-C mid-write must not leave the temporary file behind either.
        tmp.unlink(missing_ok=True)
        raise


def _flush_to_disk(path: Path) -> None:
    # Without fsync a power cut after the rename can leave the new name on empty blocks.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text(path: str | Path, text: str) -> Path:
    """Writes `text` (UTF-8) to `path` atomically; returns `path` as a Path.

    Example:

    >>> import tempfile
    >>> path = write_text(Path(tempfile.mkdtemp()) / "recipe.toml", 'name = "selu"\\n')
    >>> path.read_text()
    'name = "selu"\\n'
    """
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | Path, obj: Any, **dumps_kwargs: Any) -> Path:
    """`json.dumps(obj, **dumps_kwargs)` plus a final newline, written atomically.

    Example:

    >>> import tempfile
    >>> path = write_json(Path(tempfile.mkdtemp()) / "best.json", {"trial": 3}, indent=2)
    >>> json.loads(path.read_text())
    {'trial': 3}
    """
    return write_text(path, json.dumps(obj, **dumps_kwargs) + "\n")


def write_csv(path: str | Path, frame: pd.DataFrame, **to_csv_kwargs: Any) -> Path:
    """`frame.to_csv(path, **to_csv_kwargs)`, written atomically.

    Example:

    >>> import tempfile
    >>> import pandas as pd
    >>> path = write_csv(Path(tempfile.mkdtemp()) / "h.csv", pd.DataFrame({"epoch": [1]}),
    ...                  index=False)
    >>> path.read_text()
    'epoch\\n1\\n'
    """
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, **to_csv_kwargs)
    return Path(path)
