"""Every docstring example in the package runs, as a doctest: one walk over all modules, so a
new module's examples run without being listed anywhere."""

import doctest
import importlib
import pkgutil

import pytest

import keras_recipes

# Entry points that run a command when imported.
_NOT_IMPORTABLE = {"keras_recipes.cli.__main__", "keras_recipes.tuning.__main__"}
MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(keras_recipes.__path__, prefix="keras_recipes.")
    if info.name not in _NOT_IMPORTABLE
)


def test_the_walk_finds_every_package():
    packages = {name.rsplit(".", 1)[0] for name in MODULES}
    assert {"keras_recipes.tuning.engine", "keras_recipes.cli", "keras_recipes.data"} <= packages


@pytest.mark.parametrize("name", MODULES)
def test_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KERAS_RECIPES_CACHE", str(tmp_path / "cache"))
    module = importlib.import_module(name)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(module, optionflags=flags)
    assert result.failed == 0
