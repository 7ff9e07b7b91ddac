"""SIGKILL a real `train-with-bo` process mid-trial, then `--resume` it."""

import json
import signal
import time

import pandas as pd
import pytest
from bayes_opt import BayesianOptimization, acquisition

from keras_recipes.tuning.bo.toy import TOY_BOUNDS, toy_function

TOTAL = 8  # 2 init points + 6 guided


def read_oracle(run_dir):
    try:
        return json.loads((run_dir / "keras_tuner" / "oracle.json").read_text())
    except (OSError, ValueError):  # not there yet, or being rewritten right now
        return None


@pytest.mark.slow
def test_sigkill_mid_trial_then_resume(start_cli, tmp_path):
    run_dir = tmp_path / "run"
    args = ["--objective", "toy", "--n-iter", "6", "--out", run_dir]
    proc = start_cli(*args, "--toy-delay", "1.0", log_name="first.log")
    deadline = time.monotonic() + 90
    while True:
        state = read_oracle(run_dir)
        # Kill while trial 4 sleeps in its objective: 3 ended, one running.
        running = set(state["ongoing_trials"].values()) - set(state["end_order"]) if state else ()
        if state and len(state["end_order"]) >= 3 and running:
            break
        assert proc.poll() is None, proc.log_path.read_text()
        assert time.monotonic() < deadline, "the run did not reach trial 4 in time"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL

    state = read_oracle(run_dir)
    (killed,) = state["ongoing_trials"].values()
    before = pd.read_csv(run_dir / "trials.csv")
    assert len(before) == len(state["end_order"]) >= 3
    assert int(killed) + 1 not in before["trial"].tolist()

    resumed = start_cli("--resume", run_dir, log_name="resume.log")
    assert resumed.wait(timeout=90) == 0, resumed.log_path.read_text()
    log = resumed.log_path.read_text()
    assert f"(resumed: {len(before)} finished trials above are kept)" in log

    after = pd.read_csv(run_dir / "trials.csv")
    assert after["trial"].tolist() == list(range(1, TOTAL + 1))
    # Finished trials were kept as they were: same values, same seconds (not run again).
    pd.testing.assert_frame_equal(after.head(len(before)), before)
    # The killed trial ran again, in the resumed process (no --toy-delay there).
    assert after.loc[after["trial"] == int(killed) + 1, "seconds"].item() < 0.5
    # And the run as a whole proposed exactly what an uninterrupted bayes_opt run does.
    reference = BayesianOptimization(
        toy_function,
        TOY_BOUNDS,
        acquisition_function=acquisition.ExpectedImprovement(xi=0.01),
        random_state=0,
        verbose=0,
    )
    reference.maximize(init_points=2, n_iter=6)
    assert after["x"].tolist() == reference.space.params[:, 0].tolist()
