"""`comparison.png`: every recipe's validation accuracy per epoch on one axis, the mean over
seeds as a line and the min-max range across seeds as a band.

matplotlib's `Figure` is used directly, not pyplot, as in `keras_recipes.training.plots`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator


def plot_validation_curves(
    histories: pd.DataFrame, path: str | Path, order: Sequence[str] = ()
) -> Path | None:
    """Draws the validation accuracy of every recipe, mean and min-max band over seeds.

    At an epoch that only some seeds reached (early stopping, divergence) the line and band
    use the seeds that did.

    Example:

    >>> import tempfile
    >>> histories = pd.DataFrame({"recipe": ["a"] * 4, "seed": [0, 0, 1, 1],
    ...                           "epoch": [1, 2, 1, 2], "val_accuracy": [.5, .7, .6, .8]})
    >>> plot_validation_curves(histories, Path(tempfile.mkdtemp()) / "c.png").name
    'c.png'

    Args:
        histories: pandas.DataFrame. Columns recipe, seed, epoch, val_accuracy.
        path: where to write the PNG.
        order: recipes in legend order (default: as they appear).

    Returns:
        The path, or None when there is nothing to draw.
    """
    if histories.empty or "val_accuracy" not in histories:
        return None
    stats = (
        histories.groupby(["recipe", "epoch"], sort=False)["val_accuracy"]
        .agg(["mean", "min", "max"])
        .reset_index()
    )
    seeds = histories.groupby("recipe", sort=False)["seed"].nunique()
    names = [r for r in order if r in seeds.index] + [r for r in seeds.index if r not in order]
    fig = Figure(figsize=(8, 5))
    ax = fig.subplots()
    for name in names:
        curve = stats[stats["recipe"] == name].sort_values("epoch")
        n = int(seeds[name])
        (line,) = ax.plot(
            curve["epoch"],
            curve["mean"],
            marker=".",
            label=f"{name} ({n} seed{'s' if n != 1 else ''})",
        )
        ax.fill_between(
            curve["epoch"], curve["min"], curve["max"], color=line.get_color(), alpha=0.2
        )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy")
    ax.set_title("Validation accuracy: mean over seeds, band = min to max")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return Path(path)
