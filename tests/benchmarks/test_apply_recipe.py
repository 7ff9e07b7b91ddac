"""benchmarks/apply_recipe.py on a tiny setting: every recipe and the baseline timed."""

import math

import pytest


@pytest.mark.slow  # four clones of a 155-layer model and its build: 5-9 s on 2 busy cores
def test_tiny_run_times_every_recipe_and_the_baseline(load_benchmark, capsys):
    bench = load_benchmark("apply_recipe")
    args = ["--model", "MobileNetV2", "--size", "32", "--runs", "1", "--recipes", "elu"]
    times = bench.main(args)
    assert list(times) == [bench.BASELINE, "elu"]
    assert all(len(v) == 1 and 0 < v[0] < math.inf for v in times.values())
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("MobileNetV2 at 32 px:")
    assert lines[1].split() == ["setup", "median", "s", "fastest", "s"]
    assert [line[:26].strip() for line in lines[2:]] == list(times)
