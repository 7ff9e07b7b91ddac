"""bohb, hyperband and full-budget bo on a surrogate of the demo data: many seeds where
real training allows five.

On the demo data one bohb or hyperband search trains for about 135 s and full-budget bo
for about 250 s, so `fidelity.py` measures 5 seeds, and one seed's epochs to target swing
from 20 to never. This benchmark replays recorded training instead.
`benchmarks/data/demo_curves.csv` holds the validation accuracy after each epoch of 9-epoch
runs of the demo AlexNet (32 px, width 0.125, batch 64, `default` recipe), one row per
(log10 learning rate, log10 weight decay) point, taken from `fidelity.py` run directories
(`--collect`). A search's point gets one of the `--neighbours` nearest recorded runs,
chosen by a hash of the point and the seed: the same point always gets the same run, so a
promoted configuration continues it. A rung of k epochs scores the best of that run's
first k epochs, which is what a `--rung-schedule final` rung trains. The spread among
neighbours stands in for the demo's run-to-run noise (points 0.02 apart in log10 learning
rate scored 0.665 and 0.832 after 3 epochs).

Per seed, as in `fidelity.py`: full-budget bo (3 + 17 trials of 9 epochs) sets the target,
its best minus 0.01; bohb and hyperband (max 9 epochs, factor 3) are counted in epochs
trained until a trial first reaches it, a continued promotion counting only its new
epochs. Every search is built by `build_oracle` and run by `drive_search`, as
`train-with-bo` runs it.

    python benchmarks/demo_surrogate.py --seeds 60
    python benchmarks/demo_surrogate.py --seeds 60 --bohb min_points=5   # a bohb variant
    python benchmarks/demo_surrogate.py --collect runs/fid/seed-*/*   # rebuild the curves
    python benchmarks/demo_surrogate.py --seeds 60 --band -1.9 -1.2  # a proposer that knows
    python benchmarks/demo_surrogate.py --tiny                      # seconds

`--band LO HI` adds a row for bohb whose every new configuration is drawn with log10 lr in
[LO, HI] (weight decay anywhere): a proposer told in advance where the good runs lie. No
model fitted on the search's own scores knows more, so that row bounds what any bohb
proposal rule can reach with these brackets on this data.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from docparser import parser_from_doc
from fidelity import epochs_to_target  # the same accounting as the real runs
from multifidelity import drive  # the same engine as the synthetic benchmark

CURVES = Path(__file__).resolve().parent / "data" / "demo_curves.csv"
PARAMS = ("log10_learning_rate", "log10_weight_decay")
BOUNDS = {"log10_learning_rate": (-5.0, -1.0), "log10_weight_decay": (-5.0, -1.0)}
EPOCHS = 9
METHODS = ("bo", "bohb", "hyperband")
#: Full-budget bo's best minus this is a seed's target (fidelity.py's --gap).
GAP = 0.01
#: A search that never reaches the target sorts after every one that does.
NEVER = float("inf")


def collect(run_dirs: Sequence[Path], epochs: int = EPOCHS) -> pd.DataFrame:
    """One row per point: the first whole `epochs`-epoch run recorded at it (a promoted
    trial's history holds its parent's epochs too), from `train-with-bo` run directories."""
    rows = []
    for run_dir in run_dirs:
        trials = run_dir / "trials.csv"
        if not trials.is_file():
            continue
        for row in pd.read_csv(trials).itertuples():
            history = run_dir / "trials" / f"{int(row.trial):03d}" / "history.csv"
            if not history.is_file():
                continue
            curve = pd.read_csv(history)["val_accuracy"].to_numpy(dtype=float)
            if len(curve) == epochs:
                rows.append([getattr(row, p) for p in PARAMS] + curve.round(4).tolist())
    columns = [*PARAMS, *(f"epoch_{e}" for e in range(1, epochs + 1))]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.drop_duplicates(subset=list(PARAMS)).reset_index(drop=True)


class DemoSurrogate:
    """The objective the oracles see: a recorded run near the point, its best of k epochs.

    Example:

    >>> curves = pd.DataFrame({"log10_learning_rate": [-2.0, -1.0], "log10_weight_decay":
    ...     [-3.0, -3.0], "epoch_1": [0.6, 0.7], "epoch_2": [0.8, 0.65]})
    >>> surrogate = DemoSurrogate(curves, seed=0, neighbours=1)
    >>> point = {"log10_learning_rate": -1.1, "log10_weight_decay": -3.0}
    >>> surrogate(point, epochs=1), surrogate(point, epochs=2), surrogate(point)
    (0.7, 0.7, 0.7)
    """

    def __init__(self, curves: pd.DataFrame, seed: int, neighbours: int = 4):
        self.points = curves[list(PARAMS)].to_numpy(dtype=float)
        self.curves = curves.drop(columns=list(PARAMS)).to_numpy(dtype=float)
        self.seed, self.neighbours = seed, neighbours

    def curve(self, point: Sequence[float]) -> np.ndarray:
        """The recorded run this point gets: one of its nearest, fixed by point and seed."""
        distance = np.hypot(*(self.points - np.asarray(point, dtype=float)).T)
        nearest = np.argsort(distance, kind="stable")[: self.neighbours]
        key = ",".join(f"{v:.12f}" for v in point) + f",{self.seed}"
        pick = int(hashlib.sha256(key.encode()).hexdigest(), 16) % len(nearest)
        return self.curves[nearest[pick]]

    def __call__(self, params, epochs=None, **_) -> float:
        curve = self.curve([float(params[p]) for p in PARAMS])
        return float(curve[: epochs or len(curve)].max())


def band_oracle(objective, seed: int, band: tuple[float, float]):
    """bohb whose new configurations are drawn with log10 lr uniform in `band` and weight
    decay uniform over its range; Hyperband's promotions as ever (`--band`)."""
    from keras_recipes.tuning.bo.bohb import BOHBOracle

    class BandOracle(BOHBOracle):
        def _propose(self, trial_id, values):
            low, high = BOUNDS["log10_weight_decay"]
            values["log10_learning_rate"] = float(self._band_rng.uniform(*band))
            values["log10_weight_decay"] = float(self._band_rng.uniform(low, high))
            self.proposals[trial_id] = {"source": "band", "budget": None, "points": 0, "lies": 0}

    oracle = BandOracle(objective, BOUNDS, max_epochs=EPOCHS, seed=seed)
    oracle._band_rng = np.random.RandomState([seed, 2])
    return oracle


