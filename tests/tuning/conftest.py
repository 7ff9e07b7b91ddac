"""Shared set-up of the tuning tests: the toy config, and how to start the CLI in a process."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits

from keras_recipes.tuning.bo.config import TuningConfig
from keras_recipes.tuning.bo.space import SearchSpace
from keras_recipes.tuning.bo.toy import TOY_BOUNDS

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True, scope="session")
def _one_blas_thread():
    # The GP fits here are tiny; on a shared 2-core machine BLAS threads only fight TF's
    # (a toy search runs ~4x faster with one).
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture
def toy_config():
    """`toy_config(**changes)`: the toy run of the post (EI xi 0.01, 2 + 14 points)."""

    def make(**changes) -> TuningConfig:
        settings = {
            "space": SearchSpace.from_mapping(TOY_BOUNDS),
            "objective": "toy",
            "init_points": 2,
            "n_iter": 14,
            "seed": 0,
        }
        settings.update(changes)
        return TuningConfig(**settings)

    return make


@pytest.fixture
def cli_env():
    """Environment for `python -m keras_recipes.tuning` in a subprocess (no distributed vars)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERASTUNER_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env["PYTHONUNBUFFERED"] = "1"
    env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = "1"
    return env


@pytest.fixture
def start_cli(cli_env, tmp_path):
    """`start_cli(*args, env=None)` -> Popen of the CLI, stdout+stderr to a log file; killed
    at teardown if still running."""
    procs = []

    def start(*args, env=None, log_name=None, module="keras_recipes.tuning"):
        log = tmp_path / (log_name or f"cli-{len(procs)}.log")
        handle = log.open("w")
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *map(str, args)],
            cwd=tmp_path,
            env={**cli_env, **(env or {})},
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        proc.log_path = log
        procs.append((proc, handle))
        return proc

    yield start
    for proc, handle in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        handle.close()


@pytest.fixture
def start_cli_module(start_cli):
    """`start_cli_module(*args, env=None)`: `python -m keras_recipes.cli *args` in a process."""

    def start(*args, env=None):
        return start_cli(*args, env=env, module="keras_recipes.cli")

    return start
