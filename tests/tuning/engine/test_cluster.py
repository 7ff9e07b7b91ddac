"""keras-tuner chief/worker mode: one chief and two workers on 127.0.0.1, toy objective."""

import re
import socket

import pandas as pd
import pytest

from keras_recipes.errors import ConfigError
from keras_recipes.tuning.engine.cluster import is_loopback, prepare_environment, role


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_chief_and_two_workers_run_each_trial_once(start_cli, tmp_path):
    run_dir = tmp_path / "run"
    port = str(free_port())
    args = ["--objective", "toy", "--n-iter", "4", "--out", run_dir, "--toy-delay", "0.5"]
    env = {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": port}
    chief = start_cli(*args, env={**env, "KERASTUNER_TUNER_ID": "chief"}, log_name="chief.log")
    workers = [
        start_cli(*args, env={**env, "KERASTUNER_TUNER_ID": f"tuner{i}"}, log_name=f"w{i}.log")
        for i in range(2)
    ]
    # The start_cli fixture kills whatever is still running if an assertion fails.
    for proc in (*workers, chief):
        assert proc.wait(timeout=120) == 0, proc.log_path.read_text()

    ran = {}
    pattern = re.compile(r"^worker (tuner\d): trial (\d+) x=(\S+) f=(\S+)$", re.M)
    for worker in workers:
        for tuner_id, trial, x, f in pattern.findall(worker.log_path.read_text()):
            assert int(trial) not in ran, f"trial {trial} ran twice"
            ran[int(trial)] = (tuner_id, float(x), float(f))
    assert sorted(ran) == [1, 2, 3, 4, 5, 6]

    frame = pd.read_csv(run_dir / "trials.csv")
    assert frame["trial"].tolist() == [1, 2, 3, 4, 5, 6]
    assert frame["status"].tolist() == ["completed"] * 6
    for row in frame.itertuples():
        _, x, f = ran[row.trial]
        assert (round(row.x, 4), round(row.f, 4)) == (x, f)
    # The two init points are bayes_opt's own (seed 0); the rest came from the GP with lies.
    assert frame["x"].round(4).tolist()[:2] == [2.3905, 3.7215]
    assert frame["x"].is_unique
    assert "chief: serving the oracle on 127.0.0.1:" in chief.log_path.read_text()


def test_address_defaults_to_loopback_and_other_addresses_warn(capsys):
    env = {"KERASTUNER_TUNER_ID": "chief", "KERASTUNER_ORACLE_PORT": "8000"}
    assert prepare_environment(env) == "chief"
    assert env["KERASTUNER_ORACLE_IP"] == "127.0.0.1"
    assert capsys.readouterr().err == ""
    env = {
        "KERASTUNER_TUNER_ID": "chief",
        "KERASTUNER_ORACLE_PORT": "8000",
        "KERASTUNER_ORACLE_IP": "0.0.0.0",
    }
    assert prepare_environment(env) == "chief"
    err = capsys.readouterr().err
    assert "warning: the chief binds 0.0.0.0:8000, which is not a loopback address" in err
    assert "unauthenticated" in err


def test_incomplete_environment_is_an_error():
    with pytest.raises(ConfigError, match=r"KERASTUNER_ORACLE_PORT is not; set the oracle's port"):
        prepare_environment({"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_TUNER_ID": "chief"})
    with pytest.raises(ConfigError, match=r"KERASTUNER_TUNER_ID is not; use KERASTUNER_TUNER_ID"):
        prepare_environment({"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": "1"})
    with pytest.raises(ConfigError, match=r"port number in 1\.\.65535; got 'http'"):
        prepare_environment({"KERASTUNER_TUNER_ID": "tuner0", "KERASTUNER_ORACLE_PORT": "http"})


def test_roles_and_loopback():
    assert role({}) == "single"
    assert role({"KERASTUNER_ORACLE_IP": "::1", "KERASTUNER_TUNER_ID": "chief"}) == "chief"
    assert role({"KERASTUNER_ORACLE_IP": "::1", "KERASTUNER_TUNER_ID": "tuner1"}) == "worker"
    assert [is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "::1", "localhost")] == [True] * 4
    assert [is_loopback(h) for h in ("0.0.0.0", "10.0.0.5", "example.com", "::")] == [False] * 4
