"""BOHBOracle: Hyperband's brackets, bayes_opt's suggestions at the right budget, the random
fraction, bracket/budget columns, resume, and `train-with-bo --search bohb` end to end."""

import doctest
import json
import math
import signal
import socket
import time
from collections import Counter

import keras_tuner
import numpy as np
import pandas as pd
import pytest
from bayes_opt import BayesianOptimization, acquisition
from keras_tuner.oracles import HyperbandOracle

from keras_recipes import _compat
from keras_recipes.cli.train_with_bo import main as train_with_bo
from keras_recipes.errors import ConfigError
from keras_recipes.tuning.bo import bohb
from keras_recipes.tuning.bo.bohb import BOHBOracle, model_budget
from keras_recipes.tuning.bo.oracle import SEED_SPACING
from keras_recipes.tuning.bo.search import drive_search, run_search
from keras_recipes.tuning.bo.searches import build_oracle
from keras_recipes.tuning.bo.space import SearchSpace
from keras_recipes.tuning.bo.toy import toy_function
from keras_recipes.tuning.engine.recorder import TrialRecorder
from keras_recipes.tuning.engine.rungs import hyperband_schedule, with_min_epochs

OBJECTIVE = keras_tuner.Objective("f", "max")
BRANIN_BOUNDS = {"x1": (-5.0, 10.0), "x2": (0.0, 15.0)}


