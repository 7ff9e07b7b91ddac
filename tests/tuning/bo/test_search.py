"""run_search: run directory, resume, failures, and the random/grid/hyperband baselines."""

import json
from dataclasses import replace

import pandas as pd
import pytest

from keras_recipes.errors import ConfigError
from keras_recipes.tuning.bo.config import TuningConfig
from keras_recipes.tuning.bo.search import comparable_runs, run_search
from keras_recipes.tuning.bo.searches import grid_shape, grid_step
from keras_recipes.tuning.bo.toy import ToyObjective, toy_function
from keras_recipes.tuning.engine.failures import TrialsFailedError


def test_run_directory_files(toy_config, tmp_path):
    run_dir = tmp_path / "run"
    result = run_search(toy_config(n_iter=3), run_dir, verbose=False)
    names = sorted(p.name for p in run_dir.iterdir())
    assert names == [
        "best.json",
        "convergence.png",
        "keras_tuner",
        "tensorboard",
        "toy.png",
        "trials.csv",
        "tuning.json",
    ]
    frame = pd.read_csv(run_dir / "trials.csv")
    assert list(frame.columns) == ["trial", "x", "f", "seconds", "status"]
    assert frame["f"].tolist() == [float(toy_function(x)) for x in frame["x"]]
    best = json.loads((run_dir / "best.json").read_text())
    assert best["f"] == frame["f"].max() == result.best["f"]
    assert TuningConfig.load(run_dir) == toy_config(n_iter=3)


def test_live_table_has_one_row_per_trial(toy_config, tmp_path, capsys):
    run_search(toy_config(n_iter=2), tmp_path / "run")
    lines = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("trial"))
    assert lines[header].split() == ["trial", "x", "f", "seconds", "status"]
    rows = [line.split() for line in lines[header + 1 : header + 5]]
    assert [row[0] for row in rows] == ["1", "2", "3", "4"]
    assert all(row[-1] == "completed" for row in rows)
    assert lines[-1].startswith("best trial ")


def test_an_existing_run_is_not_overwritten(toy_config, tmp_path):
    run_search(toy_config(n_iter=0), tmp_path / "run", verbose=False)
    with pytest.raises(ConfigError, match=r"already holds a train-with-bo run; continue it with"):
        run_search(toy_config(n_iter=0), tmp_path / "run", verbose=False)


def test_resume_with_another_space_or_objective_names_both(toy_config, tmp_path):
    run_search(toy_config(n_iter=0), tmp_path / "run", verbose=False)
    other = toy_config(space=replace(toy_config().space, bounds=(("x", -1.0, 5.0),)))
    with pytest.raises(
        ConfigError,
        match=r"different search space: the run has x=-2,6, this command asks for x=-1,5",
    ):
        run_search(other, tmp_path / "run", resume=True, verbose=False)
    with pytest.raises(
        ConfigError, match=r"different seed: the run has 0, this command asks for 1"
    ):
        run_search(toy_config(seed=1), tmp_path / "run", resume=True, verbose=False)
    with pytest.raises(ConfigError, match=r"is not a train-with-bo run directory"):
        run_search(toy_config(), tmp_path / "missing", resume=True, verbose=False)


def test_resume_extends_to_the_new_total_as_if_never_stopped(toy_config, tmp_path):
    first = run_search(toy_config(n_iter=4), tmp_path / "run", verbose=False)
    resumed = run_search(toy_config(n_iter=8), tmp_path / "run", resume=True, verbose=False)
    straight = run_search(toy_config(n_iter=8), tmp_path / "straight", verbose=False)
    assert resumed.frame["trial"].tolist() == list(range(1, 11))
    # The 6 finished trials are kept as they were (same seconds: not rerun).
    pd.testing.assert_frame_equal(resumed.frame.head(6), first.frame)
    # bayes_opt's state came back (registered points + random state): same sequence.
    assert resumed.frame["x"].tolist() == straight.frame["x"].tolist()


