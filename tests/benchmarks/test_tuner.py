"""benchmarks/tuner.py on its tiny setting: both tuners run through keras-tuner's interface
and the tables hold their real results."""

import contextlib
import io
import re

import pytest


@pytest.fixture(scope="module")
def tuner_benchmark(load_benchmark):
    return load_benchmark("tuner")


def test_the_synthetic_task_is_fixed_and_has_four_classes(tuner_benchmark):
    (x, y), (xv, yv) = tuner_benchmark.synthetic_data(100, 50)
    (x2, _), _ = tuner_benchmark.synthetic_data(100, 50)
    assert x.shape == (100, 20) and xv.shape == (50, 20) and (x == x2).all()
    assert set(y.tolist()) | set(yv.tolist()) == {0, 1, 2, 3}


@pytest.mark.slow
def test_tiny_run_prints_both_tuners_tables(tuner_benchmark):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = tuner_benchmark.main(["--tiny", "--functions", "branin,hartmann6"])
    assert code == 0
    text = out.getvalue()
    branin = text.split("## Branin", 1)[1].split("\n## ", 1)[0]
    rows = [r for r in branin.splitlines() if re.match(r"\| \d+ \|", r)]
    assert [r.split("|")[1].strip() for r in rows] == ["2", "4"]
    best = [float(c) for c in rows[-1].strip("|").split("|")[1:]]
    assert len(best) == 2 and all(0.397 < v < 310 for v in best)
    assert "| hartmann6: bo's median best <= kt-bo's |" in text
