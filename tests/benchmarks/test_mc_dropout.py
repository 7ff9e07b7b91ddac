"""benchmarks/mc_dropout.py on a tiny demo set: MC, one-pass and plain figures for one
seed, from the same weights where the script says so."""

import math

import numpy as np
import pytest


@pytest.mark.slow  # two trainings, TTA and timed predictions: ~45 s on 2 busy cores
def test_tiny_run_reports_mc_one_pass_and_plain(load_benchmark, capsys):
    bench = load_benchmark("mc_dropout")
    tiny = ["--n-per-class", "30", "--epochs", "1", "--seeds", "1", "--passes", "3"]
    small = ["--repeats", "2", "--image-size", "32", "--width", "0.0625", "--batch-size", "16"]
    (row,) = bench.main([*tiny, *small])
    out = capsys.readouterr().out
    assert row["prediction_passes"] == 3
    assert len(row["mc_test"]) == len(row["one_pass_test"]) == 2
    estimates = [*row["mc_test"], *row["one_pass_test"], row["dropout_off_test"]]
    for accuracy, nll in [*estimates, row["plain_test"]]:
        assert 0 <= accuracy <= 1 and math.isfinite(nll) and nll > 0
    for key in ("seconds_val_mc", "seconds_val_one_pass", "seconds_val_plain"):
        assert math.isfinite(row[key]) and row[key] > 0
    assert "MC T=3 acc" in out.splitlines()[1]
    assert "predicting the validation split: MC T=3" in out


def test_twins_have_the_weights_and_their_own_passes(load_benchmark):
    bench = load_benchmark("mc_dropout")
    from keras_recipes.data import load_data
    from keras_recipes.models import alexnet, prediction_passes
    from keras_recipes.recipes import get_recipe

    x = np.random.default_rng(0).integers(0, 255, (20, 40, 40, 3), dtype=np.uint8)
    bundle = load_data((x, np.arange(20) % 2), image_size=32, batch_size=4)
    recipe = get_recipe("default").with_overrides(["regularization.dropout_kind=mc"])
    model = alexnet(recipe, (32, 32, 3), width=0.0625, seed=0)
    one_pass = bench.twin(model, recipe, bench.ONE_PASS, bundle, 0.0625, 0)
    off = bench.twin(model, recipe, bench.DROPOUT_OFF, bundle, 0.0625, 0)
    assert [prediction_passes(m) for m in (model, one_pass, off)] == [10, 1, 1]
    for copy in (one_pass, off):
        for a, b in zip(model.get_weights(), copy.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    x = np.asarray(next(iter(bundle.val))[0])
    np.testing.assert_array_equal(off(x), off(x))  # dropout off: deterministic
    assert not np.array_equal(one_pass(x), one_pass(x))  # one stochastic pass each call
