"""A worker killed mid-trial: restarted, or replaced after `--trial-timeout`; late results.

The end-to-end tests run a chief and two workers as processes on 127.0.0.1 with the toy
objective, SIGKILL one worker while its trial sleeps (`--toy-delay`), and check that every
trial of the budget is recorded exactly once. `WorkerWatch`'s rules are checked in-process
with a fake clock.
"""

import json
import re
import signal
import socket
import time

import keras_tuner
import pandas as pd
import pytest
from keras_tuner.engine.trial import Trial
from keras_tuner.src.distribute.oracle_chief import exit_chief

from keras_recipes.errors import ConfigError
from keras_recipes.tuning.bo.oracle import BayesOptOracle
from keras_recipes.tuning.engine.faults import TIMEOUT_ATTEMPTS, WorkerWatch

BUDGET = 6  # 2 init points + 4 guided
WORKER_LINE = re.compile(r"^worker (tuner\d): trial (\d+) x=(\S+) f=(\S+)$", re.M)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def read_oracle(run_dir):
    try:
        return json.loads((run_dir / "keras_tuner" / "oracle.json").read_text())
    except (OSError, ValueError):  # not there yet, or being rewritten right now
        return None


def kill_mid_trial(proc, tuner_id, run_dir, timeout=60):
    """SIGKILLs `proc` while the chief has a trial of it running; returns the trial number."""
    deadline = time.monotonic() + timeout
    while True:
        state = read_oracle(run_dir)
        running = state and state["ongoing_trials"].get(tuner_id)
        # oracle.json is saved before an ended trial leaves ongoing_trials: check end_order.
        if running and running not in state["end_order"]:
            break
        assert proc.poll() is None, proc.log_path.read_text()
        assert time.monotonic() < deadline, f"{tuner_id} never got a trial"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    return int(running) + 1


def worker_rows(*procs):
    """trial number -> (tuner id, x, f) over the workers' logs; a trial twice fails."""
    ran = {}
    for proc in procs:
        for tuner_id, trial, x, f in WORKER_LINE.findall(proc.log_path.read_text()):
            assert int(trial) not in ran, f"trial {trial} was reported twice"
            ran[int(trial)] = (tuner_id, float(x), float(f))
    return ran


def check_every_trial_once(run_dir, ran):
    frame = pd.read_csv(run_dir / "trials.csv")
    assert frame["trial"].tolist() == list(range(1, BUDGET + 1))
    assert frame["status"].tolist() == ["completed"] * BUDGET
    assert frame["x"].is_unique
    # The chief's results are exactly the union of what the workers reported.
    assert sorted(ran) == frame["trial"].tolist()
    for row in frame.itertuples():
        _, x, f = ran[row.trial]
        assert (round(row.x, 4), round(row.f, 4)) == (x, f)


def start_chief_and_workers(start_cli, run_dir, chief_flags=()):
    # Each trial sleeps 0.5 s, so a kill lands mid-trial.
    args = ["--objective", "toy", "--n-iter", "4", "--out", run_dir, "--toy-delay", "0.5"]
    env = {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(free_port())}
    chief = start_cli(
        *args, *chief_flags, env={**env, "KERASTUNER_TUNER_ID": "chief"}, log_name="chief.log"
    )

    def worker(tuner_id, log_name):
        return start_cli(*args, env={**env, "KERASTUNER_TUNER_ID": tuner_id}, log_name=log_name)

    return chief, worker


@pytest.mark.slow
def test_worker_killed_mid_trial_and_restarted_reruns_its_trial(start_cli, tmp_path):
    run_dir = tmp_path / "run"
    chief, worker = start_chief_and_workers(start_cli, run_dir)
    # The worker to kill starts first, so it surely gets a trial.
    victim = worker("tuner1", "w1.log")
    procs = [chief, victim, worker("tuner0", "w0.log")]
    try:
        killed = kill_mid_trial(victim, "tuner1", run_dir)
        # Same KERASTUNER_TUNER_ID: keras-tuner hands the restarted worker the same trial.
        restarted = worker("tuner1", "w1-restarted.log")
        procs.append(restarted)
        for proc in (*procs[2:], chief):
            assert proc.wait(timeout=90) == 0, proc.log_path.read_text()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    ran = worker_rows(*procs[1:])
    check_every_trial_once(run_dir, ran)
    first = WORKER_LINE.search(restarted.log_path.read_text())
    assert (first.group(1), int(first.group(2))) == ("tuner1", killed)
    assert "ignored a late result" not in chief.log_path.read_text()


