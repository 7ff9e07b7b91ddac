"""The fidelity check: exact Kendall tau on hand-made rungs, brackets counted as keras-tuner
runs them, and the warning when low budgets invert the ranks (silence when they hold)."""

import doctest
import io
import json
import math

import keras_tuner
import numpy as np
import pandas as pd
import pytest

from keras_recipes.tuning.bo.search import drive_search
from keras_recipes.tuning.bo.searches import build_oracle
from keras_recipes.tuning.bo.space import SearchSpace
from keras_recipes.tuning.engine import fidelity_check
from keras_recipes.tuning.engine.fidelity_check import (
    WARNING,
    FidelityCheck,
    RungTau,
    finished_brackets,
    kendall_tau,
    rung_taus,
    warning_line,
)
from keras_recipes.tuning.engine.recorder import TrialRecorder
from keras_recipes.tuning.engine.rungs import hyperband_schedule


def test_examples():
    assert doctest.testmod(fidelity_check, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0


def test_kendall_tau_exact_values():
    assert kendall_tau([1, 2, 3, 4, 5], [1, 2, 3, 5, 4]) == pytest.approx(0.8)  # (9 - 1) / 10
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    # tau-b with a tie in x: 5 concordant pairs, 1 tied, 0 discordant -> 5 / sqrt(5 * 6).
    assert kendall_tau([1, 1, 2, 3], [1, 2, 3, 4]) == pytest.approx(5 / math.sqrt(30))
    assert math.isnan(kendall_tau([0.5], [0.7]))
    assert math.isnan(kendall_tau([0.5, 0.5, 0.5], [0.1, 0.2, 0.3]))


def rows(bracket, budget, points, scores, status="completed"):
    return [
        {"x": x, "bracket": bracket, "budget": budget, "f": f, "status": status}
        for x, f in zip(points, scores, strict=True)
    ]


def hand_made():
    """A max-9 Hyperband run: brackets 2 (1, 3, 9 epochs), 1 (3, 9) and 0 (9)."""
    table = [
        *rows(2, 1, [1, 2, 3, 4, 5, 6, 7, 8, 9], [0.1, 0.5, 0.2, 0.6, 0.3, 0.7, 0.4, 0.8, 0.0]),
        *rows(2, 3, [4, 6, 8], [0.62, 0.75, 0.70]),
        *rows(2, 9, [6], [0.80]),
        *rows(1, 3, [11, 12, 13, 14, 15], [0.5, 0.6, 0.1, 0.2, 0.3]),
        *rows(1, 9, [11, 12], [0.85, 0.90]),
        # Bracket 0 holds point 1 again: another configuration than bracket 2's point 1.
        *rows(0, 9, [1, 21, 22], [0.95, 0.4, 0.5]),
        *rows(2, 1, [31], [math.nan], status="failed"),
    ]
    frame = pd.DataFrame(table)
    frame.insert(0, "trial", range(1, len(frame) + 1))
    return frame


def test_rung_taus_on_a_hand_made_run():
    taus = rung_taus(hand_made(), ["x"], "f", top_budget=9)
    # Budget 1: only point 6 reached 9 epochs. Budget 3: points 6, 11, 12 with 3-epoch
    # scores 0.75, 0.5, 0.6 and 9-epoch scores 0.80, 0.85, 0.90: pairs (6, 11) and (6, 12)
    # discordant, (11, 12) concordant -> (1 - 2) / 3.
    assert [(t.budget, t.top_budget, t.pairs) for t in taus] == [(1, 9, 1), (3, 9, 3)]
    assert math.isnan(taus[0].tau)
    assert taus[1].tau == pytest.approx(-1 / 3)
    assert warning_line(taus) is None  # 3 pairs say nothing either way


def test_the_warning_needs_five_pairs_and_tau_below_0_3():
    assert warning_line([RungTau(3, 9, 4, -1.0)]) is None
    assert warning_line([RungTau(3, 9, 5, 0.3)]) is None
    line = warning_line([RungTau(1, 9, 5, 0.2), RungTau(3, 9, 6, -0.6)])
    assert line == (
        "warning: Kendall tau -0.60 between 3- and 9-epoch scores over 6 configurations: "
        "low-budget scores do not predict full-budget ones here; consider --search bo or a "
        "larger minimum budget (--min-epochs)"
    )
    assert "\n" not in line


def test_finished_brackets_follow_the_top_rungs():
    schedule = hyperband_schedule(9)  # top rungs: 1, 2 and 3 trials
    frame = hand_made()
    assert finished_brackets(frame, schedule) == 3  # at 9 epochs: 1, 2 and 3 trials
    assert finished_brackets(frame.head(13), schedule) == 1
    assert finished_brackets(frame.head(12), schedule) == 0


def run_hyperband(tmp_path, score, max_epochs=27):
    """keras-tuner's Hyperband through the package's engine, with the live output kept."""
    space = SearchSpace.from_mapping({"x": (0.0, 1.0)})
    objective = keras_tuner.Objective("f", "max")
    oracle, _ = build_oracle(
        "hyperband", space, objective, init_points=1, n_iter=0, seed=0, max_epochs=max_epochs
    )
    out = io.StringIO()
    recorder = TrialRecorder(space, "f", tmp_path, out, epochs=False, brackets=True)
    drive_search(
        oracle,
        lambda params, epochs=None, **_: score(params["x"], epochs),
        recorder,
        tmp_path,
        role="single",
        resume=False,
        param_names=space.names,
        objective_name="f",
        plan="",
    )
    return out.getvalue(), json.loads((tmp_path / "fidelity.json").read_text())["reports"]


def test_warns_once_when_low_budgets_invert_the_ranks(tmp_path, capsys):
    # The full budget prefers large x; every lower budget prefers small x.
    out, reports = run_hyperband(tmp_path, lambda x, epochs: x if epochs == 27 else -x)
    assert [r["brackets_finished"] for r in reports] == [1, 2, 3, 4]
    nine = reports[-1]["rungs"][-1]
    assert (nine["budget"], nine["pairs"], nine["tau"]) == (9, 5, -1.0)
    assert [r["low"] for r in reports] == [False, False, True, True]
    err = capsys.readouterr().err
    assert err.count(WARNING) == 1
    assert "warning: Kendall tau -1.00 between 9- and 27-epoch scores over 5 configurations" in err
    assert "fidelity check after 3 of 4 brackets" in out
    assert "9 epochs -1.00 (5 pairs)" in out


def successive_halving(score, max_epochs=27, seed=0):
    """Rows of a Hyperband run on `score(x, epochs)` (keras-tuner's schedule, the best of
    each round promoted), without the engine."""
    rng = np.random.default_rng(seed)
    table = []
    schedule = hyperband_schedule(max_epochs)
    for index, rounds in enumerate(schedule):
        bracket = len(schedule) - 1 - index
        points = list(rng.uniform(0, 1, rounds[0][0]))
        for r, (size, epochs) in enumerate(rounds):
            if r:  # the best of the last round, by their scores there
                last = rounds[r - 1][1]
                points = sorted(points, key=lambda x, e=last: score(x, e), reverse=True)[:size]
            table += rows(bracket, epochs, points, [score(x, epochs) for x in points])
    frame = pd.DataFrame(table)
    frame.insert(0, "trial", range(1, len(frame) + 1))
    return frame


def test_silent_where_the_ranks_hold(capsys):
    frame = successive_halving(lambda x, epochs: x * (1 - 1 / (epochs + 1)))
    out = io.StringIO()
    check = FidelityCheck(["x"], "f", max_epochs=27, stream=out)
    reports = [r for n in range(1, len(frame) + 1) if (r := check.update(frame.head(n)))]
    assert [r["brackets_finished"] for r in reports] == [1, 2, 3, 4]
    assert [r["low"] for r in reports] == [False] * 4
    assert reports[-1]["rungs"] == [
        {"budget": 1, "top_budget": 27, "pairs": 1, "tau": None},
        {"budget": 3, "top_budget": 27, "pairs": 3, "tau": 1.0},
        {"budget": 9, "top_budget": 27, "pairs": 5, "tau": 1.0},
    ]
    assert "warning" not in capsys.readouterr().err
    assert out.getvalue().splitlines()[-1] == (
        "fidelity check after 4 of 4 brackets (70 trials): Kendall tau with 27 epochs: "
        "1 epoch - (1 pair), 3 epochs 1.00 (3 pairs), 9 epochs 1.00 (5 pairs)"
    )


def test_the_same_run_with_inverted_low_budgets_warns(capsys):
    frame = successive_halving(lambda x, epochs: x if epochs == 27 else -x)
    check = FidelityCheck(["x"], "f", max_epochs=27)
    for n in range(1, len(frame) + 1):
        check.update(frame.head(n))
    assert check.reports[-1]["rungs"][-1] == {
        "budget": 9,
        "top_budget": 27,
        "pairs": 5,
        "tau": -1.0,
    }
    assert capsys.readouterr().err.count(WARNING) == 1
