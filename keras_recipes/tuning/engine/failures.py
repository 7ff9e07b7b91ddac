"""`TrialsFailedError`: a search in which no trial produced a result."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from keras_recipes.errors import KerasRecipesError


class TrialsFailedError(KerasRecipesError):
    """Every finished trial failed; the message lists the distinct causes.

    keras-tuner records a crashed trial as FAILED and goes on (or stops after three in a
    row), and `search()` returns normally either way; this error makes that visible.

    Example:

    >>> err = TrialsFailedError({1: "Traceback...\\nImportError: no tensorboard",
    ...                          2: "Traceback...\\nImportError: no tensorboard"}, total=2)
    >>> print(err)
    all 2 finished trials failed. Causes:
      2 x ImportError: no tensorboard (trials 1, 2)

    Args:
        messages: trial number -> error message (usually a traceback).
        total: int. Trials that finished.
        headline: str or None. First line (default: "all N finished trials failed...").
    """

    def __init__(self, messages: Mapping[int, str], total: int, headline: str | None = None):
        self.messages = dict(messages)
        self.total = total
        causes = Counter()
        trials: dict[str, list[int]] = {}
        for number, message in sorted(self.messages.items()):
            cause = last_line(message) or "unknown error (no message recorded)"
            causes[cause] += 1
            trials.setdefault(cause, []).append(number)
        lines = [headline or f"all {total} finished trials failed. Causes:"]
        for cause, count in causes.most_common():
            numbers = ", ".join(str(n) for n in trials[cause])
            lines.append(f"  {count} x {cause} (trials {numbers})")
        if not causes:
            lines.append("  (no error messages were recorded; see the workers' output)")
        super().__init__("\n".join(lines))


def last_line(message: str) -> str:
    """The last non-empty line of a traceback: the exception and its message."""
    lines = [line.strip() for line in str(message).strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""
