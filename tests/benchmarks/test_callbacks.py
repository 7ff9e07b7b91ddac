"""benchmarks/callbacks.py on a tiny setting: every callback timed, its overhead computed
against the run without callbacks."""

import math

import pytest


def test_tiny_run_prints_every_callback_with_its_overhead(load_benchmark, capsys):
    load_benchmark("callbacks").main(["--rounds", "2", "--steps", "2", "--batch-size", "8"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].split() == ["callback", "fastest", "median", "overhead"]
    rows = {line[:40].strip(): line[40:].split() for line in lines[3:]}
    assert list(rows) == ["none", "OneCycleScheduler (momentum cycling)", "PerformanceScheduler"]
    fastest = {name: float(cells[0]) for name, cells in rows.items()}
    for name, (best, median, overhead) in rows.items():
        assert 0 < float(best) <= float(median) < math.inf
        # The overhead is this set-up's fastest step over the baseline's, two different
        # timings: finite, and what the printed milliseconds give (to their rounding).
        percent = float(overhead.rstrip("%"))
        assert math.isfinite(percent) and percent > -100
        expected = 100 * (fastest[name] / fastest["none"] - 1)
        assert percent == pytest.approx(expected, abs=0.1)
