"""A clean first screen: start-up noise filtered from fd 2, real lines kept, ours first."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from keras_recipes.startup import NOISE, filtered_stderr

ROOT = Path(__file__).resolve().parents[1]
CUINIT = (
    "E0000 00:00:1796088250.884981    4636 cuda_platform.cc:52] failed call to cuInit: "
    "INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)"
)


def test_noise_is_dropped_and_other_lines_pass_in_order(capfd):
    with filtered_stderr(NOISE):
        os.write(2, f"{CUINIT}\nW0000 a real warning\n".encode())
        os.write(2, b"a Python warning\n")  # Python's sys.stderr writes to fd 2 too
        os.write(2, b"I0000 port.cc:153] oneDNN custom operations are on. You may see...\n")
        os.write(2, b"no newline at the end")
    assert capfd.readouterr().err == "W0000 a real warning\na Python warning\nno newline at the end"


def test_the_filter_ends_with_the_block(capfd):
    with filtered_stderr(re.compile("x")):
        pass
    os.write(2, b"x after\n")
    assert capfd.readouterr().err == "x after\n"


@pytest.mark.slow
def test_the_demo_commands_first_line_is_the_toolkits(tmp_path):
    # A user's shell: no TF_CPP_MIN_LOG_LEVEL (the test suite sets one).
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "--recipe", "selu", "--epochs", "1",
         "--image-size", "32", "--width", "0.0625", "--out", str(tmp_path / "run")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout
    lines = done.stdout.splitlines()
    assert lines[0].startswith("Using the built-in synthetic demo data"), done.stdout
    assert not [line for line in lines if NOISE.search(line)], done.stdout
