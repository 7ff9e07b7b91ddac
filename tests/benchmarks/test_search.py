"""benchmarks/search.py on its tiny setting: the tables it prints hold real search results."""

import contextlib
import io
import re

import pytest
from bayes_opt import BayesianOptimization, acquisition

from keras_recipes.tuning.bo.toy import TOY_BOUNDS, toy_function


@pytest.fixture(scope="module")
def search(load_benchmark):
    return load_benchmark("search")


@pytest.fixture(scope="module")
def tiny_output(search):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = search.main(
            [
                "--tiny",
                "--seeds",
                "1",
                "--functions",
                "toy,branin,hartmann6",
                "--methods",
                "bo,random,grid,kt-bo",
            ]
        )
    assert code == 0
    return out.getvalue()


def section(text, heading_start):
    """The lines of the section whose heading starts with `## heading_start`."""
    part = text.split(f"## {heading_start}", 1)[1]
    return part.split("\n## ", 1)[0]


def table_rows(part):
    rows = [line for line in part.splitlines() if re.match(r"\| \d+ \|", line)]
    return [[float(c) if c.strip() != "-" else None for c in r.strip("|").split("|")] for r in rows]


def test_test_functions_have_their_known_optima(search):
    assert search.branin(3.14159265, 2.275) == pytest.approx(0.397887, abs=1e-6)
    assert search.hartmann6(
        [0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573]
    ) == pytest.approx(-3.32237, abs=1e-5)


@pytest.mark.slow
def test_each_function_gets_a_table_of_best_so_far_per_method(tiny_output):
    bounds = {"toy": (None, 1.70711), "Branin": (0.397887, None), "Hartmann-6": (-3.32237, None)}
    for heading, (low, high) in bounds.items():
        part = section(tiny_output, heading)
        assert "| evaluations | bo | random | grid | kt-bo |" in part
        rows = table_rows(part)
        assert len(rows) == 2  # the tiny budget's checkpoints: after the init points, at the end
        for column in range(1, 5):
            values = [row[column] for row in rows]
            if heading == "Hartmann-6" and column == 3:
                assert values == [None, None]  # a 6-D grid needs 64 points
                continue
            # No method beats the known optimum, and best-so-far only improves.
            assert all(v is not None for v in values)
            if low is not None:
                assert min(values) >= low - 1e-9
                assert values[1] <= values[0]
            else:
                assert max(values) <= high
                assert values[1] >= values[0]
    assert "grid: not run: A 6-D grid needs at least 2 points per axis (64 trials)" in tiny_output


def test_bo_column_is_the_package_oracle_reproducing_bayes_opt(tiny_output):
    # The tiny toy budget is 2 random + 3 guided points; with a deterministic function the
    # package's oracle probes what bayes_opt's own maximize does for the same seed.
    optimizer = BayesianOptimization(
        toy_function,
        TOY_BOUNDS,
        acquisition_function=acquisition.ExpectedImprovement(xi=0.01),
        random_state=0,
        verbose=0,
    )
    optimizer.maximize(init_points=2, n_iter=3)
    line = re.search(r"bo's final best per seed: (.*)", section(tiny_output, "toy")).group(1)
    assert line == f"{optimizer.max['target']:.4f}"


def test_suggestion_timing_and_goals_are_printed(tiny_output):
    timing = section(tiny_output, "Seconds per suggestion")
    seconds = re.findall(r"\| (bo|kt-bo) \| ([\d.]+) \| ([\d.]+) \|", timing)
    assert [name for name, _, _ in seconds] == ["bo", "kt-bo"]
    assert all(0 < float(fastest) <= float(median) for _, fastest, median in seconds)
    goals = section(tiny_output, "Goals")
    assert goals.count("not judged (--tiny)") == 3
    assert "Branin: bo's median best <= 0.42" in goals


def test_unknown_function_is_refused_naming_the_valid_ones(search, capsys):
    with pytest.raises(SystemExit, match="2"):
        search.main(["--functions", "toy,rosenbrock"])
    err = capsys.readouterr().err
    assert "unknown name rosenbrock; valid: toy, branin, hartmann6, train" in err
    assert "Traceback" not in err


def test_keras_tuner_searches_of_different_seeds_share_no_point(search, tmp_path):
    # keras-tuner seeds draw i from seed + i: without the stride, seeds 0 and 1 share 15 of
    # their 16 toy points.
    problem = search.problems(train_trials=20)["toy"]
    drawn = []
    for seed in (0, 1):
        oracle, _ = search.make_oracle("random", problem, seed)
        oracle._set_project_dir(str(tmp_path), f"seed{seed}")
        trials = [oracle.create_trial(f"worker{i}") for i in range(16)]
        drawn.append({trial.hyperparameters.values["x"] for trial in trials})
    assert len(drawn[0]) == len(drawn[1]) == 16
    assert not drawn[0] & drawn[1]
