"""Tuning figures: convergence, GP posterior (2-D heatmaps, 1-D toy) and the GIF."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import QuadMesh
from PIL import Image

from keras_recipes.tuning.bo.plots import (
    animate_posterior,
    best_so_far,
    plot_convergence,
    plot_posterior,
)
from keras_recipes.tuning.bo.space import TRAIN_BOUNDS, SearchSpace
from keras_recipes.tuning.bo.toy import toy_function


def frame_2d(n=6):
    rng = np.random.default_rng(0)
    lr, wd = rng.uniform(-5, -1, n), rng.uniform(-5, -1, n)
    score = 0.9 - 0.05 * (lr + 2) ** 2 - 0.02 * (wd + 4) ** 2
    status = ["completed"] * n
    status[1] = "failed"
    score[1] = np.nan
    return pd.DataFrame(
        {
            "trial": np.arange(1, n + 1),
            "log10_learning_rate": lr,
            "log10_weight_decay": wd,
            "best_val_accuracy": score,
            "status": status,
        }
    )


def test_best_so_far_skips_failed_trials_and_follows_trial_order():
    frame = pd.DataFrame({"trial": [3, 1, 2], "f": [0.9, 0.5, np.nan]})
    assert best_so_far(frame, "f").to_dict() == {1: 0.5, 2: 0.5, 3: 0.9}


def test_convergence_plot(tmp_path, saved_figures):
    runs = [("bo", frame_2d()), ("random", frame_2d(4))]
    path = plot_convergence(runs, "best_val_accuracy", tmp_path / "c.png")
    assert Image.open(path).size == (700, 450)
    ((figure, _),) = saved_figures
    (ax,) = figure.axes
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("trial", "best best_val_accuracy so far")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["bo", "random"]
    # One best-so-far step line per run, through exactly the running maxima.
    for line, (_, frame) in zip(ax.get_lines(), runs, strict=True):
        best = best_so_far(frame, "best_val_accuracy")
        np.testing.assert_array_equal(line.get_xdata(), best.index)
        np.testing.assert_array_equal(line.get_ydata(), best.to_numpy())
    # And every trial's own score as a point (the failed one's NaN included).
    assert [len(c.get_offsets()) for c in ax.collections] == [6, 4]


def test_gp_posterior_has_three_heatmaps(tmp_path, saved_figures):
    space = SearchSpace.from_mapping(TRAIN_BOUNDS)
    path = plot_posterior(
        frame_2d(), space, "best_val_accuracy", tmp_path / "gp.png", resolution=20
    )
    assert Image.open(path).size == (1600, 460)
    ((figure, _),) = saved_figures
    panels = [ax for ax in figure.axes if ax.get_title()]  # the others are colour bars
    assert [ax.get_title() for ax in panels] == [
        "GP mean",
        "GP std",
        "expected improvement (xi=0.01)",
    ]
    assert len(figure.axes) == 6
    assert figure.get_suptitle() == "GP posterior after 5 trials"  # the failed one is out
    observed = frame_2d().drop(index=1)[["log10_learning_rate", "log10_weight_decay"]]
    for ax in panels:
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("log10 learning rate", "log10 weight decay")
        mesh, points, star = ax.collections
        assert isinstance(mesh, QuadMesh) and mesh.get_array().shape == (20, 20)
        np.testing.assert_allclose(points.get_offsets(), observed.to_numpy())
        assert len(star.get_offsets()) == 1  # the next point
    std = panels[1].collections[0].get_array()
    assert np.all(np.asarray(std) >= 0)


@pytest.mark.parametrize("acquisition", ["ei", "ucb", "poi"])
def test_gp_posterior_gif_has_one_frame_per_trial(acquisition, tmp_path):
    space = SearchSpace.from_mapping(TRAIN_BOUNDS)
    path = animate_posterior(
        frame_2d(),
        space,
        "best_val_accuracy",
        tmp_path / "gp.gif",
        acquisition=acquisition,
        start=2,
        resolution=12,
    )
    # 5 scored trials (one failed): frames after 2, 3, 4 and 5 points.
    assert Image.open(path).n_frames == 4


def test_toy_figure_1d(tmp_path, saved_figures):
    xs = np.array([2.39, 3.72, 0.6, -1.0])
    frame = pd.DataFrame(
        {"trial": [1, 2, 3, 4], "x": xs, "f": toy_function(xs), "status": ["completed"] * 4}
    )
    space = SearchSpace.from_mapping({"x": (-2.0, 6.0)})
    path = plot_posterior(frame, space, "f", tmp_path / "toy.png", truth=toy_function)
    assert Image.open(path).size == (800, 600)
    ((figure, _),) = saved_figures
    top, bottom = figure.axes
    assert (top.get_ylabel(), bottom.get_ylabel(), bottom.get_xlabel()) == (
        "f(x)",
        "acquisition",
        "x",
    )
    assert top.get_title() == "GP posterior after 4 points"
    truth = next(line for line in top.get_lines() if line.get_label() == "true f")
    np.testing.assert_allclose(truth.get_ydata(), toy_function(truth.get_xdata()))
    observations = next(c for c in top.collections if c.get_label() == "observations")
    np.testing.assert_allclose(observations.get_offsets(), np.column_stack([xs, toy_function(xs)]))
    # The GP mean passes (nearly) through the observations it was fitted to.
    mean = next(line for line in top.get_lines() if line.get_label() == "GP mean")
    at_points = np.interp(xs, mean.get_xdata(), mean.get_ydata())
    np.testing.assert_allclose(at_points, toy_function(xs), atol=0.05)


def test_nothing_to_plot_returns_none(tmp_path):
    space = SearchSpace.from_mapping(TRAIN_BOUNDS)
    failed = frame_2d().assign(status="failed", best_val_accuracy=np.nan)
    assert plot_posterior(failed, space, "best_val_accuracy", tmp_path / "x.png") is None
    three = SearchSpace.from_mapping({"a": (0, 1), "b": (0, 1), "c": (0, 1)})
    assert plot_posterior(frame_2d(), three, "best_val_accuracy", tmp_path / "y.png") is None


@pytest.mark.slow
def test_importing_the_package_leaves_matplotlibs_backend_alone(tmp_path):
    # A notebook or GUI user's backend must survive `import keras_recipes...` and a plot:
    # a fresh process whose backend is "svg" imports every module, draws a PNG, and reads
    # the backend back.
    code = textwrap.dedent(
        f"""
        import importlib, pkgutil
        import matplotlib
        import pandas as pd
        import keras_recipes
        for module in pkgutil.walk_packages(keras_recipes.__path__, "keras_recipes."):
            if not module.name.endswith("__main__"):
                importlib.import_module(module.name)
        from keras_recipes.tuning.bo.plots import plot_convergence
        frame = pd.DataFrame({{"trial": [1, 2], "f": [0.5, 0.7]}})
        plot_convergence([("bo", frame)], "f", {str(tmp_path / "c.png")!r})
        print(matplotlib.get_backend())
        """
    )
    env = {**os.environ, "MPLBACKEND": "svg", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["svg"]
    assert Image.open(tmp_path / "c.png").format == "PNG"
