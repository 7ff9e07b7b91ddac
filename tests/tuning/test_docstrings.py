"""The docstring examples of the tuning modules run as doctests."""

import doctest
import importlib

import pytest

MODULES = [
    "config",
    "distributed",
    "errors",
    "faults",
    "hparams",
    "objective",
    "oracle",
    "oracles",
    "outcome",
    "plots",
    "pruning",
    "recorder",
    "search",
    "space",
    "toy",
    "tuner",
]


@pytest.mark.parametrize("name", MODULES)
def test_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(f"keras_recipes.tuning.{name}")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
