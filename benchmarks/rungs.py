"""Schedules across Hyperband rungs: which 1cycle layout makes low budgets rank
configurations as the full budget does, on the demo data.

A Hyperband / bohb trial at a rung of `k` epochs can run its 1cycle schedule two ways
(`train-with-bo --rung-schedule`):

- `compressed`: a whole cycle squeezed into the rung's `k` epochs (what `train-with-bo` did
  before the setting existed: each rung retrains from scratch for `k` epochs);
- `final`: the cycle of the full budget (max epochs), of which the rung trains the first
  `k` epochs (its learning rate still high, warming up or at its peak).

For a fixed set of random (learning rate, weight decay) points it trains each for the
full budget (its score: the best validation accuracy over the epochs) and, for every
lower budget, the compressed run; the `final` rung's score is the best of the full run's
first `k` epochs (the same seed and a deterministic run: exactly what a `final` rung
trains). It reports the Kendall tau (`scipy.stats.kendalltau`, tau-b) between each
layout's rung scores and the full-budget scores.

    python benchmarks/rungs.py                  # 10 points, budgets 1 3 9, 32 px, width 0.125
    python benchmarks/rungs.py --tiny           # seconds: a tiny model and data set

Each point's scores are saved in --out as they come (`scores.csv`): a rerun into the same
folder continues where a killed one stopped.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd
from docparser import parser_from_doc

#: --tiny: a demo subset and a model small enough for a test to run it in seconds.
TINY = {"per_class": 20, "width": 0.0625, "batch_size": 16, "budgets": [1, 2], "points": 3}

LAYOUTS = ("compressed", "final")


def random_points(n: int, seed: int) -> list[dict[str, float]]:
    """`n` points drawn uniformly in `train-with-bo`'s (log10 lr, log10 wd) box.

    Example:

    >>> [round(p["log10_learning_rate"], 3) for p in random_points(2, 0)]
    [-2.452, -4.836]
    """
    from keras_recipes.tuning.bo.space import TRAIN_BOUNDS

    rng = np.random.default_rng(seed)
    return [
        {name: float(rng.uniform(low, high)) for name, (low, high) in TRAIN_BOUNDS.items()}
        for _ in range(n)
    ]


def rung_taus(scores: pd.DataFrame, budgets: list[int]) -> pd.DataFrame:
    """Kendall tau between each layout's rung scores and the full-budget scores.

    `scores` has a `full` column and `<layout>_<k>` columns for the lower budgets `k`.

    Example:

    >>> frame = pd.DataFrame({"full": [0.9, 0.8, 0.7], "compressed_1": [0.6, 0.7, 0.5],
    ...                       "final_1": [0.7, 0.6, 0.5]})
    >>> rung_taus(frame, [1, 9]).round(3).to_dict("records")
    [{'budget': 1, 'compressed': 0.333, 'final': 1.0}]
    """
    from scipy.stats import kendalltau

    rows = []
    for budget in budgets[:-1]:
        row: dict[str, float] = {"budget": budget}
        for layout in LAYOUTS:
            row[layout] = float(kendalltau(scores[f"{layout}_{budget}"], scores["full"])[0])
        rows.append(row)
    return pd.DataFrame(rows)


def fidelity_check_line(scores: pd.DataFrame, budgets: list[int], layout: str) -> str | None:
    """What `train-with-bo`'s fidelity check would print for these points had every one
    reached the top rung: its warning line, or None.

    Example:

    >>> frame = pd.DataFrame({"full": [0.9, 0.8, 0.7, 0.6, 0.5, 0.4],
    ...                       "final_1": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]})
    >>> fidelity_check_line(frame, [1, 9], "final")[:50]
    'warning: Kendall tau -1.00 between 1- and 9-epoch '
    """
    from keras_recipes.tuning.engine.fidelity_check import RungTau, kendall_tau, warning_line

    top = budgets[-1]
    taus = [
        RungTau(b, top, len(scores), kendall_tau(scores[f"{layout}_{b}"], scores["full"]))
        for b in budgets[:-1]
    ]
    return warning_line(taus)


def build_parser() -> argparse.ArgumentParser:
    parser = parser_from_doc(__doc__)
    parser.add_argument("--points", type=int, default=10, help="random points (default: 10)")
    parser.add_argument(
        "--budgets", type=int, nargs="+", default=[1, 3, 9], help="epochs (default: 1 3 9)"
    )
    parser.add_argument("--image-size", type=int, default=32, help="crop size (default: 32)")
    parser.add_argument("--width", type=float, default=0.125, help="AlexNet width (0.125)")
    parser.add_argument("--batch-size", type=int, default=64, help="batch size (default: 64)")
    parser.add_argument("--recipe", default="default", help="base recipe (default: default)")
    parser.add_argument("--seed", type=int, default=0, help="points and training (default: 0)")
    parser.add_argument("--out", default=None, help="folder (default: runs/rungs-<time>)")
    parser.add_argument("--tiny", action="store_true", help="a 40-image demo subset (seconds)")
    return parser


def train_curve(objective, params: dict[str, float], epochs: int) -> np.ndarray:
    """The validation accuracy per epoch of `objective`'s recipe at `params`, `epochs` long."""
    from keras_recipes.training.fit import train
    from keras_recipes.training.session import free_trial_memory

    settings = {**objective.setup.train_kwargs(), "data": objective.bundle()}
    settings["recipe"] = objective.recipe_for(params, epochs)
    with free_trial_memory():
        result = train(**settings, tta=False, verbose=0, tensorboard=False)
        curve = result.history["val_accuracy"].to_numpy(dtype=float)
        del result
    return curve


