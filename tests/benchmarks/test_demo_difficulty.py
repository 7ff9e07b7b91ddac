"""benchmarks/demo_difficulty.py on a tiny demo set: every model trains and is reported."""

import pytest


@pytest.mark.slow
def test_tiny_run_reports_every_model(load_benchmark, capsys):
    tiny = ["--n-per-class", "30", "--epochs-linear", "1", "--epochs-cnn", "1"]
    results = load_benchmark("demo_difficulty").main([*tiny, "--alexnet", "--epochs-alexnet", "1"])
    out = capsys.readouterr().out
    names = ["linear (augmented)", "linear (centre crops)", "small CNN", "AlexNet w0.25, default"]
    assert list(results) == names
    for name in names:
        assert len(results[name]["val_accuracy"]) == 1
        assert 0.0 <= results[name]["val_accuracy"][0] <= 1.0
        assert any(line.startswith(name) for line in out.splitlines())
    assert "generation: 60 images" in out
