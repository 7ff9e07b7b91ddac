"""Rung schedules: a Hyperband rung's 1cycle laid out over its own epochs or the full
budget's, through TrainingObjective, TuningConfig and train-with-bo's flag."""

import json

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
from keras_recipes.tuning.engine.objective import _outcome
from keras_recipes.tuning.engine.rungs import StopAfterEpoch

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
    recipe, stop = objective("compressed")._rung(POINT, 3)
    assert recipe.training.epochs == 3
    assert stop is None


def test_final_lays_the_cycle_out_over_the_full_budget_and_stops_at_the_rung():
    recipe, stop = objective("final")._rung(POINT, 3)
    assert recipe.training.epochs == 9
    assert recipe.optimizer.learning_rate == pytest.approx(0.01)
    assert isinstance(stop, StopAfterEpoch) and stop.epochs == 3
    # The top rung (and a search without rungs) trains the recipe as it is.
    for epochs in (9, None):
        recipe, stop = objective("final")._rung(POINT, epochs)
        assert recipe.training.epochs == 9 and stop is None


def test_bad_values_are_refused():
    with pytest.raises(ConfigError, match=r"Unknown rung schedule 'full'; valid: compressed, fi"):
        objective("full")
    with pytest.raises(ValueError, match=r"`epochs` must be an integer >= 1. Received: epochs=0"):
        StopAfterEpoch(0)


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


def test_a_stopped_final_rung_is_a_completed_trial(tmp_path):
    # train() reports fewer epochs than the recipe's as "early_stopped".
    summary = {"status": "early_stopped", "best_val_accuracy": 0.7, "epochs_run": 3}
    stop = StopAfterEpoch(3)
    stop.stopped = True
    outcome = _outcome(dict(summary), None, tmp_path, stop)
    assert (outcome.status, outcome.score, outcome.epochs_run) == ("completed", 0.7, 3)
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert (saved["status"], saved["rung_epochs"]) == ("completed", 3)
    # Stopped by anything else (an early-stopping callback), it stays early_stopped.
    assert _outcome(dict(summary), None, tmp_path, StopAfterEpoch(3)).status == "early_stopped"
