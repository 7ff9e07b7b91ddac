"""`keras-recipes tune`'s command line (its searches are tested in tests/tuning/recipe)."""

import pytest

from keras_recipes.cli import tune


def test_the_oracle_choices_are_the_searchs():
    # Repeated in the CLI so that --help does not import keras-tuner.
    from keras_recipes.tuning.recipe.config import ORACLES

    assert tune.ORACLE_CHOICES == ORACLES


def test_help_lists_the_oracles(capsys):
    with pytest.raises(SystemExit) as stop:
        tune.main(["--help"])
    assert stop.value.code == 0
    assert "{random,bayesian,hyperband,bohb}" in capsys.readouterr().out
