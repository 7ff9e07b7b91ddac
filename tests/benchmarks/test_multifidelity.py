"""benchmarks/multifidelity.py: the multi-fidelity Branin, the budget accounting, and a tiny
run of the four searches through the package's engine."""

import doctest
import math

import numpy as np
import pytest


@pytest.fixture(scope="module")
def mf(load_benchmark):
    return load_benchmark("multifidelity")


def test_examples(mf):
    assert doctest.testmod(mf).failed == 0


def test_full_fidelity_is_branin(mf, load_benchmark):
    search = load_benchmark("search")
    rng = np.random.default_rng(0)
    for x1, x2 in zip(rng.uniform(-5, 10, 20), rng.uniform(0, 15, 20), strict=True):
        assert mf.branin_mf(x1, x2, 1.0) == pytest.approx(search.branin(x1, x2), abs=1e-12)
    # Lower budgets are worse on average and noisier.
    low, full = mf.NoisyBranin(27, seed=0), mf.NoisyBranin(27, seed=0)
    point = {"x1": math.pi, "x2": 2.275}
    lows = [-low(point, epochs=1) for _ in range(200)]
    fulls = [-full(point) for _ in range(200)]
    assert np.mean(lows) > np.mean(fulls) + 8
    assert np.std(lows) > 10 * np.std(fulls)


def test_best_found_is_the_true_value_of_the_best_scored_point_paid_for(mf):
    run = mf.Run(
        costs=[1, 1, 3, 9],
        scores=[-5.0, -2.0, float("nan"), -1.0],
        truths=[4.0, 3.0, 9.0, 0.5],
        taus={},
        seconds=0.0,
    )
    assert run.best_at(0.05, max_epochs=9) is None
    assert run.best_at(2 / 9, max_epochs=9) == 3.0  # 2 epochs paid: trials 1 and 2
    assert run.best_at(5 / 9, max_epochs=9) == 3.0  # trial 3 failed
    assert run.best_at(14 / 9, max_epochs=9) == 0.5


@pytest.mark.slow
def test_tiny_run(mf, capsys):
    assert mf.main(["--tiny"]) == 0
    out = capsys.readouterr().out
    assert "| full-budget evaluations spent | bohb | hyperband | bo | random |" in out
    rows = [line for line in out.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [row.split("|")[1].strip() for row in rows] == ["1", "2", "3", "4", "5", "6", "8"]
    assert "bohb's median best <= hyperband's at every budget:" in out
    assert "fidelity check (Kendall tau with 9 epochs" in out