class Interrupt:
    """Toy objective that is 'killed' (KeyboardInterrupt) on its n-th call."""

    def __init__(self, at):
        self.at, self.calls = at, 0

    def __call__(self, params, **kwargs):
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        return ToyObjective()(params)


@pytest.mark.parametrize("search", ["bo", "random", "grid"])
def test_a_trial_cut_off_runs_again_on_resume(search, toy_config, tmp_path):
    config = toy_config(search=search, n_iter=7)
    with pytest.raises(KeyboardInterrupt):
        run_search(config, tmp_path / "run", objective=Interrupt(at=5), verbose=False)
    cut = pd.read_csv(tmp_path / "run" / "trials.csv")
    assert cut["trial"].tolist() == [1, 2, 3, 4]
    resumed = run_search(config, tmp_path / "run", resume=True, verbose=False)
    straight = run_search(config, tmp_path / "straight", verbose=False)
    assert resumed.frame["trial"].tolist() == list(range(1, 10))
    assert resumed.frame["x"].tolist() == straight.frame["x"].tolist()
    assert resumed.frame["x"].is_unique
    pd.testing.assert_frame_equal(resumed.frame.head(4), cut.astype(resumed.frame.dtypes))


def test_diverged_trials_get_the_worst_score_in_trials_csv(toy_config, tmp_path):
    def objective(params, **_):
        return float("nan") if params["x"] > 3 else float(toy_function(params["x"]))

    result = run_search(toy_config(), tmp_path / "run", objective=objective, verbose=False)
    frame = pd.read_csv(tmp_path / "run" / "trials.csv")
    diverged = frame[frame["x"] > 3]
    assert len(diverged) > 0
    assert diverged["status"].unique().tolist() == ["diverged"]
    assert diverged["f"].unique().tolist() == [0.0]
    assert (frame[frame["x"] <= 3]["status"] == "completed").all()
    assert result.best["status"] == "completed"


def failing(params, **_):
    raise ImportError("No module named 'tensorboard'")


def test_all_trials_failing_is_an_error_with_the_cause(toy_config, tmp_path):
    with pytest.raises(
        TrialsFailedError,
        match=r"(?s)all 2 finished trials failed\. Causes:\n  2 x ImportError: No module named "
        r"'tensorboard' \(trials 1, 2\)",
    ):
        run_search(toy_config(n_iter=0), tmp_path / "a", objective=failing, verbose=False)
    frame = pd.read_csv(tmp_path / "a" / "trials.csv")
    assert frame["status"].tolist() == ["failed", "failed"]


def test_keras_tuner_stopping_on_failures_is_reported_with_the_cause(toy_config, tmp_path):
    with pytest.raises(
        TrialsFailedError,
        match=r"(?s)the search stopped: Number of consecutive failures exceeded the limit of 3\."
        r" \(3 of 3 finished trials failed\)\. Causes:\n  3 x ImportError",
    ):
        run_search(toy_config(), tmp_path / "b", objective=failing, verbose=False)


def test_some_failed_trials_are_a_warning(toy_config, tmp_path, capsys):
    def sometimes(params, **_):
        if params["x"] > 5:
            raise RuntimeError("out of memory")
        return float(toy_function(params["x"]))

    result = run_search(toy_config(n_iter=4), tmp_path / "run", objective=sometimes, verbose=False)
    assert "failed" in result.frame["status"].tolist()
    assert "trials failed (first: RuntimeError: out of memory)" in capsys.readouterr().err


