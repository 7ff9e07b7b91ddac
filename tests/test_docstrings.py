"""The docstring examples of the core modules run as doctests."""

import doctest
import importlib

import pytest

MODULES = [
    "keras_recipes.recipes.recipe",
    "keras_recipes.recipes.registry",
    "keras_recipes.models.alexnet",
    "keras_recipes.models.apply",
    "keras_recipes.models.blocks",
    "keras_recipes.models.mlp",
    "keras_recipes.models.mc_dropout",
    "keras_recipes.models.rrelu",
    "keras_recipes.callbacks.learning_rate_logger",
    "keras_recipes.callbacks.throughput",
    "keras_recipes.callbacks.resumable_early_stopping",
    "keras_recipes.callbacks.tensorboard",
    "keras_recipes.training",
    "keras_recipes.distribution",
    "keras_recipes.seeds",
    "keras_recipes.atomic",
    "keras_recipes._compat",
    "keras_recipes.startup",
    "keras_recipes.cache_cli",
]


@pytest.mark.parametrize("name", MODULES)
def test_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