def run_search(
    method: str,
    seed: int,
    surrogate: DemoSurrogate,
    workdir: Path,
    bohb: dict | None = None,
    band: tuple[float, float] | None = None,
) -> list:
    """`method` through `build_oracle` and `drive_search`; per trial in order, the epochs
    it trained as a curve (a promotion continues its point's run: only its new epochs).
    `bohb`: `BOHBOracle` arguments that replace `train-with-bo`'s (a variant). `method`
    "band": `band_oracle` with `band`."""
    import keras_tuner

    from keras_recipes.tuning.bo.bohb import BOHBOracle
    from keras_recipes.tuning.bo.searches import build_oracle
    from keras_recipes.tuning.bo.space import SearchSpace

    space = SearchSpace.from_mapping(BOUNDS)
    objective = keras_tuner.Objective("score", "max")
    if method == "band":
        oracle = band_oracle(objective, seed, band)
    elif method == "bohb" and bohb:
        oracle = BOHBOracle(objective, BOUNDS, max_epochs=EPOCHS, seed=seed, **bohb)
    else:
        oracle, _ = build_oracle(
            method, space, objective, init_points=3, n_iter=17, seed=seed, max_epochs=EPOCHS
        )
    frame = drive(oracle, surrogate, space, workdir)
    # A point seen before continues its run: Hyperband's promotions. (A GP proposing the
    # exact same point again would be counted as continuing too; not seen in these runs.)
    trained: dict[tuple[float, ...], int] = {}
    curves = []
    for row in frame.itertuples():
        point = tuple(float(getattr(row, p)) for p in PARAMS)
        budget = getattr(row, "budget", None)
        budget = EPOCHS if budget is None or pd.isna(budget) else int(budget)  # bo: full
        run = np.maximum.accumulate(surrogate.curve(point))  # best so far, as a rung scores
        curves.append(run[trained.get(point, 0) : budget])
        trained[point] = budget
    return curves


