"""Multi-fidelity search on a synthetic function: bohb vs full-budget bo vs hyperband vs
random, best found against the total budget spent, median over seeds.

The function is Branin (minimise, optimum 0.397887) with a budget (epochs 1..27) as its
fidelity, after the multi-fidelity Branin of Kandasamy et al. 2017 (BOCA) used by the
multi-fidelity papers (BOHB, DEHB, HPOBench): with z = log(epochs) / log(27) in [0, 1],

    f(x, z) = (x2 - b(z) x1^2 + c(z) x1 - 6)^2 + 10 (1 - t(z)) cos(x1) + 10 + 10 (1 - z) + noise
    b(z) = 5.1 / (4 pi^2) - 0.01 (1 - z),  c(z) = 5 / pi - 0.1 (1 - z),
    t(z) = 1 / (8 pi) + 0.05 (1 - z)
    noise ~ N(0, (0.1 + 2 (1 - z))^2)

so a low budget is biased (its optimum moves), worse (+10 (1 - z), as fewer epochs give a
lower accuracy) and noisier. Every method is a keras-tuner Oracle built by the package's
`build_oracle` (what `train-with-bo --search ...` runs) and driven through its trial engine
(`drive_search`); bo and random evaluate every point at the full 27 epochs.

A trial costs its epochs (the toolkit trains a promoted configuration from scratch); the
budget is counted in full-budget evaluations (27 epochs each). "Best found" after a budget
is the noise-free full-budget value f(x, 1) of the point the search would report then: the
best observed score so far, at any budget (what `best.json` holds).

    python benchmarks/multifidelity.py                 # the table in benchmarks/README.md
    python benchmarks/multifidelity.py --seeds 3
    python benchmarks/multifidelity.py --tiny          # a smoke run (seconds)
    python benchmarks/multifidelity.py --bohb-min-epochs 3   # bohb without 1-epoch rungs
    python benchmarks/multifidelity.py --bohb-min-epochs 3 --hyperband-min-epochs 3
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
from docparser import parser_from_doc

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

METHODS = ("bohb", "hyperband", "bo", "random")
BOUNDS = {"x1": (-5.0, 10.0), "x2": (0.0, 15.0)}
OPTIMUM = 0.397887
#: Full-budget evaluations the table reports (rows).
CHECKPOINTS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 14, 16)


def branin_mf(x1: float, x2: float, z: float) -> float:
    """Noise-free multi-fidelity Branin: z = 1 is Branin itself, lower z is biased and worse.

    Example:

    >>> round(branin_mf(math.pi, 2.275, 1.0), 6)
    0.397887
    >>> round(branin_mf(math.pi, 2.275, 0.0), 3)
    10.944
    """
    b = 5.1 / (4 * math.pi**2) - 0.01 * (1 - z)
    c = 5 / math.pi - 0.1 * (1 - z)
    t = 1 / (8 * math.pi) + 0.05 * (1 - z)
    value = (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10
    return value + 10 * (1 - z)


def fidelity(epochs: int, max_epochs: int) -> float:
    """z = log(epochs) / log(max_epochs): Hyperband's rungs 1, 3, 9, 27 -> 0, 1/3, 2/3, 1.

    Example:

    >>> [round(fidelity(e, 27), 3) for e in (1, 3, 9, 27)]
    [0.0, 0.333, 0.667, 1.0]
    """
    return math.log(epochs) / math.log(max_epochs) if max_epochs > 1 else 1.0


class NoisyBranin:
    """The objective the oracles see: -(f(x, z) + noise), maximised; epochs=None is full."""

    def __init__(self, max_epochs: int, seed: int):
        self.max_epochs = max_epochs
        self.rng = np.random.RandomState([seed, 7])

    def __call__(self, params, epochs=None, **_) -> float:
        z = fidelity(epochs or self.max_epochs, self.max_epochs)
        noise = self.rng.normal(0.0, 0.1 + 2.0 * (1 - z))
        return -(branin_mf(params["x1"], params["x2"], z) + noise)


@dataclass
class Run:
    """One search: per trial, its cost (epochs), observed score and true full-budget value."""

    costs: list[int]
    scores: list[float]
    truths: list[float]
    taus: dict[int, float | None]
    seconds: float

    def best_at(self, budget: float, max_epochs: int) -> float | None:
        """True value of the best-scored point among the trials paid for within `budget`
        full-budget evaluations (None: no trial yet)."""
        spent = np.cumsum(self.costs) / max_epochs
        within = [i for i in range(len(self.costs)) if spent[i] <= budget + 1e-9]
        scored = [i for i in within if math.isfinite(self.scores[i])]
        if not scored:
            return None
        return self.truths[max(scored, key=lambda i: self.scores[i])]


def drive(oracle, objective, space, workdir: Path):
    """The trials of `oracle` on `objective(params, epochs=...)` (a "score" to maximise),
    run by `drive_search` in one process as `train-with-bo` runs them; trials.csv's frame,
    in trial order. Shared with `demo_surrogate.py`."""
    from keras_recipes.tuning.bo.search import drive_search
    from keras_recipes.tuning.engine.recorder import TrialRecorder

    workdir.mkdir(parents=True)
    recorder = TrialRecorder(space, "score", workdir, None, epochs=False, brackets=True)
    return drive_search(
        oracle,
        objective,
        recorder,
        workdir,
        role="single",
        resume=False,
        param_names=space.names,
        objective_name="score",
        plan="",
    ).frame.sort_values("trial")


def run_search(
    method: str,
    seed: int,
    max_epochs: int,
    evaluations: int,
    workdir: Path,
    bohb_min: int = 1,
    hyperband_min: int = 1,
) -> Run:
    """`method` through `build_oracle` and `drive_search`, as `train-with-bo` runs it
    (`bohb_min`, `hyperband_min`: their --min-epochs)."""
    import keras_tuner

    from keras_recipes.tuning.bo.searches import build_oracle
    from keras_recipes.tuning.bo.space import SearchSpace

    space = SearchSpace.from_mapping(BOUNDS)
    init_points = 3 if method == "bo" else 1
    oracle, _ = build_oracle(
        method,
        space,
        keras_tuner.Objective("score", "max"),
        init_points=init_points,
        n_iter=evaluations - init_points,
        seed=seed,
        max_epochs=max_epochs,
        min_epochs={"bohb": bohb_min, "hyperband": hyperband_min}.get(method, 1),
    )
    start = time.perf_counter()
    frame = drive(oracle, NoisyBranin(max_epochs, seed), space, workdir)
    seconds = time.perf_counter() - start
    costs = frame["budget"].fillna(max_epochs).astype(int).tolist()
    truths = [branin_mf(a, b, 1.0) for a, b in zip(frame["x1"], frame["x2"], strict=True)]
    taus: dict[int, float | None] = {}
    report = workdir / "fidelity.json"
    if report.is_file():
        for rung in json.loads(report.read_text())["reports"][-1]["rungs"]:
            taus[rung["budget"]] = rung["tau"]
    scores = frame["score"].astype(float).tolist()
    return Run(costs, scores, truths, taus, seconds)


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def table(runs: dict[str, list[Run]], checkpoints: Sequence[int], max_epochs: int) -> list[str]:
    """Markdown: median best found (rows: full-budget evaluations spent; columns: methods)."""
    lines = [
        f"| full-budget evaluations spent | {' | '.join(runs)} |",
        "|---" * (len(runs) + 1) + "|",
    ]
    for k in checkpoints:
        cells = [fmt(median_best(method_runs, k, max_epochs)) for method_runs in runs.values()]
        lines.append(f"| {k} | {' | '.join(cells)} |")
    return lines


def median_best(method_runs: list[Run], budget: float, max_epochs: int) -> float | None:
    """Median over seeds of the best found within `budget`; None while half have nothing."""
    bests = [r.best_at(budget, max_epochs) for r in method_runs]
    if sum(b is None for b in bests) * 2 >= len(bests):
        return None
    return statistics.median(math.inf if b is None else b for b in bests)


def goals(runs: dict[str, list[Run]], checkpoints: Sequence[int], max_epochs: int) -> list[str]:
    """The issue's goals, judged checkpoint by checkpoint (lower is better)."""

    def at(method: str, k: int) -> float:
        value = median_best(runs[method], k, max_epochs)
        return math.inf if value is None else value

    lines = []
    for other in ("hyperband", "random"):
        if "bohb" in runs and other in runs:
            worse = [k for k in checkpoints if at("bohb", k) > at(other, k)]
            lines.append(
                f"bohb's median best <= {other}'s at every budget: "
                + ("met" if not worse else f"NOT met (worse at {', '.join(map(str, worse))})")
            )
    if "bohb" in runs and "bo" in runs:
        early = [k for k in checkpoints if k <= 10]
        worse = [k for k in early if not at("bohb", k) < at("bo", k)]
        lines.append(
            "bohb's median best < full-budget bo's up to 10 full-budget evaluations: "
            + ("met" if not worse else f"NOT met (not better at {', '.join(map(str, worse))})")
        )
    return lines


