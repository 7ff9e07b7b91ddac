"""The oracle's GP kernel: Matern 5/2 with one length scale per coordinate (ARD), started
at and bounded relative to each coordinate's range."""

import keras_tuner
import numpy as np
import pytest
from bayes_opt import BayesianOptimization

from keras_recipes import _compat
from keras_recipes.tuning.bo.oracle import (
    LENGTH_SCALE_RANGE,
    BayesOptOracle,
    ard_matern,
    use_ard_kernel,
)

pytestmark = pytest.mark.filterwarnings("ignore:Non-float parameters are experimental")


def test_length_scales_start_at_each_range_and_are_bounded_relative_to_it():
    kernel = ard_matern(np.array([[-5.0, 10.0], [0.0, 0.5], [-4.0, -1.0], [2.0, 2.0]]))
    assert kernel.nu == 2.5
    assert kernel.length_scale.tolist() == [15.0, 0.5, 3.0, 1.0]  # a zero range: 1
    low, high = LENGTH_SCALE_RANGE
    assert kernel.length_scale_bounds.tolist() == [
        [low * s, high * s] for s in (15.0, 0.5, 3.0, 1.0)
    ]


def test_a_coordinate_the_function_ignores_gets_the_largest_length_scale():
    # f depends on x only: the marginal likelihood is highest with y's length scale as
    # long as allowed (the GP flat along y), and x's stays within its range.
    optimizer = use_ard_kernel(
        BayesianOptimization(None, {"x": (0.0, 1.0), "y": (0.0, 4.0)}, random_state=0, verbose=0)
    )
    for x in np.linspace(0.0, 1.0, 5):
        for y in (0.0, 1.3, 2.9, 4.0):
            optimizer.register({"x": x, "y": y}, float(np.sin(6.0 * x)))
    optimizer.predict({"x": 0.5, "y": 2.0}, fit_gp=True)
    fitted = _compat.bayes_opt_gp(optimizer).kernel_.length_scale
    assert fitted[1] == pytest.approx(LENGTH_SCALE_RANGE[1] * 4.0)
    assert LENGTH_SCALE_RANGE[0] * 1.0 <= fitted[0] < 1.0


def test_the_oracle_fits_one_length_scale_per_coordinate_of_a_mixed_space(tmp_path):
    hp = keras_tuner.HyperParameters()
    hp.Float("lr", 1e-4, 1e-1, sampling="log")
    hp.Int("units", 16, 256, step=16)
    hp.Choice("activation", ["relu", "tanh", "elu"])
    oracle = BayesOptOracle(
        keras_tuner.Objective("score", "max"),
        hyperparameters=hp,
        max_trials=6,
        init_points=3,
        seed=0,
    )
    _compat.set_project_dir(oracle, str(tmp_path), "project")
    for _ in range(4):  # 3 random points, then a suggestion: the GP is fitted on 3
        trial = oracle.create_trial("w0")
        values = trial.hyperparameters.values
        oracle.update_trial(trial.trial_id, {"score": -abs(np.log10(values["lr"]) + 2.5)})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    gp = _compat.bayes_opt_gp(oracle.optimizer)
    # log10 lr: 3 decades; units: an index 0..15; activation: 3 one-hot coordinates.
    assert gp.kernel.length_scale.tolist() == [3.0, 15.0, 1.0, 1.0, 1.0]
    fitted = gp.kernel_
    bounds = np.asarray(fitted.length_scale_bounds)
    assert fitted.length_scale.shape == (5,)
    assert np.all(bounds[:, 0] * (1 - 1e-9) <= fitted.length_scale)
    assert np.all(fitted.length_scale <= bounds[:, 1] * (1 + 1e-9))
