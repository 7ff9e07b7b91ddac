"""SearchSpace: `--bounds` parsing, validation and the values used (10**x)."""

import pytest

from keras_recipes.errors import ConfigError
from keras_recipes.tuning.bo.space import TRAIN_BOUNDS, SearchSpace


def test_defaults_are_the_posts_bounds():
    space = SearchSpace.from_specs([], TRAIN_BOUNDS)
    assert space.pbounds == {
        "log10_learning_rate": (-5.0, -1.0),
        "log10_weight_decay": (-5.0, -1.0),
    }
    assert space.names == ("log10_learning_rate", "log10_weight_decay")
    assert space.value_names == ("learning_rate", "weight_decay")


def test_a_spec_replaces_one_parameter_and_keeps_the_order():
    space = SearchSpace.from_specs(["log10_weight_decay=-6,-2.5"], TRAIN_BOUNDS)
    assert space.bounds == (
        ("log10_learning_rate", -5.0, -1.0),
        ("log10_weight_decay", -6.0, -2.5),
    )
    assert space.describe() == "log10_learning_rate=-5,-1 log10_weight_decay=-6,-2.5"


def test_values_are_ten_to_the_log10_parameters():
    space = SearchSpace.from_mapping(TRAIN_BOUNDS)
    values = space.values({"log10_learning_rate": -1.7927, "log10_weight_decay": -3.0})
    assert values == {"learning_rate": 10**-1.7927, "weight_decay": 0.001}


def test_json_round_trip():
    space = SearchSpace.from_specs(["log10_learning_rate=-4,-2"], TRAIN_BOUNDS)
    assert SearchSpace.from_mapping(space.to_json()) == space


def test_low_not_below_high_names_the_values():
    with pytest.raises(
        ConfigError, match=r"log10_learning_rate=-1,-5: low must be < high; got low=-1, high=-5"
    ):
        SearchSpace.from_specs(["log10_learning_rate=-1,-5"], TRAIN_BOUNDS)
    with pytest.raises(ConfigError, match=r"Bounds of 'x' must have low < high; got low=2, high=2"):
        SearchSpace.from_mapping({"x": (2, 2)})


def test_unknown_name_suggests_the_closest_and_lists_the_valid():
    with pytest.raises(
        ConfigError,
        match=r"Unknown parameter 'log10_lr' in --bounds log10_lr=-5,-1\. Did you mean "
        r"'log10_learning_rate'\? Valid parameters: log10_learning_rate, log10_weight_decay\.",
    ):
        SearchSpace.from_specs(["log10_lr=-5,-1"], TRAIN_BOUNDS)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("log10_learning_rate", "expects NAME=LOW,HIGH"),
        ("log10_learning_rate=-5", "expects NAME=LOW,HIGH"),
        ("=-5,-1", "expects NAME=LOW,HIGH"),
        ("log10_learning_rate=a,-1", "LOW and HIGH must be numbers"),
        ("log10_learning_rate=-inf,-1", "must be finite numbers"),
    ],
)
def test_malformed_specs(spec, message):
    with pytest.raises(ConfigError, match=message):
        SearchSpace.from_specs([spec], TRAIN_BOUNDS)