def build_parser() -> argparse.ArgumentParser:
    parser = parser_from_doc(__doc__)
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 (default: 10)")
    parser.add_argument(
        "--max-epochs", type=int, default=27, help="the full budget, factor 3 (default: 27)"
    )
    parser.add_argument(
        "--methods",
        default=",".join(METHODS),
        help=f"comma-separated, of {', '.join(METHODS)} (default: all)",
    )
    parser.add_argument(
        "--bohb-min-epochs",
        type=int,
        default=1,
        metavar="N",
        help="bohb's --min-epochs (its iteration then costs less, and its best after its "
        "last trial stands for the larger budgets) (default: 1)",
    )
    parser.add_argument(
        "--hyperband-min-epochs",
        type=int,
        default=1,
        metavar="N",
        help="hyperband's --min-epochs, to compare bohb with the same brackets (default: 1)",
    )
    parser.add_argument("--tiny", action="store_true", help="2 seeds, max 9 epochs (seconds)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods or args.seeds < 1 or args.max_epochs < 3:
        print(
            f"multifidelity.py: error: methods of {', '.join(METHODS)} (got {args.methods!r}), "
            "--seeds >= 1, --max-epochs >= 3",
            file=sys.stderr,
        )
        return 2
    if args.tiny:
        args.seeds, args.max_epochs = min(args.seeds, 2), 9
    from keras_recipes.tuning.engine.rungs import hyperband_schedule, schedule_cost

    # Every trial here costs its whole budget (nothing continues a parent's run).
    _, epochs = schedule_cost(hyperband_schedule(args.max_epochs), continued=False)
    # bo and random get as many full-budget evaluations as one Hyperband iteration costs.
    evaluations = math.ceil(epochs / args.max_epochs)
    checkpoints = [k for k in CHECKPOINTS if k <= epochs / args.max_epochs] or [1]
    print(
        f"# Multi-fidelity Branin, max {args.max_epochs} epochs (factor 3, one Hyperband "
        f"iteration = {epochs} epochs = {epochs / args.max_epochs:.1f} full-budget "
        f"evaluations; bo and random: {evaluations}), median over {args.seeds} seeds, "
        f"bohb min_epochs={args.bohb_min_epochs}, hyperband min_epochs="
        f"{args.hyperband_min_epochs}, {date.today()}\n"
    )
    runs: dict[str, list[Run]] = {m: [] for m in methods}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            for method in methods:
                folder = Path(tmp) / method / str(seed)
                run = run_search(
                    method,
                    seed,
                    args.max_epochs,
                    evaluations,
                    folder,
                    args.bohb_min_epochs,
                    args.hyperband_min_epochs,
                )
                runs[method].append(run)
                final = run.best_at(math.inf, args.max_epochs)
                print(
                    f"{method} seed {seed}: {len(run.costs)} trials, best found {fmt(final)}, "
                    f"{run.seconds:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
    print(
        f"Best found (true Branin value of the reported point; optimum {OPTIMUM}), median over "
        "seeds:\n"
    )
    print("\n".join(table(runs, checkpoints, args.max_epochs)))
    print()
    for line in goals(runs, checkpoints, args.max_epochs):
        print(f"- {line}")
    taus = {}
    for method in ("bohb", "hyperband"):
        for run in runs.get(method, []):
            for budget, tau in run.taus.items():
                if tau is not None:
                    taus.setdefault(budget, []).append(tau)
    if taus:
        parts = [
            f"{b} epochs {statistics.median(v):.2f} ({len(v)} runs)"
            for b, v in sorted(taus.items())
        ]
        print(
            f"- fidelity check (Kendall tau with {args.max_epochs} epochs at the end of a run, "
            f"median over bohb and hyperband runs): {', '.join(parts)}"
        )
    seconds = {m: statistics.median(r.seconds for r in rs) for m, rs in runs.items()}
    print(
        "- median seconds per search (engine + oracle): "
        + ", ".join(f"{m} {s:.1f}" for m, s in seconds.items())
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
