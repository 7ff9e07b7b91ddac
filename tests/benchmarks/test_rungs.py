"""benchmarks/rungs.py: the rung scores of both layouts and their Kendall taus, with the
training replaced by made-up curves (the real run is the benchmark's; README figures)."""

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="module")
def rungs(load_benchmark):
    return load_benchmark("rungs")


def fake_curve(objective, params, epochs):
    # A longer cycle climbs more slowly; the learning rate sets the level.
    level = 0.9 + params["log10_learning_rate"] / 10
    return level * (1 - 0.5 ** (np.arange(1, epochs + 1) * 3 / epochs))


def test_tiny_run_prints_the_scores_and_taus(rungs, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(rungs, "train_curve", fake_curve)
    assert rungs.main(["--tiny", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    scores = pd.read_csv(tmp_path / "scores.csv")
    assert len(scores) == rungs.TINY["points"]
    points = rungs.random_points(rungs.TINY["points"], 0)
    for (_, row), params in zip(scores.iterrows(), points, strict=True):
        full = fake_curve(None, params, 2)
        assert row["full"] == pytest.approx(full.max())
        assert row["final_1"] == pytest.approx(full[0])
        assert row["compressed_1"] == pytest.approx(fake_curve(None, params, 1).max())
    assert "| point | lr | wd | compressed 1 | final 1 | 2 epochs |" in out
    # Both layouts keep the learning rate's order here: tau 1.
    assert "| 1 | 1.000 | 1.000 |" in out
    assert "fidelity check on the compressed scores: no warning" in out
    assert "fidelity check on the final scores: no warning" in out
    taus = pd.read_csv(tmp_path / "taus.csv")
    assert taus.to_dict("records") == [{"budget": 1, "compressed": 1.0, "final": 1.0}]


def test_a_rerun_continues_from_the_saved_scores(rungs, monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(rungs, "train_curve", lambda *a: calls.append(a) or fake_curve(*a))
    rungs.main(["--tiny", "--out", str(tmp_path)])
    assert len(calls) == 2 * rungs.TINY["points"]  # the full run and one lower budget
    rungs.main(["--tiny", "--out", str(tmp_path)])
    assert len(calls) == 2 * rungs.TINY["points"]


def test_taus_of_each_layout(rungs):
    frame = pd.DataFrame(
        {
            "full": [0.9, 0.8, 0.7, 0.6],
            "compressed_1": [0.6, 0.7, 0.8, 0.9],
            "final_1": [0.9, 0.8, 0.7, 0.6],
            "compressed_3": [0.9, 0.8, 0.6, 0.7],
            "final_3": [0.9, 0.8, 0.7, 0.6],
        }
    )
    taus = rungs.rung_taus(frame, [1, 3, 9])
    assert taus["budget"].tolist() == [1, 3]
    assert taus["compressed"].tolist() == pytest.approx([-1.0, 2 / 3])
    assert taus["final"].tolist() == pytest.approx([1.0, 1.0])
