"""benchmarks/callbacks.py on a tiny setting: the three set-ups are timed and printed."""


def test_tiny_run_prints_every_callback_with_its_overhead(load_benchmark, capsys):
    load_benchmark("callbacks").main(["--rounds", "1", "--steps", "2", "--batch-size", "8"])
    lines = capsys.readouterr().out.splitlines()
    rows = {line[:40].strip(): line[40:].split() for line in lines[3:]}
    assert list(rows) == ["none", "OneCycleScheduler (momentum cycling)", "PerformanceScheduler"]
    assert rows["none"][2] == "0.00%"
    assert all(float(cells[0]) > 0 for cells in rows.values())
