"""benchmarks/tuning_memory.py on a tiny setting: RSS is reported after every trial."""

import re


def test_tiny_run_reports_rss_after_every_trial(load_benchmark, capsys):
    code = load_benchmark("tuning_memory").main(
        ["--trials", "2", "--per-class", "20", "--image-size", "32", "--width", "0.0625"]
    )
    out = capsys.readouterr().out
    assert code == 0
    trials = re.findall(r"^trial +(\d+) +rss +([\d.]+) MiB", out, re.M)
    assert [int(t) for t, _ in trials] == [1, 2]
    assert all(float(rss) > 0 for _, rss in trials)
    assert "2 trials, data loaded 1 time(s)" in out
