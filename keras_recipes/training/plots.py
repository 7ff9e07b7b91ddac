"""Plots written into run directories.

matplotlib's `Figure` is used directly, not pyplot: no display is needed and the user's
global backend (a notebook's, say) is left alone.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure


def plot_learning_curves(history: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """Loss and accuracy per epoch, training against validation, side by side."""
    fig = Figure(figsize=(10, 4))
    axes = fig.subplots(1, 2)
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        for column, label in ((metric, "train"), (f"val_{metric}", "validation")):
            if column in history:
                ax.plot(history["epoch"], history[column], marker=".", label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return Path(path)