def summarise(results: dict[str, list[float]], seeds: int) -> list[str]:
    """The table's rows: per method, the median and quartiles of epochs to target, how
    often it was reached, and how often within 45 epochs (1/4 of full-budget bo's 180)."""
    lines = [
        "| search | median epochs to target | 25% | 75% | reached | <= 45 epochs |",
        "|---|---|---|---|---|---|",
    ]
    for method, values in results.items():
        q25, q50, q75 = np.percentile(values, [25, 50, 75], method="lower")
        reached = sum(v != NEVER for v in values)
        within = sum(v <= 45 for v in values)
        cells = ["never" if v == NEVER else f"{v:g}" for v in (q50, q25, q75)]
        lines.append(
            f"| {method} | {cells[0]} | {cells[1]} | {cells[2]} | {reached}/{seeds} | "
            f"{within}/{seeds} |"
        )
    return lines


def build_parser() -> argparse.ArgumentParser:
    parser = parser_from_doc(__doc__)
    parser.add_argument("--seeds", type=int, default=60, help="seeds 0..N-1 (default: 60)")
    parser.add_argument(
        "--neighbours", type=int, default=4, help="recorded runs a point may get (default: 4)"
    )
    parser.add_argument(
        "--collect",
        nargs="+",
        type=Path,
        metavar="RUN_DIR",
        help=f"write {CURVES.name} from these train-with-bo run directories instead",
    )
    parser.add_argument(
        "--bohb",
        nargs="+",
        default=[],
        metavar="NAME=VALUE",
        help="a bohb variant: BOHBOracle arguments, e.g. min_points=5 xi=0.05 "
        "random_fraction=0.5 (numbers)",
    )
    parser.add_argument(
        "--band",
        nargs=2,
        type=float,
        metavar=("LO", "HI"),
        help="add bohb drawing every new configuration with log10 lr in [LO, HI]",
    )
    parser.add_argument("--tiny", action="store_true", help="2 seeds (seconds)")
    return parser


def parse_variant(pairs: Sequence[str]) -> dict[str, float | int]:
    """`["min_points=5", "xi=0.05"]` -> `{"min_points": 5, "xi": 0.05}`.

    Example:

    >>> parse_variant(["min_points=5", "xi=0.05"])
    {'min_points': 5, 'xi': 0.05}
    """
    variant: dict[str, float | int] = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        number = float(value)
        variant[name] = int(number) if number.is_integer() and "." not in value else number
    return variant


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.collect:
        frame = collect(args.collect)
        frame.to_csv(CURVES, index=False)
        print(f"{len(frame)} recorded {EPOCHS}-epoch runs -> {CURVES}")
        return 0
    if args.seeds < 1 or args.neighbours < 1:
        print("demo_surrogate.py: error: --seeds and --neighbours >= 1", file=sys.stderr)
        return 2
    low, high = BOUNDS["log10_learning_rate"]
    if args.band and not low <= args.band[0] < args.band[1] <= high:
        print(
            f"demo_surrogate.py: error: --band needs {low:g} <= LO < HI <= {high:g}, "
            f"got {args.band[0]:g} {args.band[1]:g}",
            file=sys.stderr,
        )
        return 2
    try:
        variant = parse_variant(args.bohb)
    except ValueError:
        print(
            f"demo_surrogate.py: error: --bohb takes NAME=NUMBER, got {args.bohb}", file=sys.stderr
        )
        return 2
    seeds = min(args.seeds, 2) if args.tiny else args.seeds
    curves = pd.read_csv(CURVES)
    print(
        f"# Demo surrogate: {len(curves)} recorded 9-epoch runs, {args.neighbours} "
        f"neighbours, {seeds} seeds, bohb {variant or 'as train-with-bo builds it'}\n"
    )
    methods = (*METHODS, "band") if args.band else METHODS
    results: dict[str, list[float]] = {m: [] for m in methods}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(seeds):
            surrogate = DemoSurrogate(curves, seed, args.neighbours)
            runs = {
                m: run_search(m, seed, surrogate, Path(tmp) / m / str(seed), variant, args.band)
                for m in methods
            }
            target = max(float(c.max()) for c in runs["bo"] if len(c)) - GAP
            for method, trials in runs.items():
                spent = epochs_to_target(trials, target)
                results[method].append(NEVER if spent is None else float(spent))
            print(
                f"seed {seed}: target {target:.4f}, "
                + ", ".join(f"{m} {results[m][-1]:g}" for m in methods),
                file=sys.stderr,
                flush=True,
            )
    print("\n".join(summarise(results, seeds)))
    bohb = statistics.median(results["bohb"])
    print(
        f"\n- bohb's median epochs to target {bohb:g} <= 45 (1/4 of full-budget bo's "
        f"{20 * EPOCHS}): {'met' if bohb <= 45 else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
