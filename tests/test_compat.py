"""Upgrade safety: every private name the toolkit reaches for still exists, one test each.

An upgrade of TensorFlow, Keras, keras-tuner or bayes_opt that moves one of them fails
`test_private_reach_resolves[<name>]`, which says what the toolkit uses it for and what
public API would replace it, instead of failing a user's run.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

import keras_recipes
from keras_recipes import _compat

PACKAGE = Path(keras_recipes.__file__).parent
ROOT = PACKAGE.parent


@pytest.mark.parametrize("reach", _compat.PRIVATE_REACHES, ids=lambda r: r.name)
def test_private_reach_resolves(reach):
    try:
        resolved = reach.resolve()
    except (ImportError, AttributeError, TypeError) as err:
        pytest.fail(
            f"{reach.package} {metadata.version(reach.package)} no longer has {reach.name} "
            f"({type(err).__name__}: {err}). Used in {reach.used_in} because {reach.why}. "
            f"Public replacement: {reach.public}."
        )
    assert resolved is not None


def test_every_reach_is_documented():
    for reach in _compat.PRIVATE_REACHES:
        assert reach.why and reach.public and reach.used_in, reach.name


#: Private module paths; only `_compat.py` may import them.
_PRIVATE_MODULES = re.compile(r"\b(keras\.src|keras_tuner\.src|tensorflow\.python)\b")


def test_private_modules_are_imported_only_through_compat():
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "_compat.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if _PRIVATE_MODULES.search(line) and not line.lstrip().startswith("#")
    ]
    assert offenders == [], f"import these through keras_recipes._compat: {offenders}"


def _requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pattern = re.compile(r"^([A-Za-z0-9_.-]+)\s*(.*)$")
    return {m[1].lower(): m[2] for m in map(pattern.match, project["dependencies"])}


def test_every_dependency_reached_into_has_an_upper_bound():
    requirements = _requirements()
    for package in sorted({reach.package for reach in _compat.PRIVATE_REACHES}):
        assert "<" in requirements[package], f"{package} needs an upper bound"


def test_installed_versions_are_inside_the_bounds():
    # The bounds name the next minor version not tested: the installed one is tested.
    for package in sorted({reach.package for reach in _compat.PRIVATE_REACHES}):
        bound = re.search(r"<\s*([\d.]+)", _requirements()[package])[1]
        installed = tuple(int(p) for p in metadata.version(package).split(".")[:2])
        limit = tuple(int(p) for p in bound.split(".")[:2])
        assert installed < limit, (package, installed, limit)


def test_keras_tuner_state_writes_are_atomic(tmp_path, monkeypatch):
    # keras-tuner itself writes oracle.json in place; through the toolkit's tuner set-up a
    # save that dies before its rename leaves the previous oracle.json whole.
    import os

    import keras_tuner

    _compat.install_atomic_keras_tuner_saves()
    oracle = keras_tuner.oracles.RandomSearchOracle(
        objective=keras_tuner.Objective("score", "max"), max_trials=3
    )
    _compat.set_project_dir(oracle, str(tmp_path), "project")
    oracle.save()
    path = tmp_path / "project" / "oracle.json"
    before = path.read_text()

    def killed(*args):
        raise KeyboardInterrupt("killed before the rename")

    monkeypatch.setattr(os, "replace", killed)
    oracle.tuner_ids.add("tuner0")  # a change, so the new state differs
    with pytest.raises(KeyboardInterrupt, match="killed before the rename"):
        oracle.save()
    assert path.read_text() == before
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []
