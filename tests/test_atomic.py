"""`keras_recipes.atomic`: a write killed at any moment leaves the old file or the new one.

Three layers: the helper keeps the old content when the write fails half-way; a process
SIGKILLed while it rewrites a file leaves a whole file; and every writer in the package
goes through the helper (a static check over the source, so a new writer cannot slip by).
"""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import keras_recipes
from keras_recipes import atomic

PACKAGE = Path(keras_recipes.__file__).parent


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_failure_mid_write_keeps_the_old_content(tmp_path):
    target = atomic.write_text(tmp_path / "summary.json", '{"epochs_run": 3}\n')
    with pytest.raises(RuntimeError, match="disk full"), atomic.atomic_path(target) as tmp:
        tmp.write_text('{"epochs_ru')  # half of the new document
        raise RuntimeError("disk full")
    assert target.read_text() == '{"epochs_run": 3}\n'
    assert _leftovers(tmp_path) == []


def test_to_csv_failing_half_way_keeps_the_old_csv(tmp_path, monkeypatch):
    target = tmp_path / "trials.csv"
    atomic.write_csv(target, pd.DataFrame({"trial": [1, 2]}), index=False)
    real_to_csv = pd.DataFrame.to_csv

    def half_then_fail(frame, path, **kwargs):
        real_to_csv(frame.iloc[:1], path, **kwargs)
        raise OSError("killed")

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_then_fail)
    with pytest.raises(OSError, match="killed"):
        atomic.write_csv(target, pd.DataFrame({"trial": [1, 2, 3]}), index=False)
    assert target.read_text() == "trial\n1\n2\n"
    assert _leftovers(tmp_path) == []


def test_writers_that_pick_the_format_by_suffix_get_it(tmp_path):
    # numpy.savez appends ".npz" to a name without it; the rename must still find the file.
    target = tmp_path / "best.npz"
    with atomic.atomic_path(target) as tmp:
        np.savez(tmp, np.arange(3))
    with np.load(target) as saved:
        np.testing.assert_array_equal(saved["arr_0"], np.arange(3))
    assert _leftovers(tmp_path) == []


def test_new_file_gets_the_usual_permissions(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    made = atomic.write_text(tmp_path / "made.txt", "x")
    assert made.stat().st_mode == plain.stat().st_mode


_REWRITER = """
import sys
from keras_recipes import atomic
path, size = sys.argv[1], int(sys.argv[2])
print("ready", flush=True)
i = 0
while True:
    atomic.write_text(path, "ab"[i % 2] * size)
    i += 1
"""


def test_sigkill_while_rewriting_leaves_a_whole_file(tmp_path):
    # A child rewrites a 4 MB file as fast as it can; killed at arbitrary moments, the
    # file must always be one whole version. In-place writes tear here nearly every time.
    target, size = tmp_path / "history.csv", 4_000_000
    atomic.write_text(target, "a" * size)
    env = {**os.environ, "PYTHONPATH": str(PACKAGE.parent)}
    for delay in (0.05, 0.11, 0.17, 0.23, 0.31):
        child = subprocess.Popen(
            [sys.executable, "-c", _REWRITER, str(target), str(size)],
            stdout=subprocess.PIPE,
            env=env,
        )
        assert child.stdout.readline() == b"ready\n"
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait()
        text = target.read_text()
        assert len(text) == size and text in ("a" * size, "b" * size)


# -- every writer in the package uses the helper -----------------------------------------

#: Calls that write a file (method or function name).
_WRITE_CALLS = {
    "to_csv",
    "write_text",
    "write_bytes",
    "save",
    "savez",
    "savez_compressed",
    "savefig",
    "dump",
    "saving",
}

#: (module, call) -> why it may write without the helper. Nothing a later run reads.
_ALLOWED = {
    ("atomic.py", "write_text"): "the helper itself",
    ("atomic.py", "to_csv"): "the helper itself",
    ("_compat.py", "write_text"): "keras-tuner's save_json, re-routed through the helper",
    # keras-tuner's own state files: atomic through _compat.install_atomic_keras_tuner_saves.
    ("tuning/engine/faults.py", "save"): "oracle.save()",
    ("tuning/engine/tuner.py", "save"): "tuner.save()",
    ("tuning/engine/driver.py", "save"): "tuner.save()",
    ("tuning/bo/search.py", "save"): "TuningConfig.save (atomic inside)",
    ("tuning/recipe/search.py", "save"): "RecipeSearchConfig.save (atomic inside)",
    ("training/run_dir.py", "write_text"): "prepare_run_dir's probe, deleted at once",
    ("data/demo.py", "write_text"): "inside a temporary folder renamed whole when complete",
    ("data/demo.py", "save"): "inside a temporary folder renamed whole when complete",
    # The decoded-image store is built in a temporary folder renamed whole when complete;
    # its other opens are the lock file (flock) and fallocate on the array being built.
    ("data/store.py", "open"): "the lock file, fallocate, and the header of a temporary folder",
    ("data/store.py", "dump"): "the header, inside a temporary folder renamed whole",
    # Figures are for people; no run reads them back, and a rerun redraws them.
    ("training/plots.py", "savefig"): "a figure (learning_curves.png)",
    ("comparison/plot.py", "savefig"): "a figure (comparison.png)",
    ("tuning/bo/plots.py", "savefig"): "a figure (convergence.png, gp_posterior.png)",
    ("tuning/bo/plots.py", "saving"): "an animation (gp_posterior.gif)",
    ("callbacks/lr_finder.py", "savefig"): "a figure (lr_finder.png)",
    ("callbacks/one_cycle.py", "savefig"): "a figure (the schedule plot)",
}


def _through_helper(node: ast.Call) -> bool:
    # atomic.write_text(...) and friends.
    func = node.func
    return isinstance(func, ast.Attribute) and getattr(func.value, "id", None) == "atomic"


def _call_name(node: ast.Call) -> str | None:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def _opens_for_writing(node: ast.Call) -> bool:
    modes = [a for a in node.args[1:2]] + [k.value for k in node.keywords if k.arg == "mode"]
    return any(
        isinstance(m, ast.Constant) and isinstance(m.value, str) and set(m.value) & set("wax+")
        for m in modes
    )


def _in_atomic_block(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.With) and any(
            isinstance(item.context_expr, ast.Call)
            and _call_name(item.context_expr) == "atomic_path"
            for item in node.items
        ):
            return True
    return False


def _unguarded_writes(path: Path) -> list[tuple[str, int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    module = path.relative_to(PACKAGE).as_posix()
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _call_name(node)
        writes = name in _WRITE_CALLS or (name == "open" and _opens_for_writing(node))
        if (
            writes
            and not _through_helper(node)
            and (module, name) not in _ALLOWED
            and not _in_atomic_block(node, parents)
        ):
            found.append((module, node.lineno, name))
    return found


def test_every_writer_in_the_package_goes_through_the_helper():
    unguarded = [hit for path in sorted(PACKAGE.rglob("*.py")) for hit in _unguarded_writes(path)]
    assert unguarded == [], (
        "write these through keras_recipes.atomic (or add them to _ALLOWED with the reason "
        f"no later run reads them): {unguarded}"
    )


def test_the_static_check_sees_an_in_place_write(tmp_path, monkeypatch):
    # The check above must be able to fail: an in-place to_csv in a module is reported.
    module = tmp_path / "pkg" / "bad.py"
    module.parent.mkdir()
    module.write_text(
        "from keras_recipes import atomic\n"
        "def good(frame, path):\n"
        "    with atomic.atomic_path(path) as tmp:\n"
        "        frame.to_csv(tmp)\n"
        "def bad(frame, path):\n"
        "    frame.to_csv(path)\n"
        "    open(path, 'w')\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", module.parent)
    assert _unguarded_writes(module) == [("bad.py", 6, "to_csv"), ("bad.py", 7, "open")]
