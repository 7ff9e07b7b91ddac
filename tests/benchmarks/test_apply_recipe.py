"""benchmarks/apply_recipe.py on a tiny setting: every recipe and the baseline timed."""

import math


def test_tiny_run_times_every_recipe_and_the_baseline(load_benchmark, capsys):
    bench = load_benchmark("apply_recipe")
    args = ["--model", "MobileNetV2", "--size", "32", "--runs", "2", "--recipes", "default", "elu"]
    times = bench.main(args)
    assert list(times) == [bench.BASELINE, "default", "elu"]
    assert all(len(v) == 2 and all(0 < s < math.inf for s in v) for v in times.values())
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("MobileNetV2 at 32 px:")
    assert lines[1].split() == ["setup", "median", "s", "fastest", "s"]
    assert [line[:26].strip() for line in lines[2:]] == list(times)
