"""The docstring examples of the data modules run as doctests."""

import doctest
import importlib

import pytest

MODULES = ["bundle", "decode", "demo", "loader", "pipeline", "sources", "split", "store", "tta"]


@pytest.mark.parametrize("name", MODULES)
def test_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KERAS_RECIPES_CACHE", str(tmp_path / "cache"))
    module = importlib.import_module(f"keras_recipes.data.{name}")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