def branin_score(values, epochs=None):
    """-Branin, shifted by the budget: a deterministic multi-fidelity objective to maximise."""
    x1, x2 = values["x1"], values["x2"]
    epochs = epochs or values.get("tuner/epochs", 9)
    b, c, t = 5.1 / (4 * math.pi**2) - 0.01 / epochs, 5 / math.pi, 1 / (8 * math.pi)
    return -((x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10)


def drive(oracle, tmp_path, score=branin_score, trials=None):
    """Runs `oracle` to the end (or `trials` trials) with one worker, straight through
    keras-tuner's Oracle API."""
    _compat.set_project_dir(oracle, str(tmp_path), "project")
    oracle.verbose = 0
    while trials is None or len(oracle.trials) < trials:
        trial = oracle.create_trial("w0")
        if trial.status == "STOPPED":
            return oracle
        assert trial.status == "RUNNING"
        oracle.update_trial(trial.trial_id, {"f": score(trial.hyperparameters.values)})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    return oracle


def values_in_order(oracle):
    return [oracle.trials[t].hyperparameters.values for t in sorted(oracle.trials)]


def test_examples():
    assert doctest.testmod(bohb, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0


def trials_run(oracle):
    """(bracket, epochs) -> how many trials ran there."""
    return Counter((v["tuner/bracket"], v["tuner/epochs"]) for v in values_in_order(oracle))


def scheduled(schedule):
    """The same count, as `hyperband_schedule` lays the brackets out."""
    return {
        (len(schedule) - 1 - i, epochs): n
        for i, rounds in enumerate(schedule)
        for n, epochs in rounds
    }


@pytest.mark.parametrize(
    ("max_epochs", "min_epochs"),
    [(3, 1), (9, 1), (10, 1), (27, 1), (9, 2), (9, 3), (9, 9), (27, 3), (27, 5)],
)
def test_schedule_is_keras_tuners(max_epochs, min_epochs, tmp_path):
    hps = keras_tuner.HyperParameters()
    hps.Float("x", 0.0, 1.0)
    oracle = HyperbandOracle(
        objective=OBJECTIVE, max_epochs=max_epochs, hyperparameters=hps, seed=1
    )
    if min_epochs != 1:  # keras-tuner's own walk, its minimum raised
        with_min_epochs(oracle, min_epochs)
    drive(oracle, tmp_path, score=lambda v: v["x"])
    schedule = hyperband_schedule(max_epochs, min_epochs=min_epochs)
    assert trials_run(oracle) == scheduled(schedule)
    assert min(epochs for rounds in schedule for _, epochs in rounds) >= min_epochs


def test_a_reloaded_bohb_keeps_its_minimum_budget(tmp_path):
    first = BOHBOracle(OBJECTIVE, BRANIN_BOUNDS, max_epochs=9, min_epochs=3, seed=0)
    drive(first, tmp_path / "a", trials=4)
    # Reloaded into an oracle built with keras-tuner's default, as the state says.
    again = BOHBOracle(OBJECTIVE, BRANIN_BOUNDS, max_epochs=9, seed=0)
    _compat.set_project_dir(again, str(tmp_path / "a"), "project")
    again.set_state(first.get_state())
    again.trials = first.trials
    drive(again, tmp_path / "a")
    assert again.min_epochs == 3
    assert trials_run(again) == {(1, 3): 5, (1, 9): 2, (0, 9): 3}


@pytest.mark.parametrize("min_epochs", [0, 10, 2.5, True])
def test_a_minimum_budget_outside_1_to_max_epochs_is_refused(min_epochs):
    message = rf"--min-epochs must be an integer in 1\.\.9 .*; got {min_epochs!r}\."
    with pytest.raises(ConfigError, match=message):
        BOHBOracle(OBJECTIVE, BRANIN_BOUNDS, max_epochs=9, min_epochs=min_epochs)


def reloaded(oracle, like, run_dir):
    """`oracle` (new) given `like`'s state and trials, as keras-tuner's reload does."""
    _compat.set_project_dir(oracle, str(run_dir), "project")
    oracle.set_state(like.get_state())
    oracle.trials = like.trials
    return oracle


def kt_hyperband(iterations):
    return build_oracle(
        "hyperband", SearchSpace.from_mapping(BRANIN_BOUNDS), OBJECTIVE, init_points=1,
        n_iter=0, seed=3, max_epochs=9, hyperband_iterations=iterations,
    )[0]  # fmt: skip


def bohb_oracle(iterations):
    return BOHBOracle(
        OBJECTIVE, BRANIN_BOUNDS, max_epochs=9, seed=2, hyperband_iterations=iterations
    )


@pytest.mark.parametrize("build", [kt_hyperband, bohb_oracle], ids=["hyperband", "bohb"])
def test_a_finished_run_resumed_with_more_iterations_is_the_longer_run(build, tmp_path):
    whole = drive(build(2), tmp_path / "whole")
    first = drive(build(1), tmp_path / "cut")
    assert len(first.trials) == 23
    extended = drive(reloaded(build(2), first, tmp_path / "cut"), tmp_path / "cut")
    assert len(whole.trials) == 46
    assert values_in_order(extended) == values_in_order(whole)
    assert trials_run(extended) == {k: 2 * n for k, n in scheduled(hyperband_schedule(9)).items()}


@pytest.mark.parametrize(("min_epochs", "iterations"), [(1, 1), (3, 1), (1, 2), (3, 2)])
@pytest.mark.parametrize("continued", [True, False])
def test_the_plan_line_counts_the_trials_and_epochs_keras_tuner_runs(
    min_epochs, iterations, continued, tmp_path
):
    space = SearchSpace.from_mapping(BRANIN_BOUNDS)
    for search in ("hyperband", "bohb"):
        oracle, plan = build_oracle(
            search, space, OBJECTIVE, init_points=1, n_iter=0, seed=1, max_epochs=9,
            min_epochs=min_epochs, hyperband_iterations=iterations, continued=continued,
        )  # fmt: skip
        drive(oracle, tmp_path / search)
        values = values_in_order(oracle)
        # A continued promotion trains from its parent's epochs (tuner/initial_epoch) on.
        start = [v["tuner/initial_epoch"] if continued else 0 for v in values]
        epochs = sum(v["tuner/epochs"] for v in values) - sum(start)
        assert f": {len(values)} trials, {epochs} epochs" in plan
    expected = {(1, True): 75, (1, False): 87, (3, True): 54, (3, False): 60}
    assert epochs == expected[min_epochs, continued] * iterations


def test_fewer_iterations_than_a_run_has_begun_are_refused(tmp_path):
    begun = drive(bohb_oracle(2), tmp_path / "a", trials=30)  # into the second iteration
    message = "--hyperband-iterations 1 is fewer than the 2 iterations the run has begun"
    with pytest.raises(ConfigError, match=message):
        reloaded(bohb_oracle(1), begun, tmp_path / "a")


@pytest.mark.parametrize("seed", [0, 5])
def test_random_fraction_one_is_keras_tuner_hyperband(seed, tmp_path):
    hps = keras_tuner.HyperParameters()
    for name, (low, high) in BRANIN_BOUNDS.items():
        hps.Float(name, low, high)
    hyperband = HyperbandOracle(
        objective=OBJECTIVE, max_epochs=9, hyperparameters=hps, seed=seed * SEED_SPACING + 1
    )
    ours = BOHBOracle(OBJECTIVE, BRANIN_BOUNDS, max_epochs=9, random_fraction=1.0, seed=seed)
    drive(hyperband, tmp_path / "hb")
    drive(ours, tmp_path / "bohb")
    assert values_in_order(ours) == values_in_order(hyperband)
    assert {p["source"] for p in ours.proposals.values()} == {"random"}


def completed_before(oracle, trial_id, budget):
    """The (point, score) at `budget` of trials that ended before `trial_id` started (one
    worker: the trials with smaller ids), each point once."""
    out, seen = [], set()
    for tid in sorted(oracle.trials):
        if int(tid) >= int(trial_id):
            break
        trial = oracle.trials[tid]
        values = trial.hyperparameters.values
        point = tuple(values[n] for n in BRANIN_BOUNDS)
        if trial.status == "COMPLETED" and values["tuner/epochs"] == budget and point not in seen:
            seen.add(point)
            out.append((dict(zip(BRANIN_BOUNDS, point, strict=True)), trial.score))
    return out


def first_round_before(oracle, trial_id):
    """Points started before `trial_id` in the first round of its bracket (one worker: the
    trials just before it with the same bracket)."""
    bracket = oracle.trials[trial_id].hyperparameters.values["tuner/bracket"]
    points = []
    for tid in sorted((t for t in oracle.trials if int(t) < int(trial_id)), reverse=True):
        values = oracle.trials[tid].hyperparameters.values
        if values["tuner/bracket"] != bracket:
            break
        points.append({n: values[n] for n in BRANIN_BOUNDS})
    return points[::-1]


@pytest.mark.parametrize("seed", [3])
def test_new_configurations_are_bayes_opts_suggestions_at_the_largest_full_budget(seed, tmp_path):
    # Max 27 epochs: bracket 2's first round (3 epochs) is fitted at 9 epochs, with lies.
    # Half random and stopped after that round (52 trials), to keep the test short.
    oracle = drive(
        BOHBOracle(OBJECTIVE, BRANIN_BOUNDS, max_epochs=27, random_fraction=0.5, seed=seed),
        tmp_path,
        trials=52,
    )
    rng = np.random.RandomState(seed)  # bayes_opt's stream, shared as the oracle shares it
    gp_trials = with_lies = 0
    for trial_id in sorted(oracle.proposals):
        proposal = oracle.proposals[trial_id]
        counts = {b: len(completed_before(oracle, trial_id, b)) for b in (1, 3, 9, 27)}
        budget = model_budget(counts, min_points=3)  # d + 1 for 2 parameters
        if proposal["source"] == "random":
            assert proposal == {"source": "random", "budget": None, "points": 0, "lies": 0}
            continue
        if budget is None:
            assert proposal == {"source": "no-model", "budget": None, "points": 0, "lies": 0}
            continue
        observed = completed_before(oracle, trial_id, budget)
        seen = [p for p, _ in observed]
        # This round's configurations not scored at the model's budget yet: lies at the best
        # score so far, which is what ConstantLiar("max") registers before it fits the GP.
        lies = [p for p in first_round_before(oracle, trial_id) if p not in seen]
        assert proposal == {
            "source": "gp",
            "budget": budget,
            "points": len(observed),
            "lies": len(lies),
        }
        reference = BayesianOptimization(
            f=None,
            pbounds=BRANIN_BOUNDS,
            acquisition_function=acquisition.ExpectedImprovement(xi=0.01),
            random_state=rng,
            verbose=0,
        )
        for params, score in observed:
            reference.register(params=params, target=score)
        best = max(score for _, score in observed)
        for params in lies:
            reference.register(params=params, target=best)
        suggestion = reference.suggest()
        values = oracle.trials[trial_id].hyperparameters.values
        assert {n: values[n] for n in BRANIN_BOUNDS} == {
            n: float(suggestion[n]) for n in suggestion
        }
        gp_trials += 1
        with_lies += bool(lies)
    sources = Counter(p["source"] for p in oracle.proposals.values())
    assert len(oracle.proposals) == 27 + 12 and gp_trials == sources["gp"] >= 15
    assert with_lies == sum(p["lies"] > 0 for p in oracle.proposals.values()) >= 4
    assert {p["budget"] for p in oracle.proposals.values()} == {None, 1, 9}


def test_random_fraction_is_honoured(tmp_path):
    # No budget ever has enough points, so this long run costs no GP fit; the coin is drawn
    # for every new configuration all the same.
    oracle = BOHBOracle(OBJECTIVE, BRANIN_BOUNDS, max_epochs=27, min_points=10**6, seed=2)
    drive(oracle, tmp_path)
    coin = np.random.RandomState([2, 1])  # the oracle's coin: documented as its own stream
    sources = [oracle.proposals[t]["source"] for t in sorted(oracle.proposals)]
    assert [s == "random" for s in sources] == [coin.random_sample() < 1 / 3 for _ in sources]
    # 27 + 12 + 6 + 4 new configurations, about a third of them random.
    assert len(sources) == 49 and 10 <= sources.count("random") <= 23
    assert set(sources) == {"random", "no-model"}
    with_model = BOHBOracle(OBJECTIVE, BRANIN_BOUNDS, max_epochs=9, random_fraction=0.5, seed=2)
    drive(with_model, tmp_path / "model")
    coin = np.random.RandomState([2, 1])
    sources = [with_model.proposals[t]["source"] for t in sorted(with_model.proposals)]
    assert [s == "random" for s in sources] == [coin.random_sample() < 0.5 for _ in sources]
    assert "gp" in sources


def test_trials_still_running_elsewhere_are_lies(tmp_path):
    oracle = BOHBOracle(OBJECTIVE, BRANIN_BOUNDS, max_epochs=9, random_fraction=0.0, seed=0)
    _compat.set_project_dir(oracle, str(tmp_path), "project")
    oracle.verbose = 0
    for _ in range(3):  # three budget-1 scores: the GP can be fitted
        trial = oracle.create_trial("w0")
        oracle.update_trial(trial.trial_id, {"f": branin_score(trial.hyperparameters.values)})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    first = oracle.create_trial("w0")  # still running when w1 asks
    second = oracle.create_trial("w1")
    assert [oracle.proposals[t.trial_id]["source"] for t in (first, second)] == ["gp", "gp"]
    a, b = (np.array([t.hyperparameters.values[n] for n in BRANIN_BOUNDS]) for t in (first, second))
    assert np.linalg.norm(a - b) > 1e-3


def two_workers_open_a_new_bracket(oracle, tmp_path):
    """w1 asks while bracket 1 (max 3 epochs) waits for its last 1-epoch trial: keras-tuner
    opens bracket 0; the promotion of bracket 1 comes after. Returns that promotion."""
    _compat.set_project_dir(oracle, str(tmp_path), "project")
    oracle.verbose = 0

    def end(trial):
        oracle.update_trial(trial.trial_id, {"f": trial.hyperparameters.values["x1"]})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)

    first, second = oracle.create_trial("w0"), oracle.create_trial("w1")
    end(first)
    third = oracle.create_trial("w0")
    end(second)
    opened = oracle.create_trial("w1")
    end(third)
    promoted = oracle.create_trial("w0")
    assert opened.hyperparameters.values["tuner/round"] == 0
    assert promoted.hyperparameters.values["tuner/round"] == 1
    return opened.hyperparameters.values, promoted.hyperparameters.values


def test_a_promotion_keeps_its_brackets_number_with_two_workers(tmp_path):
    ours = BOHBOracle(OBJECTIVE, BRANIN_BOUNDS, max_epochs=3, random_fraction=1.0)
    opened, promoted = two_workers_open_a_new_bracket(ours, tmp_path / "bohb")
    assert (opened["tuner/bracket"], promoted["tuner/bracket"]) == (0, 1)
    # keras-tuner's own Hyperband labels the promotion with the newest bracket.
    hps = keras_tuner.HyperParameters()
    for name, (low, high) in BRANIN_BOUNDS.items():
        hps.Float(name, low, high)
    theirs = HyperbandOracle(objective=OBJECTIVE, max_epochs=3, hyperparameters=hps, seed=1)
    _, promoted = two_workers_open_a_new_bracket(theirs, tmp_path / "hb")
    assert promoted["tuner/bracket"] == 0


def test_a_nan_score_is_never_told_to_the_gp(tmp_path):
    calls = []

    def score(values):
        calls.append(values)
        return math.nan if len(calls) in (2, 5, 16) else branin_score(values)

    oracle = drive(
        BOHBOracle(OBJECTIVE, BRANIN_BOUNDS, max_epochs=9, random_fraction=0.0, seed=0),
        tmp_path,
        score=score,
    )
    failed = [t for t in oracle.trials.values() if t.status == "FAILED"]
    assert len(failed) == 3  # keras-tuner marks NaN invalid, and with no retries failed
    for budget in (1, 3, 9):
        told = oracle.observations(budget)
        completed = [
            t.trial_id
            for t in oracle.trials.values()
            if t.status == "COMPLETED" and t.hyperparameters.values["tuner/epochs"] == budget
        ]
        assert 0 < len(told) <= len(completed)
        assert all(math.isfinite(score) for _, score in told)


def test_settings_are_checked(tmp_path, capsys):
    with pytest.raises(ConfigError, match=r"random_fraction must be a number in \[0, 1\]; got 1.5"):
        BOHBOracle(OBJECTIVE, BRANIN_BOUNDS, max_epochs=9, random_fraction=1.5)
    with pytest.raises(ConfigError, match="factor must be an integer >= 2; got 1"):
        BOHBOracle(OBJECTIVE, BRANIN_BOUNDS, max_epochs=9, factor=1)
    with pytest.raises(ConfigError, match="bohb needs the per-trial epochs"):
        build_oracle(
            "bohb", SearchSpace.from_mapping(BRANIN_BOUNDS), OBJECTIVE,
            init_points=1, n_iter=1, seed=0,
        )  # fmt: skip
    assert train_with_bo(["--search", "bohb", "--prune", "median", "--out", str(tmp_path)]) == 2
    assert "--prune median does not combine with --search bohb" in capsys.readouterr().err
    # Resuming with another random fraction would change what the saved trials meant.
    saved = drive(BOHBOracle(OBJECTIVE, BRANIN_BOUNDS, max_epochs=3), tmp_path).get_state()
    other = BOHBOracle(OBJECTIVE, BRANIN_BOUNDS, max_epochs=3, random_fraction=0.5)
    with pytest.raises(ConfigError, match=r"random_fraction=0.333\d* but this one has .*=0.5"):
        other.set_state(saved)


def run_branin(run_dir, *, resume=False, kill_at=None, max_epochs=9):
    """A BOHB search on the Branin objective through the package's engine."""
    space = SearchSpace.from_mapping(BRANIN_BOUNDS)
    oracle = BOHBOracle(OBJECTIVE, BRANIN_BOUNDS, max_epochs=max_epochs, seed=1)
    calls = []

    def objective(params, epochs=None, **_):
        calls.append(epochs)
        if len(calls) == kill_at:
            raise KeyboardInterrupt("killed mid-trial")
        return branin_score(params, epochs)

    run_dir.mkdir(exist_ok=True)
    recorder = TrialRecorder(space, "f", run_dir, None, epochs=False, brackets=True)
    result = drive_search(
        oracle, objective, recorder, run_dir, role="single", resume=resume,
        param_names=space.names, objective_name="f", plan="",
    )  # fmt: skip
    return result.frame, oracle


@pytest.fixture(scope="module")
def whole_run(tmp_path_factory):
    """One uninterrupted BOHB run on Branin (max 9 epochs): its frame, oracle and folder."""
    run_dir = tmp_path_factory.mktemp("bohb") / "whole"
    frame, oracle = run_branin(run_dir)
    return frame, oracle, run_dir


def test_bracket_and_budget_columns(whole_run):
    frame, oracle, run_dir = whole_run
    assert list(frame.columns) == [
        "trial",
        "x1",
        "x2",
        "budget",
        "bracket",
        "f",
        "seconds",
        "status",
    ]
    assert frame["budget"].tolist() == [1] * 9 + [3] * 3 + [9] + [3] * 5 + [9] * 2 + [9] * 3
    assert frame["bracket"].tolist() == [2] * 13 + [1] * 7 + [0] * 3
    on_disk = pd.read_csv(run_dir / "trials.csv")
    assert on_disk[["budget", "bracket"]].to_numpy().tolist() == (
        frame[["budget", "bracket"]].to_numpy().tolist()
    )
    # A promoted configuration keeps its point; its budget is the next rung's.
    promoted = oracle.trials[f"{12:04d}"].hyperparameters.values
    past = oracle.trials[promoted["tuner/trial_id"]].hyperparameters.values
    assert (promoted["tuner/epochs"], past["tuner/epochs"]) == (9, 3)
    assert [promoted[n] for n in BRANIN_BOUNDS] == [past[n] for n in BRANIN_BOUNDS]


def test_resume_after_a_kill_proposes_what_an_uninterrupted_run_does(whole_run, tmp_path):
    whole, oracle, _ = whole_run
    with pytest.raises(KeyboardInterrupt, match="killed mid-trial"):
        run_branin(tmp_path / "cut", kill_at=15)  # bracket 1's second new configuration
    resumed, _ = run_branin(tmp_path / "cut", resume=True)
    columns = ["trial", "x1", "x2", "budget", "bracket", "f", "status"]
    pd.testing.assert_frame_equal(resumed[columns], whole[columns])
    # Configurations after the kill came from the GP, so its state came back whole.
    later = [p["source"] for t, p in oracle.proposals.items() if int(t) > 14]
    assert "gp" in later


def test_train_with_bo_search_bohb_end_to_end(tmp_path, capsys, saved_figures):
    run_dir = tmp_path / "run"
    assert train_with_bo(["--objective", "toy", "--search", "bohb", "--out", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "bohb: Hyperband brackets (max_epochs=3, factor 3, one iteration: 6 trials" in out
    assert "fidelity check after 1 of 2 brackets (4 trials)" in out
    assert "fidelity check after 2 of 2 brackets (6 trials)" in out
    trials = pd.read_csv(run_dir / "trials.csv")
    assert trials["budget"].tolist() == [1, 1, 1, 3, 3, 3]
    assert trials["bracket"].tolist() == [1, 1, 1, 1, 0, 0]
    assert trials["f"].tolist() == pytest.approx(toy_function(trials["x"]).tolist())
    reports = json.loads((run_dir / "fidelity.json").read_text())["reports"]
    assert [r["brackets_finished"] for r in reports] == [1, 2]
    assert json.loads((run_dir / "tuning.json").read_text())["search"] == "bohb"
    # The toy figure's GP is fitted at the budget bohb's rule picks, and says so.
    top = saved_figures[-1][0].axes[0]
    assert top.get_title() == "GP posterior after 3 points at budget 3 epochs"
    assert "next point" in [line.get_label() for line in top.get_lines()]


def test_min_epochs_drops_the_brackets_below_it_and_stays_with_the_run(tmp_path, capsys):
    run_dir = tmp_path / "run"
    args = ["--objective", "toy", "--search", "hyperband", "--min-epochs", "3"]
    assert train_with_bo([*args, "--out", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "hyperband: max_epochs=3, min_epochs=3, factor 3, one iteration" in out
    assert "Kendall tau with 3 epochs: no lower budget\n" in out
    trials = pd.read_csv(run_dir / "trials.csv")  # one bracket left: 2 x 3 epochs
    assert (trials["budget"].tolist(), trials["bracket"].tolist()) == ([3, 3], [0, 0])
    assert json.loads((run_dir / "tuning.json").read_text())["min_epochs"] == 3
    # A resumed run keeps it; another value would make its scores mean something else.
    assert train_with_bo(["--resume", str(run_dir)]) == 0
    assert train_with_bo(["--resume", str(run_dir), "--min-epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "min_epochs" in err and "--min-epochs" in err and "Traceback" not in err


def test_resume_with_more_hyperband_iterations_extends_a_finished_run(tmp_path, capsys):
    run_dir = tmp_path / "run"
    args = ["--objective", "toy", "--search", "bohb", "--out", str(run_dir)]
    assert train_with_bo(args) == 0
    first = pd.read_csv(run_dir / "trials.csv")
    capsys.readouterr()
    assert train_with_bo(["--resume", str(run_dir), "--hyperband-iterations", "2"]) == 0
    out = capsys.readouterr().out
    assert "bohb: Hyperband brackets (max_epochs=3, factor 3, 2 iterations: 12 trials" in out
    assert "fidelity check after 4 of 4 brackets (12 trials)" in out
    trials = pd.read_csv(run_dir / "trials.csv")
    pd.testing.assert_frame_equal(trials.head(6), first)  # the first iteration is kept
    assert trials["budget"].tolist() == [1, 1, 1, 3, 3, 3] * 2
    assert trials["bracket"].tolist() == [1, 1, 1, 1, 0, 0] * 2
    # Resumed without the flag, it keeps 2; with fewer, it is refused and left as it was.
    assert train_with_bo(["--resume", str(run_dir)]) == 0
    assert len(pd.read_csv(run_dir / "trials.csv")) == 12
    capsys.readouterr()
    assert train_with_bo(["--resume", str(run_dir), "--hyperband-iterations", "1"]) == 2
    err = capsys.readouterr().err
    assert "--hyperband-iterations 1 is fewer than the run's 2; a resumed run may add " in err
    assert "Traceback" not in err
    assert json.loads((run_dir / "tuning.json").read_text())["hyperband_iterations"] == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--search", "bo", "--hyperband-iterations", "2"], "--hyperband-iterations 2 repeats "
         "the brackets; it applies to --search hyperband or bohb, not bo."),
        (["--search", "hyperband", "--hyperband-iterations", "0"], "--hyperband-iterations "
         "must be an integer >= 1; got 0."),
        (["--search", "bo", "--min-epochs", "2"], "--min-epochs 2 sets the smallest Hyperband "
         "rung; it applies to --search hyperband or bohb, not bo."),
        (["--search", "bohb", "--min-epochs", "4"], "--min-epochs must be an integer in 1..3 "
         "(the per-trial epochs, Hyperband's max_epochs); got 4."),
    ],
)  # fmt: skip
def test_a_min_epochs_that_cannot_apply_is_a_usage_error(args, message, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert train_with_bo(["--objective", "toy", *args, "--out", str(run_dir)]) == 2
    assert message in capsys.readouterr().err
    assert not run_dir.exists()


def test_hyperbands_posterior_draws_no_next_point(toy_config, tmp_path, saved_figures):
    run_search(toy_config(search="hyperband"), tmp_path / "hb", verbose=False)
    top = saved_figures[-1][0].axes[0]
    assert top.get_title().startswith("GP posterior after")
    assert "next point" not in [line.get_label() for line in top.get_lines()]


@pytest.mark.slow
def test_sigkill_mid_trial_then_resume(start_cli, toy_config, tmp_path):
    run_dir = tmp_path / "run"
    proc = start_cli(
        "--objective", "toy", "--search", "bohb", "--out", run_dir, "--toy-delay", "1.0",
        log_name="first.log",
    )  # fmt: skip
    oracle_file = run_dir / "keras_tuner" / "oracle.json"
    deadline = time.monotonic() + 120
    while True:
        try:
            state = json.loads(oracle_file.read_text())
        except (OSError, ValueError):
            state = None
        running = set(state["ongoing_trials"].values()) - set(state["end_order"]) if state else ()
        if state and len(state["end_order"]) >= 4 and running:
            break
        assert proc.poll() is None, proc.log_path.read_text()
        assert time.monotonic() < deadline, "the run did not reach trial 5 in time"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    resumed = start_cli("--resume", run_dir, log_name="resume.log")
    assert resumed.wait(timeout=120) == 0, resumed.log_path.read_text()
    after = pd.read_csv(run_dir / "trials.csv")
    whole = run_search(toy_config(search="bohb"), tmp_path / "whole", verbose=False).frame
    columns = ["trial", "x", "budget", "bracket", "f"]
    pd.testing.assert_frame_equal(after[columns], whole[columns], check_dtype=False)


@pytest.mark.slow
def test_chief_and_two_workers(start_cli, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    run_dir = tmp_path / "run"
    args = ["--objective", "toy", "--search", "bohb", "--out", run_dir, "--toy-delay", "0.5"]
    env = {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": port}
    chief = start_cli(*args, env={**env, "KERASTUNER_TUNER_ID": "chief"}, log_name="chief.log")
    workers = [
        start_cli(*args, env={**env, "KERASTUNER_TUNER_ID": f"tuner{i}"}, log_name=f"w{i}.log")
        for i in range(2)
    ]
    for proc in (*workers, chief):
        assert proc.wait(timeout=180) == 0, proc.log_path.read_text()
    frame = pd.read_csv(run_dir / "trials.csv")
    assert frame["trial"].tolist() == [1, 2, 3, 4, 5, 6]
    assert frame["status"].tolist() == ["completed"] * 6
    # Each bracket's trials carry its own number, even where keras-tuner opened bracket 0
    # while bracket 1 still waited for its promotion (two workers).
    assert Counter(zip(frame["bracket"], frame["budget"], strict=True)) == {
        (1, 1): 3,
        (1, 3): 1,
        (0, 3): 2,
    }
    assert "fidelity check after 2 of 2 brackets" in chief.log_path.read_text()