@pytest.mark.slow
def test_worker_killed_mid_trial_not_restarted_is_replaced_after_timeout(start_cli, tmp_path):
    run_dir = tmp_path / "run"
    chief, worker = start_chief_and_workers(start_cli, run_dir, ("--trial-timeout", "5"))
    victim = worker("tuner1", "w1.log")
    procs = [chief, victim, worker("tuner0", "w0.log")]
    try:
        killed = kill_mid_trial(victim, "tuner1", run_dir)
        # Without the time-out the chief would wait for tuner1 for ever.
        for proc in (procs[2], chief):
            assert proc.wait(timeout=90) == 0, proc.log_path.read_text()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    ran = worker_rows(*procs[1:])
    check_every_trial_once(run_dir, ran)
    # The dead worker's trial was taken over by the one left.
    assert ran[killed][0] == "tuner0"
    log = chief.log_path.read_text()
    assert (
        f"chief: worker tuner1 sent nothing for 5 s (--trial-timeout) and is presumed dead; "
        f"its trial {killed} goes to the next worker that asks (time-out 1 of 3)"
    ) in log
    assert "ignored a late result" not in log


# -- WorkerWatch in-process, with a fake clock -------------------------------------------------


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def watched(tmp_path):
    """`watched(budget, trial_timeout)` -> (oracle, watch, clock, notes)."""

    def make(budget, trial_timeout=5.0):
        oracle = BayesOptOracle(
            keras_tuner.Objective("f", "max"), {"x": (0.0, 1.0)}, init_points=budget, n_iter=0
        )
        oracle._set_project_dir(str(tmp_path), "project")
        oracle.verbose = 0
        clock, notes = Clock(), []
        watch = WorkerWatch(oracle, trial_timeout, clock=clock, log=notes.append)
        return oracle, watch, clock, notes

    return make


def report(oracle, watch, trial_id, value):
    """What a worker sends when its trial ends: the metrics, then the trial (as gRPC does)."""
    watch.update_trial(trial_id, {"f": value})
    trial = Trial.from_proto(oracle.trials[trial_id].to_proto())
    trial.status = "COMPLETED"
    return watch.end_trial(trial)


def test_late_result_after_the_rerun_is_ignored(watched):
    oracle, watch, clock, notes = watched(budget=2)
    assert watch.create_trial("tuner0").trial_id == "0"
    assert watch.create_trial("tuner1").trial_id == "1"
    clock.now = 3.0
    assert report(oracle, watch, "0", 0.1)
    # Out of new trials, but trial 2 still runs and may need a new worker: wait, not stop.
    assert watch.create_trial("tuner0").status == "IDLE"
    clock.now = 6.0
    watch.expire()  # tuner1 silent since 0: presumed dead; tuner0 (asked at 3) is fine
    assert oracle._retry_queue == ["1"] and "tuner1" not in oracle.tuner_ids
    assert watch.create_trial("tuner0").trial_id == "1"
    assert report(oracle, watch, "1", 0.5)
    # tuner1 was only slow: its result comes now, and changes nothing.
    assert not report(oracle, watch, "1", 0.9)
    assert watch.ignored == ["1", "1"]  # its metrics, then its end
    assert oracle.end_order == ["0", "1"]
    assert oracle.trials["1"].score == 0.5
    assert watch.create_trial("tuner0").status == "STOPPED"
    assert exit_chief(oracle)
    assert any("presumed dead; its trial 2 goes to the next worker" in n for n in notes)


def test_late_result_of_a_queued_trial_is_taken(watched):
    oracle, watch, clock, _ = watched(budget=1)
    assert watch.create_trial("tuner0").trial_id == "0"
    clock.now = 3.0
    assert watch.create_trial("tuner1").status == "IDLE"
    clock.now = 6.0
    watch.expire()
    assert oracle._retry_queue == ["0"]
    assert report(oracle, watch, "0", 0.7)  # tuner0 was slow, not dead
    assert oracle._retry_queue == [] and oracle.end_order == ["0"]
    assert watch.create_trial("tuner1").status == "STOPPED"
    assert exit_chief(oracle)


