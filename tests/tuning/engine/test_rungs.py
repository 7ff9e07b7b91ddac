"""Rung schedules: a Hyperband rung's 1cycle laid out over its own epochs or the full
budget's, through TrainingObjective, TuningConfig and train-with-bo's flag."""

import numpy as np
import pytest

from keras_recipes.cli import train_with_bo as cli
from keras_recipes.errors import ConfigError
from keras_recipes.recipes import get_recipe
from keras_recipes.training.setup import TrainSetup
from keras_recipes.tuning.bo.config import TuningConfig
from keras_recipes.tuning.bo.objective import TrainObjective
from keras_recipes.tuning.bo.space import TRAIN_BOUNDS, SearchSpace
from keras_recipes.tuning.engine import rungs

POINT = {"log10_learning_rate": -2.0, "log10_weight_decay": -4.0}


def tiny_data():
    x = np.random.default_rng(0).integers(0, 255, (24, 40, 40, 3), dtype=np.uint8)
    return x, np.arange(24) % 2


def objective(rung_schedule: str, epochs: int = 9) -> TrainObjective:
    recipe = get_recipe("default").replace(training={"epochs": epochs, "batch_size": 8})
    return TrainObjective(
        recipe, tiny_data(), image_size=32, width=0.0625, rung_schedule=rung_schedule
    )


def test_the_cli_repeats_the_engine_constants():
    assert cli.RUNG_SCHEDULES == rungs.RUNG_SCHEDULES
    assert cli.DEFAULT_RUNG_SCHEDULE == rungs.DEFAULT_RUNG_SCHEDULE


def test_compressed_lays_the_cycle_out_over_the_rung():
    recipe, until_epoch = objective("compressed")._rung(POINT, 3)
    assert recipe.training.epochs == 3
    assert until_epoch is None


def test_final_lays_the_cycle_out_over_the_full_budget_and_stops_at_the_rung():
    recipe, until_epoch = objective("final")._rung(POINT, 3)
    assert recipe.training.epochs == 9
    assert recipe.optimizer.learning_rate == pytest.approx(0.01)
    assert until_epoch == 3
    # The top rung (and a search without rungs) trains the recipe as it is.
    for epochs in (9, None):
        recipe, until_epoch = objective("final")._rung(POINT, epochs)
        assert recipe.training.epochs == 9 and until_epoch is None


def test_bad_values_are_refused():
    with pytest.raises(ConfigError, match=r"Unknown rung schedule 'full'; valid: compressed, fi"):
        objective("full")


def config(**kwargs) -> TuningConfig:
    setup = TrainSetup(get_recipe("default"), "demo", image_size=32, width=0.125)
    return TuningConfig(space=SearchSpace.from_mapping(TRAIN_BOUNDS), setup=setup, **kwargs)


def test_config_saves_the_setting_and_old_runs_read_as_compressed():
    saved = config(search="bohb", rung_schedule="final")
    assert TuningConfig.from_json(saved.to_json()) == saved
    doc = saved.to_json()
    del doc["rung_schedule"]
    assert TuningConfig.from_json(doc).rung_schedule == "compressed"
    # A rung schedule changes what a hyperband / bohb trial measures, not a bo trial.
    assert saved.identity()["rung_schedule"] == "final"
    assert "rung_schedule" not in config(search="bo").identity()
    with pytest.raises(ConfigError, match=r"--rung-schedule 'x' is not a rung schedule; valid"):
        config(rung_schedule="x")


def test_the_flag_reaches_the_config():
    args = cli.build_parser().parse_args(["--search", "bohb", "--rung-schedule", "final"])
    assert cli.build_config(args)[0].rung_schedule == "final"
    args = cli.build_parser().parse_args(["--search", "hyperband"])
    assert cli.build_config(args)[0].rung_schedule == rungs.DEFAULT_RUNG_SCHEDULE
