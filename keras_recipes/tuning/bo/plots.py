"""Tuning figures: convergence, the GP posterior (1-D and 2-D) and its animation.

Every figure is drawn from `trials.csv` rows, not from a live oracle: the GP is refitted
with bayes_opt on the recorded points, so the same figures come from any finished run
(random and grid runs included).

matplotlib's `Figure` is used directly, never pyplot or `matplotlib.use`: a figure saves
through its own canvas, so the user's global backend (a notebook's, say) is left alone.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from bayes_opt import BayesianOptimization
from matplotlib.animation import PillowWriter
from matplotlib.figure import Figure

from keras_recipes.tuning.bo.oracle import make_acquisition
from keras_recipes.tuning.bo.space import SearchSpace

#: Rows the GP learns from: finished trials with a (finite) score, diverged ones included
#: (they were told to the GP with the worst score).
_SCORED = ("completed", "early_stopped", "diverged")
_LABELS = {"log10_learning_rate": "log10 learning rate", "log10_weight_decay": "log10 weight decay"}


def best_so_far(frame: pd.DataFrame, objective_name: str) -> pd.Series:
    """Best score up to each trial number (trials that failed are skipped).

    Example:

    >>> frame = pd.DataFrame({"trial": [1, 2, 3], "f": [0.2, float("nan"), 0.5]})
    >>> best_so_far(frame, "f").tolist()
    [0.2, 0.2, 0.5]
    """
    ordered = frame.sort_values("trial")
    scores = ordered[objective_name].astype(float)
    best = scores.fillna(-np.inf).cummax().replace(-np.inf, np.nan)
    return pd.Series(best.to_numpy(), index=ordered["trial"].to_numpy())


def plot_convergence(
    runs: Sequence[tuple[str, pd.DataFrame]], objective_name: str, path: str | Path
) -> Path:
    """Best-so-far objective against trial number, one line per run (bo, random, grid...)."""
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    for label, frame in runs:
        if not len(frame):
            continue
        best = best_so_far(frame, objective_name)
        (line,) = ax.step(best.index, best.to_numpy(), where="post", label=label, linewidth=2)
        ax.scatter(
            frame["trial"],
            frame[objective_name].astype(float),
            s=12,
            alpha=0.35,
            color=line.get_color(),
        )
    ax.set_xlabel("trial")
    ax.set_ylabel(f"best {objective_name} so far")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return Path(path)


class _Posterior:
    # bayes_opt optimizer + acquisition fitted on the first `k` scored rows of a run (with
    # `budget`: its rows at that budget only, as bohb fits its GP).
    def __init__(self, frame, space, objective_name, acquisition, xi, kappa, seed, budget=None):
        self.caption = ""
        if budget is not None:
            frame = frame[frame["budget"] == budget]
            self.caption = f" at budget {budget} epochs"
        self.space = space
        self.acq = make_acquisition(acquisition, xi=xi, kappa=kappa)
        self.acquisition = acquisition
        self.optimizer = BayesianOptimization(
            f=None,
            pbounds=space.pbounds,
            acquisition_function=self.acq,
            random_state=seed,
            verbose=0,
        )
        scored = frame[frame["status"].isin(_SCORED)].sort_values("trial")
        scored = scored[np.isfinite(scored[objective_name].astype(float))]
        self.points = scored[list(space.names)].to_numpy(dtype=float)
        self.targets = scored[objective_name].to_numpy(dtype=float)
        self.registered = 0

    def register_until(self, k: int) -> None:
        for i in range(self.registered, k):
            x = self.points[i]
            if x in self.optimizer.space:  # bayes_opt rejects repeats; maximize skips them
                continue
            self.optimizer.register(dict(zip(self.space.names, x, strict=True)), self.targets[i])
        self.registered = k

    def suggest(self) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            params = self.optimizer.suggest()
        return np.array([params[n] for n in self.space.names], dtype=float)

    def evaluate(self, grid: np.ndarray, fit: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """GP mean, GP std and acquisition on `grid` (rows of points)."""
        dicts = [dict(zip(self.space.names, row, strict=True)) for row in grid]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mean, std = self.optimizer.predict(dicts, return_std=True, fit_gp=fit)
        if self.acquisition != "ucb":
            # EI and POI measure improvement over the best target so far.
            self.acq.y_max = float(np.max(self.optimizer.space.target))
        return mean, std, self.acq.base_acq(mean, std)


def _acq_label(acquisition: str, xi: float, kappa: float) -> str:
    return {
        "ei": f"expected improvement (xi={xi:g})",
        "poi": f"probability of improvement (xi={xi:g})",
        "ucb": f"upper confidence bound (kappa={kappa:g})",
    }[acquisition]


def _draw_2d(fig, post, space, k, next_point, acq_label, resolution, fit):
    (nx, lx, hx), (ny, ly, hy) = space.bounds
    xs = np.linspace(lx, hx, resolution)
    ys = np.linspace(ly, hy, resolution)
    gx, gy = np.meshgrid(xs, ys)
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    mean, std, acq = post.evaluate(grid, fit=fit)
    axes = fig.subplots(1, 3)
    panels = (("GP mean", mean, "viridis"), ("GP std", std, "magma"), (acq_label, acq, "cividis"))
    observed = post.points[:k]
    for ax, (title, values, cmap) in zip(axes, panels, strict=True):
        image = ax.pcolormesh(xs, ys, values.reshape(gx.shape), cmap=cmap, shading="auto")
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        ax.scatter(
            observed[:, 0],
            observed[:, 1],
            s=22,
            c="white",
            edgecolors="black",
            linewidths=0.8,
            label="observed",
            clip_on=False,  # points on the bounds stay whole
        )
        if next_point is not None:
            ax.scatter(
                [next_point[0]],
                [next_point[1]],
                s=160,
                marker="*",
                c="red",
                edgecolors="black",
                linewidths=0.6,
                label="next point",
                clip_on=False,
                zorder=3,
            )
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(_LABELS.get(nx, nx))
        ax.set_ylabel(_LABELS.get(ny, ny))
    axes[0].legend(loc="lower left", fontsize=8, framealpha=0.8)
    fig.suptitle(f"GP posterior after {k} trials{post.caption}")


def _draw_1d(fig, post, space, k, next_point, acq_label, resolution, truth, fit):
    ((name, low, high),) = space.bounds
    xs = np.linspace(low, high, resolution)
    mean, std, acq = post.evaluate(xs.reshape(-1, 1), fit=fit)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.4]})
    if truth is not None:
        top.plot(xs, truth(xs), "k--", linewidth=1.2, label="true f")
    top.plot(xs, mean, color="tab:blue", linewidth=1.8, label="GP mean")
    top.fill_between(
        xs,
        mean - 1.96 * std,
        mean + 1.96 * std,
        color="tab:blue",
        alpha=0.2,
        label="95% band (±1.96σ)",
    )
    top.scatter(
        post.points[:k, 0], post.targets[:k], s=30, c="tab:red", zorder=3, label="observations"
    )
    bottom.plot(xs, acq, color="tab:purple", label=acq_label)
    if next_point is not None:
        for ax in (top, bottom):
            ax.axvline(next_point[0], color="tab:green", linestyle=":", label="next point")
    top.set_ylabel("f(x)")
    top.set_title(f"GP posterior after {k} points{post.caption}")
    top.legend(loc="upper right", fontsize=8)
    bottom.set_ylabel("acquisition")
    bottom.set_xlabel(name)
    bottom.legend(loc="upper right", fontsize=8)


def plot_posterior(
    frame: pd.DataFrame,
    space: SearchSpace,
    objective_name: str,
    path: str | Path,
    *,
    acquisition: str = "ei",
    xi: float = 0.01,
    kappa: float = 2.576,
    seed: int = 0,
    truth: Callable[[np.ndarray], np.ndarray] | None = None,
    resolution: int | None = None,
    next_point: bool = True,
    budget: int | None = None,
) -> Path | None:
    """GP fitted to all scored trials: 2-D -> mean, std and acquisition heatmaps with the
    observed points and the suggested next point; 1-D -> mean ± band, observations, the
    acquisition (and the true function when `truth` is given). None for other dimensions
    or when no trial has a score.

    `next_point=False` (searches whose points do not come from a GP: random, grid,
    hyperband) draws no suggested point; `budget` fits the GP on the rows at that budget
    only (the `budget` column of a multi-fidelity run) and says so in the title.
    """
    if len(space.bounds) not in (1, 2):
        return None
    post = _Posterior(frame, space, objective_name, acquisition, xi, kappa, seed, budget)
    if not len(post.points):
        return None
    post.register_until(len(post.points))
    # suggest() fits the GP, and evaluate() then reuses that fit; without it, evaluate fits.
    suggested = post.suggest() if next_point else None
    fit = suggested is None
    label = _acq_label(acquisition, xi, kappa)
    if len(space.bounds) == 2:
        fig = Figure(figsize=(16, 4.6))
        _draw_2d(fig, post, space, len(post.points), suggested, label, resolution or 80, fit)
    else:
        fig = Figure(figsize=(8, 6))
        _draw_1d(
            fig, post, space, len(post.points), suggested, label, resolution or 400, truth, fit
        )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return Path(path)


def animate_posterior(
    frame: pd.DataFrame,
    space: SearchSpace,
    objective_name: str,
    path: str | Path,
    *,
    acquisition: str = "ei",
    xi: float = 0.01,
    kappa: float = 2.576,
    seed: int = 0,
    start: int = 1,
    truth: Callable[[np.ndarray], np.ndarray] | None = None,
    fps: float = 1.5,
    resolution: int | None = None,
    next_point: bool = True,
    budget: int | None = None,
) -> Path | None:
    """`plot_posterior` as a GIF, one frame per trial from `start` points on; each frame
    marks the point the search actually tried next (PillowWriter), unless `next_point` is
    False; `budget` as in `plot_posterior`."""
    if len(space.bounds) not in (1, 2):
        return None
    post = _Posterior(frame, space, objective_name, acquisition, xi, kappa, seed, budget)
    n = len(post.points)
    if not n:
        return None
    label = _acq_label(acquisition, xi, kappa)
    two_d = len(space.bounds) == 2
    fig = Figure(figsize=(16, 4.6) if two_d else (8, 6))
    writer = PillowWriter(fps=fps)
    with writer.saving(fig, str(path), dpi=70):
        for k in range(max(1, min(start, n)), n + 1):
            post.register_until(k)
            fig.clear()
            tried = post.points[k] if k < n and next_point else None
            if two_d:
                _draw_2d(fig, post, space, k, tried, label, resolution or 50, True)
            else:
                _draw_1d(fig, post, space, k, tried, label, resolution or 300, truth, True)
            fig.tight_layout()
            writer.grab_frame()
    return Path(path)