def score_point(objective, params: dict[str, float], budgets: list[int]) -> dict[str, float]:
    """The full-budget score and both layouts' rung scores of one point."""
    full = train_curve(objective, params, budgets[-1])
    row = {**params, "full": float(np.nanmax(full))}
    for budget in budgets[:-1]:
        row[f"final_{budget}"] = float(np.nanmax(full[:budget]))
        row[f"compressed_{budget}"] = float(np.nanmax(train_curve(objective, params, budget)))
    return row


def main(argv: list[str] | None = None) -> int:
    from keras_recipes.recipes import get_recipe
    from keras_recipes.tuning.bo.objective import TrainObjective

    args = build_parser().parse_args(argv)
    out = Path(args.out or f"runs/rungs-{datetime.now():%Y%m%d-%H%M%S}")
    out.mkdir(parents=True, exist_ok=True)
    data = "demo"
    if args.tiny:
        from keras_recipes.data import make_demo

        args.width, args.batch_size = TINY["width"], TINY["batch_size"]
        args.budgets, args.points = TINY["budgets"], TINY["points"]
        data = str(make_demo(out / "demo-tiny", n_per_class=TINY["per_class"]))
    budgets = sorted(args.budgets)
    recipe = get_recipe(args.recipe).replace(training={"batch_size": args.batch_size})
    objective = TrainObjective(
        recipe, data, image_size=args.image_size, width=args.width, seed=args.seed
    )
    print(
        f"{args.points} random points, budgets {budgets} epochs, recipe {args.recipe} "
        f"({recipe.schedule.name}), {args.image_size} px, width {args.width:g}, batch "
        f"{args.batch_size}, seed {args.seed}; scores in {out / 'scores.csv'}",
        flush=True,
    )
    file = out / "scores.csv"
    rows = pd.read_csv(file).to_dict("records") if file.is_file() else []
    start = time.perf_counter()
    for params in random_points(args.points, args.seed)[len(rows) :]:
        rows.append(score_point(objective, params, budgets))
        pd.DataFrame(rows).to_csv(file, index=False)
        print(f"  point {len(rows)}: {rows[-1]}", flush=True)
    scores = pd.DataFrame(rows)
    print(
        f"\n{time.perf_counter() - start:.0f} s\n\n| point | lr | wd | "
        + " | ".join(f"{layout} {b}" for b in budgets[:-1] for layout in LAYOUTS)
        + f" | {budgets[-1]} epochs |"
    )
    print("|---" * (3 + 2 * (len(budgets) - 1) + 1) + "|")
    for number, row in enumerate(rows, 1):
        cells = [f"{row[f'{layout}_{b}']:.4f}" for b in budgets[:-1] for layout in LAYOUTS]
        print(
            f"| {number} | {10 ** row['log10_learning_rate']:.2e} | "
            f"{10 ** row['log10_weight_decay']:.2e} | {' | '.join(cells)} | {row['full']:.4f} |"
        )
    taus = rung_taus(scores, budgets)
    print(f"\nKendall tau with {budgets[-1]} epochs, {len(rows)} points:\n")
    print("| budget | compressed | final |\n|---|---|---|")
    for row in taus.to_dict("records"):
        print(f"| {int(row['budget'])} | {row['compressed']:.3f} | {row['final']:.3f} |")
    taus.to_csv(out / "taus.csv", index=False)
    print()
    for layout in LAYOUTS:
        line = fidelity_check_line(scores, budgets, layout)
        print(f"fidelity check on the {layout} scores: {line or 'no warning'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
