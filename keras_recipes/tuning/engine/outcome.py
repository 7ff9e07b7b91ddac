"""`TrialOutcome`: what one evaluation of an objective reports back to the tuner."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

#: Status of a finished trial -> the number stored in keras-tuner's (numeric-only) metrics.
#: "invalid": the point names a combination the recipe validation forbids; nothing trained.
#: "pruned": stopped by `--prune` (its score is the best so far, and it still informs the GP).
STATUS_CODES: dict[str, int] = {
    "completed": 0,
    "early_stopped": 1,
    "diverged": 2,
    "invalid": 3,
    "pruned": 4,
}
STATUS_NAMES: dict[int, str] = {code: name for name, code in STATUS_CODES.items()}


@dataclass(frozen=True)
class TrialOutcome:
    """One trial's result.

    Example:

    >>> TrialOutcome.from_value(float("nan")).status
    'diverged'
    >>> TrialOutcome.from_value(0.75)
    TrialOutcome(score=0.75, best_epoch=None, epochs_run=None, status='completed')
    >>> skipped = TrialOutcome(float("nan"), status="invalid")
    >>> skipped.invalid, skipped.diverged
    (True, False)

    Args:
        score: float. The objective (best validation accuracy); NaN or inf when diverged.
        best_epoch: int or None. 1-based epoch of the best score.
        epochs_run: int or None.
        status: str. "completed", "early_stopped", "diverged", "invalid" (never trained:
            the recipe validation rejected the point) or "pruned" (stopped by the pruner).
    """

    score: float
    best_epoch: int | None = None
    epochs_run: int | None = None
    status: str = "completed"

    def __post_init__(self) -> None:
        if self.status not in STATUS_CODES:
            raise ValueError(
                f"TrialOutcome.status must be one of {sorted(STATUS_CODES)}; got {self.status!r}."
            )

    @classmethod
    def from_value(cls, value: Any) -> TrialOutcome:
        """A bare objective value; a non-finite one marks the trial diverged."""
        if isinstance(value, TrialOutcome):
            return value
        score = float(value)
        return cls(score=score, status="completed" if math.isfinite(score) else "diverged")

    @property
    def diverged(self) -> bool:
        """True when the loss blew up or the score is not a finite number."""
        if self.invalid:
            return False  # never trained: it has no score, which is not a blow-up
        return self.status == "diverged" or not math.isfinite(self.score)

    @property
    def invalid(self) -> bool:
        """True when the point was rejected before training (a forbidden combination)."""
        return self.status == "invalid"
