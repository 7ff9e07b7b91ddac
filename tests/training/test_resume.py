"""Killed and interrupted training: resume gives the uninterrupted run's history exactly."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from keras_recipes import cli
from keras_recipes.data import make_demo

ROOT = Path(__file__).resolve().parents[2]
EPOCHS = 5


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return make_demo(tmp_path_factory.mktemp("resume") / "demo", n_per_class=60, size=40)


def args(data_dir, out):
    return [
        "--recipe", "default", "--data", str(data_dir), "--image-size", "32",
        "--width", "0.0625", "--epochs", str(EPOCHS), "--batch-size", "16", "--out", str(out),
    ]  # fmt: skip


def start(argv):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # A suite started in the background (`cmd &` without job control) ignores SIGINT, a
    # child inherits that, and Python then leaves Ctrl-C ignored: the run ended with exit 0.
    # Only "ignored" survives exec, so a handler here for the moment of the start is enough
    # (not `preexec_fn`, which is unsafe in a process with threads).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen(
            [sys.executable, str(ROOT / "train.py"), *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
    finally:
        signal.signal(signal.SIGINT, previous)


def stop_after_epoch(process, out: Path, epoch: int, sig: int) -> None:
    """Sends `sig` once the checkpoint holds `epoch` completed epochs."""
    meta = out / "backup" / "training_metadata.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if meta.exists():
            try:
                if json.loads(meta.read_text())["epoch"] >= epoch:
                    process.send_signal(sig)
                    return
            except (json.JSONDecodeError, KeyError):
                pass  # caught mid-write
        if process.poll() is not None:
            pytest.fail(f"training ended before epoch {epoch}: {process.stderr.read()}")
        time.sleep(0.02)
    process.kill()
    pytest.fail("no checkpoint within 120 s")


def resume_to_the_end(out: Path) -> None:
    """`train.py --resume out`, which must finish the run (in this process: only the run
    that is killed needs one of its own)."""
    assert cli.main(["train", "--resume", str(out)]) == 0


@pytest.fixture(scope="module")
def uninterrupted(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("full") / "run"
    assert cli.main(["train", *args(data_dir, out)]) == 0
    return pd.read_csv(out / "history.csv")


@pytest.mark.slow
def test_sigkill_then_resume_equals_an_uninterrupted_run(data_dir, tmp_path, uninterrupted):
    out = tmp_path / "run"
    process = start(args(data_dir, out))
    stop_after_epoch(process, out, 2, signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    resume_to_the_end(out)
    resumed = pd.read_csv(out / "history.csv")
    assert resumed["epoch"].tolist() == list(range(1, EPOCHS + 1))  # each epoch once
    pd.testing.assert_frame_equal(resumed, uninterrupted)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["resumed_at_epoch"] >= 2
    assert not (out / "backup").exists()  # removed once the run finished


@pytest.mark.slow
def test_a_kill_while_the_checkpoint_is_written_resumes_from_the_one_before(
    data_dir, tmp_path, uninterrupted
):
    out = tmp_path / "run"
    process = start(args(data_dir, out))
    stop_after_epoch(process, out, 2, signal.SIGKILL)
    process.wait(timeout=60)
    backup = out / "backup"
    # What a kill half-way through writing epoch N's weights leaves: Keras has copied
    # epoch N-1's checkpoint aside (weights and epoch), and the weights file is torn.
    previous = json.loads((backup / "training_metadata.json.bkp").read_text())
    (backup / "training_metadata.json").write_text(json.dumps(previous))
    weights = backup / "latest.weights.h5"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    resume_to_the_end(out)
    pd.testing.assert_frame_equal(pd.read_csv(out / "history.csv"), uninterrupted)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["resumed_at_epoch"] == previous["epoch"]


@pytest.mark.slow
def test_ctrl_c_saves_what_was_computed_and_exits_130(data_dir, tmp_path, uninterrupted):
    out = tmp_path / "run"
    process = start(args(data_dir, out))
    stop_after_epoch(process, out, 2, signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and f"--resume {out}" in stderr
    assert "Traceback" not in stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    assert (out / "model.keras").exists()
    history = pd.read_csv(out / "history.csv")
    assert len(history) >= 2
    assert "status=interrupted" in stdout.strip().splitlines()[-1]

    resume_to_the_end(out)
    pd.testing.assert_frame_equal(pd.read_csv(out / "history.csv"), uninterrupted)


def test_resume_of_a_finished_run_is_an_error(capsys, data_dir, tmp_path):
    out = tmp_path / "run"
    assert cli.main(["train", *args(data_dir, out)[:-4], "--epochs", "1", "--out", str(out)]) == 0
    capsys.readouterr()
    assert cli.main(["train", "--resume", str(out)]) == 2
    assert "Nothing to resume in" in capsys.readouterr().err


def test_resume_takes_no_other_training_flags(capsys, tmp_path):
    assert cli.main(["train", "--resume", str(tmp_path), "--epochs", "3"]) == 2
    assert "continues with that run's own settings; drop --epochs" in capsys.readouterr().err


def test_an_unfinished_run_is_not_silently_overwritten(capsys, tmp_path):
    (tmp_path / "backup").mkdir()
    (tmp_path / "backup" / "training_metadata.json").write_text('{"epoch": 3, "batch": 0}')
    assert cli.main(["train", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "holds an unfinished run (checkpoint at epoch 3)" in err and "--resume" in err
