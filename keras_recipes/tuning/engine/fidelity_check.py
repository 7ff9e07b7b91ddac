"""The fidelity check of a multi-fidelity search: do low budgets rank points as the full one does?

Hyperband and BOHB are only as good as their low-budget scores: successive halving promotes
what scores best after a few epochs, and BOHB's GP is fitted on low budgets until the full
one has enough points. Where those scores rank configurations differently from the full
budget, both spend their budget on the wrong ones.

After each bracket, `FidelityCheck` takes the configurations that reached the top rung
(max epochs) and, for each lower budget, the Kendall tau between their scores there and at
the top. The pairs are pooled over the brackets so far: one bracket takes only one to three
configurations to the top. A tau below 0.3 over at least 5 pairs prints a one-line warning.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd

from keras_recipes import atomic
from keras_recipes.tuning.engine.rungs import hyperband_schedule

#: A rank correlation below this between a low budget and the top one is "does not predict".
LOW_TAU = 0.3
#: Fewer pairs than this say nothing either way (tau of 4 pairs moves in steps of 1/3).
MIN_PAIRS = 5
WARNING = (
    "low-budget scores do not predict full-budget ones here; consider --search bo or a larger "
    "minimum budget (--min-epochs)"
)
FILE_NAME = "fidelity.json"
#: Statuses whose score is a measurement (diverged ones: the worst score, told to the oracle).
_SCORED = ("completed", "early_stopped", "diverged")


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """scipy's Kendall tau-b of `x` and `y`; NaN with fewer than 2 pairs or a constant side.

    Example:

    >>> round(kendall_tau([1, 2, 3, 4, 5], [1, 2, 3, 5, 4]), 6)  # (9 - 1) / 10 pairs
    0.8
    >>> math.isnan(kendall_tau([1.0], [2.0]))
    True
    """
    from scipy.stats import kendalltau

    if len(x) < 2 or len(set(x)) < 2 or len(set(y)) < 2:
        return math.nan
    return float(kendalltau(x, y).statistic)


@dataclass(frozen=True)
class RungTau:
    """The rank agreement of one lower budget with the top one.

    Attributes:
        budget: int. The lower budget (epochs).
        top_budget: int. The top rung's budget (max epochs).
        pairs: int. Configurations scored at both.
        tau: float. Kendall tau-b of their scores (NaN: fewer than 2 pairs).
    """

    budget: int
    top_budget: int
    pairs: int
    tau: float

    @property
    def low(self) -> bool:
        """tau < LOW_TAU over at least MIN_PAIRS pairs."""
        return self.pairs >= MIN_PAIRS and self.tau < LOW_TAU  # NaN compares False

    def to_json(self) -> dict[str, Any]:
        tau = None if math.isnan(self.tau) else round(self.tau, 6)
        return {
            "budget": self.budget,
            "top_budget": self.top_budget,
            "pairs": self.pairs,
            "tau": tau,
        }

    def describe(self) -> str:
        tau = "-" if math.isnan(self.tau) else f"{self.tau:.2f}"
        unit = "epoch" if self.budget == 1 else "epochs"
        return f"{self.budget} {unit} {tau} ({self.pairs} pair{'' if self.pairs == 1 else 's'})"


def rung_taus(
    frame: pd.DataFrame, param_names: Sequence[str], objective_name: str, top_budget: int
) -> list[RungTau]:
    """Kendall tau of each lower budget's scores with the top budget's, over the
    configurations (bracket and point) scored at both, lowest budget first.

    Example:

    >>> frame = pd.DataFrame({
    ...     "x": [0.1, 0.2, 0.3, 0.1, 0.2], "bracket": [1] * 5, "budget": [1, 1, 1, 3, 3],
    ...     "f": [0.5, 0.7, 0.6, 0.4, 0.9], "status": ["completed"] * 5})
    >>> rung_taus(frame, ["x"], "f", top_budget=3)
    [RungTau(budget=1, top_budget=3, pairs=2, tau=1.0)]

    Args:
        frame: DataFrame. Rows of `trials.csv` with `budget` and `bracket` columns.
        param_names: the space's parameters (a promoted configuration keeps its point).
        objective_name: str. The score column.
        top_budget: int. The top rung's budget (max epochs).
    """
    ok = frame[frame["status"].isin(_SCORED) & frame["budget"].notna()]
    ok = ok[np.isfinite(ok[objective_name].astype(float))]
    scores: dict[int, dict[tuple, float]] = {}
    for row in ok.to_dict("records"):
        key = (int(row["bracket"]), *(_hashable(row[n]) for n in param_names))
        scores.setdefault(int(row["budget"]), {}).setdefault(key, float(row[objective_name]))
    top = scores.get(int(top_budget), {})
    out = []
    for budget in sorted(b for b in scores if b < top_budget):
        keys = [k for k in scores[budget] if k in top]
        tau = kendall_tau([scores[budget][k] for k in keys], [top[k] for k in keys])
        out.append(RungTau(budget, int(top_budget), len(keys), tau))
    return out


def _hashable(value: Any) -> float | str:
    # A number (numpy or Python) as a float; a category (the recipe space's) as itself.
    return float(value) if isinstance(value, int | float | np.number) else str(value)


def warning_line(taus: Sequence[RungTau]) -> str | None:
    """The one-line warning for the worst low tau, or None when every rung predicts.

    Example:

    >>> warning_line([RungTau(1, 9, 6, -0.2), RungTau(3, 9, 6, 0.9)])[:66]
    'warning: Kendall tau -0.20 between 1- and 9-epoch scores over 6 co'
    >>> warning_line([RungTau(1, 9, 4, -1.0)]) is None
    True
    """
    low = [t for t in taus if t.low]
    if not low:
        return None
    worst = min(low, key=lambda t: t.tau)
    return (
        f"warning: Kendall tau {worst.tau:.2f} between {worst.budget}- and "
        f"{worst.top_budget}-epoch scores over {worst.pairs} configurations: {WARNING}"
    )


def finished_brackets(frame: pd.DataFrame, schedule: Sequence[Sequence[tuple[int, int]]]) -> int:
    """Brackets whose top rung is full (every trial at max epochs has ended, any status).

    Args:
        frame: DataFrame. Rows of `trials.csv` with `budget` and `bracket` columns.
        schedule: `rungs.hyperband_schedule(max_epochs, factor, min_epochs)`: the brackets
            in keras-tuner's order, the first one numbered `len(schedule) - 1`.
    """
    top_budget = schedule[0][-1][1]
    at_top = frame[frame["budget"] == top_budget]
    done = 0
    for index, rounds in enumerate(schedule):
        number = len(schedule) - 1 - index
        done += int((at_top["bracket"] == number).sum()) // rounds[-1][0]
    return done


class FidelityCheck:
    """Watches a Hyperband-style search: after each bracket, `rung_taus` printed and saved.

    Each report goes to the live output (`stream`), into `run_dir/fidelity.json` (all reports
    so far), and a low tau prints `warning_line` once to `warn_stream`.

    Example:

    >>> import io
    >>> frame = pd.DataFrame({
    ...     "trial": [1, 2, 3, 4], "x": [0.1, 0.2, 0.3, 0.2], "budget": [1, 1, 1, 3],
    ...     "bracket": [1] * 4, "f": [0.1, 0.5, 0.3, 0.6], "status": ["completed"] * 4})
    >>> out = io.StringIO()
    >>> check = FidelityCheck(["x"], "f", max_epochs=3, stream=out)
    >>> check.update(frame.head(3)) is None, check.update(frame)["brackets_finished"]
    (True, 1)
    >>> print(out.getvalue().strip())
    fidelity check after 1 of 2 brackets (4 trials): Kendall tau with 3 epochs: 1 epoch - (1 pair)

    Args:
        param_names: the space's parameters.
        objective_name: str. The score column.
        max_epochs: int. The top budget.
        factor: int. Hyperband's reduction factor.
        min_epochs: int. Hyperband's smallest rung, at least (`rungs.with_min_epochs`).
        iterations: int. Hyperband iterations (the brackets run this many times).
        run_dir: path or None. Where `fidelity.json` goes.
        stream: text stream or None. The live output.
        warn_stream: text stream or None. Where the warning goes (None: stderr).
    """

    def __init__(
        self,
        param_names: Sequence[str],
        objective_name: str,
        *,
        max_epochs: int,
        factor: int = 3,
        min_epochs: int = 1,
        iterations: int = 1,
        run_dir: str | Path | None = None,
        stream: TextIO | None = None,
        warn_stream: TextIO | None = None,
    ):
        self.param_names = tuple(param_names)
        self.objective_name = objective_name
        self.max_epochs = int(max_epochs)
        self.schedule = hyperband_schedule(self.max_epochs, factor, min_epochs)
        self.total = len(self.schedule) * iterations
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.stream = stream
        self.warn_stream = warn_stream
        self.reports: list[dict[str, Any]] = []
        self.warned = False

    @classmethod
    def for_oracle(cls, oracle, recorder) -> FidelityCheck | None:
        """The check for a Hyperband-style `oracle` whose `recorder` writes budgets, else None."""
        from keras_tuner.oracles import HyperbandOracle

        if not isinstance(oracle, HyperbandOracle) or "budget" not in recorder.columns:
            return None
        return cls(
            recorder.space.names,
            recorder.objective_name,
            max_epochs=oracle.max_epochs,
            factor=oracle.factor,
            min_epochs=oracle.min_epochs,
            iterations=int(oracle.hyperband_iterations),
            run_dir=recorder.run_dir,
            stream=recorder.stream,
        )

    def update(self, frame: pd.DataFrame) -> dict[str, Any] | None:
        """Reports (and returns) the check when a bracket has finished since the last call."""
        if not len(frame) or "budget" not in frame:
            return None
        done = finished_brackets(frame, self.schedule)
        if done <= (self.reports[-1]["brackets_finished"] if self.reports else 0):
            return None
        taus = rung_taus(frame, self.param_names, self.objective_name, self.max_epochs)
        line = warning_line(taus)
        report = {
            "brackets_finished": done,
            "brackets": self.total,
            "trials": len(frame),
            "rungs": [t.to_json() for t in taus],
            "low": line is not None,
        }
        self.reports.append(report)
        if self.run_dir is not None:
            atomic.write_json(self.run_dir / FILE_NAME, {"reports": self.reports}, indent=2)
        if self.stream is not None:
            # One rung per bracket (--min-epochs = max epochs) has no lower budget at all.
            none = "no lower budget yet" if len(self.schedule[0]) > 1 else "no lower budget"
            rungs = ", ".join(t.describe() for t in taus) or none
            print(
                f"fidelity check after {done} of {self.total} brackets ({len(frame)} trials): "
                f"Kendall tau with {self.max_epochs} epochs: {rungs}",
                file=self.stream,
                flush=True,
            )
        if line is not None and not self.warned:
            self.warned = True
            # stderr as the process has it now (a test's capture, a notebook's redirect).
            print(line, file=self.warn_stream or sys.stderr, flush=True)
        return report
