"""`plot_learning_curves`: what the run directory's learning_curves.png holds."""

import numpy as np
import pandas as pd

from keras_recipes.training.plots import plot_learning_curves


def test_learning_curves_draw_train_against_validation(tmp_path, saved_figures):
    history = pd.DataFrame(
        {
            "epoch": [1, 2, 3],
            "loss": [0.9, 0.6, 0.4],
            "accuracy": [0.5, 0.7, 0.8],
            "val_loss": [1.0, 0.7, 0.6],
            "val_accuracy": [0.45, 0.65, 0.7],
        }
    )
    path = plot_learning_curves(history, tmp_path / "learning_curves.png", title="selu")
    assert path.is_file()
    ((figure, _),) = saved_figures
    assert figure.get_suptitle() == "selu"
    loss_axes, accuracy_axes = figure.axes
    for axes, metric in ((loss_axes, "loss"), (accuracy_axes, "accuracy")):
        assert (axes.get_xlabel(), axes.get_ylabel()) == ("epoch", metric)
        train, validation = axes.get_lines()
        assert (train.get_label(), validation.get_label()) == ("train", "validation")
        np.testing.assert_array_equal(train.get_xdata(), [1, 2, 3])
        np.testing.assert_array_equal(train.get_ydata(), history[metric])
        np.testing.assert_array_equal(validation.get_ydata(), history[f"val_{metric}"])
