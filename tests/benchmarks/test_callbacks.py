"""benchmarks/callbacks.py on a tiny setting: the three set-ups are timed and printed."""

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "callbacks.py"


def test_tiny_run_prints_every_callback_with_its_overhead(capsys):
    spec = importlib.util.spec_from_file_location("callbacks_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        module.main(["--rounds", "1", "--steps", "2", "--batch-size", "8"])
    finally:
        del sys.modules[spec.name]
    lines = capsys.readouterr().out.splitlines()
    rows = {line[:40].strip(): line[40:].split() for line in lines[3:]}
    assert list(rows) == ["none", "OneCycleScheduler (momentum cycling)", "PerformanceScheduler"]
    assert rows["none"][2] == "0.00%"
    assert all(float(cells[0]) > 0 for cells in rows.values())