def test_grid_layout_matches_the_budget():
    assert grid_shape(30, 2) == (5, 6)
    assert grid_shape(16, 2) == (4, 4)
    assert grid_shape(10, 2) == (3, 3)
    assert grid_shape(12, 2) == (3, 4)
    with pytest.raises(ConfigError, match=r"needs at least 2 points per axis \(4 trials\)"):
        grid_shape(3, 2)
    for n in range(2, 40):
        step = grid_step(-5.0, -1.0, n)
        assert int((-1.0 - -5.0) // step) + 1 == n
        assert -5.0 + (n - 1) * step == pytest.approx(-1.0, abs=1e-9)


def test_grid_search_walks_the_grid(toy_config, tmp_path, capsys):
    result = run_search(toy_config(search="grid", n_iter=3), tmp_path / "grid")
    assert "grid: 5 = 5 points (budget 5 trials)" in capsys.readouterr().out
    assert result.frame["x"].tolist() == pytest.approx([-2.0, 0.0, 2.0, 4.0, 6.0])


def test_random_search_is_seeded(toy_config, tmp_path):
    a = run_search(toy_config(search="random", n_iter=3), tmp_path / "a", verbose=False)
    b = run_search(toy_config(search="random", n_iter=3), tmp_path / "b", verbose=False)
    c = run_search(toy_config(search="random", n_iter=3, seed=1), tmp_path / "c", verbose=False)
    assert a.frame["x"].tolist() == b.frame["x"].tolist() != c.frame["x"].tolist()
    assert a.frame["x"].between(-2, 6).all()
    # keras-tuner draws trial i from seed + i: neighbouring seeds must not share points.
    assert not set(a.frame["x"]) & set(c.frame["x"])


def test_hyperband_passes_its_epochs_to_the_objective(toy_config, tmp_path):
    seen = []

    def objective(params, epochs=None, **_):
        seen.append(epochs)
        return float(toy_function(params["x"]))

    run_search(toy_config(search="hyperband"), tmp_path / "hb", objective=objective, verbose=False)
    # max_epochs 3 (toy), factor 3: two brackets, rounds of 1 and 3 epochs.
    assert sorted(set(seen)) == [1, 3]


def test_convergence_overlays_comparable_sibling_runs(toy_config, tmp_path):
    run_search(toy_config(search="random", n_iter=3), tmp_path / "random", verbose=False)
    run_search(toy_config(search="grid", n_iter=3), tmp_path / "grid", verbose=False)
    other_space = toy_config(space=replace(toy_config().space, bounds=(("x", -1.0, 5.0),)))
    run_search(replace(other_space, search="random", n_iter=3), tmp_path / "other", verbose=False)
    config = toy_config(n_iter=3)
    (tmp_path / "bo").mkdir()
    labels = [label for label, _ in comparable_runs(config, tmp_path / "bo")]
    assert labels == ["grid (grid)", "random (random)"]
    with pytest.raises(ConfigError, match=r"--compare-with .*nowhere: .* is not a train-with-bo"):
        comparable_runs(config, tmp_path / "bo", [tmp_path / "nowhere"])


def test_a_kill_between_keras_tuners_two_saves_does_not_rerun_a_finished_trial(
    toy_config, tmp_path
):
    # keras-tuner writes oracle.json with the just-ended trial still "ongoing", then again
    # without it; a kill in between must not make resume run that finished trial again.
    first = run_search(toy_config(n_iter=2), tmp_path / "run", verbose=False)
    path = tmp_path / "run" / "keras_tuner" / "oracle.json"
    state = json.loads(path.read_text())
    state["ongoing_trials"] = {"tuner0": "3"}  # ids are padded to len(str(max_trials))
    path.write_text(json.dumps(state))
    resumed = run_search(toy_config(n_iter=3), tmp_path / "run", resume=True, verbose=False)
    assert resumed.frame["trial"].tolist() == [1, 2, 3, 4, 5]
    pd.testing.assert_frame_equal(resumed.frame.head(4), first.frame)
    state = json.loads(path.read_text())
    assert state["end_order"] == ["0", "1", "2", "3", "4"]
    assert state["run_times"] == {"0": 1, "1": 1, "2": 1, "3": 1, "4": 1}
