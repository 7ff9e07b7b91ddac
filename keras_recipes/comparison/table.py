"""The comparison table: per-run rows -> one row per recipe (mean, std, min, max over seeds)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

#: Columns averaged over the seeds (those present in the runs), as `<column>_mean`.
MEAN_COLUMNS = (
    "best_epoch",
    "test_accuracy",
    "test_accuracy_tta",
    "wall_seconds",
    "train_images_per_second",
)


def summarize(runs: pd.DataFrame, order: Sequence[str] = ()) -> pd.DataFrame:
    """One row per recipe, sorted by mean best validation accuracy, best first.

    `best_val_accuracy_std` is the sample standard deviation (ddof 1; NaN for one seed).
    Ties keep the order of `order` (the order the recipes were given).

    Example:

    >>> runs = pd.DataFrame({"recipe": ["a", "a", "b", "b"], "seed": [0, 1, 0, 1],
    ...                      "best_val_accuracy": [0.8, 0.9, 0.95, 0.95],
    ...                      "best_epoch": [3, 5, 2, 2]})
    >>> table = summarize(runs, order=["a", "b"])
    >>> table[["recipe", "runs", "best_val_accuracy_mean", "best_epoch_mean"]]
      recipe  runs  best_val_accuracy_mean  best_epoch_mean
    0      b     2                    0.95              2.0
    1      a     2                    0.85              4.0
    >>> round(float(table.loc[1, "best_val_accuracy_std"]), 4)
    0.0707
    """
    columns = ["recipe", "runs"] + [f"best_val_accuracy_{s}" for s in ("mean", "std", "min", "max")]
    if not len(runs):
        return pd.DataFrame(columns=columns)
    grouped = runs.groupby("recipe", sort=False)
    acc = grouped["best_val_accuracy"]
    table = pd.DataFrame(
        {
            "runs": grouped.size(),
            "best_val_accuracy_mean": acc.mean(),
            "best_val_accuracy_std": acc.std(ddof=1),
            "best_val_accuracy_min": acc.min(),
            "best_val_accuracy_max": acc.max(),
        }
    )
    for column in MEAN_COLUMNS:
        if column in runs and runs[column].notna().any():
            table[f"{column}_mean"] = grouped[column].mean()
    table = table.reset_index()
    rank = {name: i for i, name in enumerate(order)}
    table["_given"] = table["recipe"].map(lambda r: rank.get(r, len(rank)))
    table = table.sort_values(
        ["best_val_accuracy_mean", "_given"], ascending=[False, True], kind="stable"
    )
    return table.drop(columns="_given").reset_index(drop=True)


def format_table(table: pd.DataFrame) -> str:
    """The table as printed: accuracy as `mean ± std`, times and rates rounded.

    Example:

    >>> table = pd.DataFrame({"recipe": ["b"], "runs": [3], "best_val_accuracy_mean": [0.9],
    ...                       "best_val_accuracy_std": [0.01], "best_epoch_mean": [4.0],
    ...                       "wall_seconds_mean": [61.2],
    ...                       "train_images_per_second_mean": [812.3]})
    >>> print(format_table(table))
    recipe  seeds best_val_accuracy  best_epoch  seconds  images/s
         b      3   0.9000 ± 0.0100         4.0       61       812
    """
    shown = pd.DataFrame({"recipe": table["recipe"], "seeds": table["runs"]})
    shown["best_val_accuracy"] = [
        _mean_std(mean, std)
        for mean, std in zip(
            table["best_val_accuracy_mean"], table["best_val_accuracy_std"], strict=True
        )
    ]
    formats = {
        "best_epoch_mean": ("best_epoch", "{:.1f}"),
        "test_accuracy_mean": ("test_accuracy", "{:.4f}"),
        "test_accuracy_tta_mean": ("test_accuracy_tta", "{:.4f}"),
        "wall_seconds_mean": ("seconds", "{:.0f}"),
        "train_images_per_second_mean": ("images/s", "{:.0f}"),
    }
    for column, (name, text) in formats.items():
        if column in table:
            shown[name] = [
                "-" if value is None or pd.isna(value) else text.format(value)
                for value in table[column]
            ]
    return shown.to_string(index=False)


def _mean_std(mean: float, std: float) -> str:
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean:.4f}"  # one seed: no spread to show
    return f"{mean:.4f} ± {std:.4f}"
