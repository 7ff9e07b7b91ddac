"""benchmarks/tuning_memory.py on a tiny setting: the summary follows from the per-trial RSS.

The leak check itself (RSS flat over ten trials) is tests/tuning/test_trial_memory.py.
"""

import re

import pytest


@pytest.mark.slow
def test_tiny_run_summarises_the_rss_it_printed_per_trial(load_benchmark, capsys):
    code = load_benchmark("tuning_memory").main(
        ["--trials", "2", "--per-class", "20", "--image-size", "32", "--width", "0.0625"]
    )
    out = capsys.readouterr().out
    assert code == 0
    trials = re.findall(
        r"^trial +(\d+) +rss +([\d.]+) MiB +\(vs trial 1: +([+-][\d.]+)\)", out, re.M
    )
    assert [int(t) for t, _, _ in trials] == [1, 2]
    rss = [float(r) for _, r, _ in trials]
    assert all(r > 100 for r in rss)  # TensorFlow alone is hundreds of MiB
    for (_, _, delta), value in zip(trials, rss, strict=True):
        assert float(delta) == pytest.approx(value - rss[0], abs=0.11)
    summary = re.search(
        r"2 trials, data loaded 1 time\(s\): RSS first ([\d.]+), last ([\d.]+), max ([\d.]+) "
        r"MiB; growth from trial 1 to 2: ([+-][\d.]+) MiB \(([+-][\d.]+) MiB/trial\)",
        out,
    )
    assert summary, out[-400:]
    first, last, peak, growth, slope = map(float, summary.groups())
    assert (first, last, peak) == (rss[0], rss[-1], max(rss))
    assert growth == pytest.approx(rss[-1] - rss[0], abs=0.11)
    assert slope == pytest.approx(growth, abs=0.06)  # one step; growth has one decimal