def test_a_trial_that_times_out_on_every_worker_is_failed(watched):
    oracle, watch, clock, notes = watched(budget=1)
    for attempt in range(TIMEOUT_ATTEMPTS):
        assert watch.create_trial(f"tuner{attempt}").trial_id == "0"
        clock.now += 10
        watch.expire()
    assert oracle.end_order == ["0"]
    trial = oracle.trials["0"]
    assert trial.status == "FAILED"
    assert trial.message.startswith("TrialTimeout: trial 1 had no result within --trial-timeout")
    assert notes[-1].endswith("trial 1 timed out 3 times and is recorded as failed")
    assert watch.create_trial("tuner9").status == "STOPPED"
    assert exit_chief(oracle)


def test_a_worker_that_dies_between_trials_is_let_go(watched):
    oracle, watch, clock, notes = watched(budget=1)
    assert watch.create_trial("tuner0").trial_id == "0"
    assert watch.create_trial("tuner1").status == "IDLE"
    clock.now = 1.0
    assert report(oracle, watch, "0", 0.3)
    assert watch.create_trial("tuner0").status == "STOPPED"
    assert not exit_chief(oracle)  # tuner1 never asked again: keras-tuner would wait for ever
    clock.now = 6.0
    watch.expire()
    assert exit_chief(oracle)
    assert notes == [
        "chief: worker tuner1 sent nothing for 5 s (--trial-timeout) and is presumed gone"
    ]


def test_without_a_timeout_keras_tuner_rules_hold(watched):
    oracle, watch, clock, notes = watched(budget=1, trial_timeout=None)
    assert watch.create_trial("tuner0").trial_id == "0"
    assert watch.create_trial("tuner1").status == "STOPPED"
    clock.now = 1e6
    watch.expire()
    assert oracle.ongoing_trials["tuner0"].trial_id == "0" and notes == []
    # Restarted with the same id, the worker gets its trial back.
    assert watch.create_trial("tuner0").trial_id == "0"
    assert report(oracle, watch, "0", 0.2)
    assert not report(oracle, watch, "0", 0.2)  # a second end never records it twice
    assert oracle.end_order == ["0"]


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf")])
def test_trial_timeout_must_be_positive(bad, watched):
    with pytest.raises(ConfigError, match="--trial-timeout must be a number of seconds > 0"):
        watched(budget=1, trial_timeout=bad)


def test_consecutive_failures_stop_the_workers_and_free_the_lock(watched):
    from keras_tuner.src.engine.oracle import LOCKS

    oracle, watch, _, _ = watched(budget=5, trial_timeout=None)
    for n in range(4):
        assert watch.create_trial(f"tuner{n}").trial_id == str(n)
    for n in range(3):
        trial = Trial.from_proto(oracle.trials[str(n)].to_proto())
        trial.status, trial.message = "FAILED", "ValueError: boom"
        assert watch.end_trial(trial)  # the third one stops the search, without raising
    assert str(watch.error).startswith("Number of consecutive failures exceeded the limit of 3")
    assert not LOCKS[oracle].locked()
    assert "tuner2" not in oracle.ongoing_trials
    # No new trials for anyone; the trial still running ends as usual.
    assert [watch.create_trial(f"tuner{n}").status for n in range(3)] == ["STOPPED"] * 3
    assert not exit_chief(oracle)
    assert report(oracle, watch, "3", 0.4)
    assert watch.create_trial("tuner3").status == "STOPPED"
    assert oracle.end_order == ["0", "1", "2", "3"] and exit_chief(oracle)


def test_cli_trial_timeout_is_documented_and_checked(tmp_path, capsys):
    from keras_recipes.cli.train_with_bo import main

    with pytest.raises(SystemExit, match="0"):
        main(["--help"])
    assert "--trial-timeout SECONDS" in capsys.readouterr().out
    assert main(["--objective", "toy", "--trial-timeout", "0", "--out", str(tmp_path / "r")]) == 2
    assert "--trial-timeout must be a number of seconds > 0; got 0.0" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
