"""A promoted configuration continues its parent's run under the "final" rung schedule: the
same history and weights as from scratch for fewer epochs; "compressed" retrains; the
tuner hands the objective the parent and deletes the states no round can promote."""

import json
from pathlib import Path

import keras
import keras_tuner
import numpy as np
import pandas as pd
import pytest
from keras_tuner.oracles import HyperbandOracle

from keras_recipes.recipes import get_recipe
from keras_recipes.training import fit
from keras_recipes.training.run_dir import BACKUP_DIR, STATE_DIR, backup_epoch, state_epoch
from keras_recipes.tuning.bo.objective import TrainObjective
from keras_recipes.tuning.engine.objective import CONTINUED_FILE
from keras_recipes.tuning.engine.rungs import Promotion
from keras_recipes.tuning.engine.tuner import ObjectiveTuner

POINT = {"log10_learning_rate": -1.5, "log10_weight_decay": -4.0}


def objective(rung_schedule: str = "final") -> TrainObjective:
    x = np.random.default_rng(0).integers(0, 255, (24, 40, 40, 3), dtype=np.uint8)
    recipe = get_recipe("default").replace(training={"epochs": 3, "batch_size": 8})
    return TrainObjective(
        recipe,
        (x, np.arange(24) % 2),
        image_size=32,
        width=0.0625,
        save_model=True,
        rung_schedule=rung_schedule,
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The configuration's 3-epoch run from scratch (000); its 1-epoch rung (001) and the
    promotion to 3 epochs (002) that continues it; and their outcomes."""
    root = tmp_path_factory.mktemp("trials")
    train = objective()
    outcomes = {
        "scratch": train(POINT, epochs=3, trial_dir=root / "000"),
        "rung": train(POINT, epochs=1, trial_dir=root / "001"),
    }
    assert state_epoch(root / "001") == 1  # a "final" rung keeps its state
    outcomes["continued"] = train(
        POINT, epochs=3, trial_dir=root / "002", promoted_from=Promotion(root / "001", 1)
    )
    return root, outcomes


def history(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "history.csv")


def test_the_continued_run_is_the_run_from_scratch(runs):
    root, outcomes = runs
    # Training is seeded and deterministic on the CPU: equal to the last bit.
    pd.testing.assert_frame_equal(history(root / "002"), history(root / "000"), check_exact=True)
    scratch = keras.saving.load_model(root / "000" / "model.keras")
    continued = keras.saving.load_model(root / "002" / "model.keras")
    for a, b in zip(scratch.get_weights(), continued.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert outcomes["continued"].score == outcomes["scratch"].score


def test_the_continued_trial_trains_only_the_epochs_after_its_parent(runs):
    root, outcomes = runs
    assert [outcomes[k].epochs_run for k in ("scratch", "rung", "continued")] == [3, 1, 2]
    summary = json.loads((root / "002" / "summary.json").read_text())
    assert summary["continued_from"] == {"trial": "001", "epoch": 1}
    assert (summary["epochs_run"], summary["epochs_trained"]) == (3, 2)
    # The state moved into the promoted trial (and was spent there); the top rung keeps
    # none, and nothing looks unfinished.
    for trial in ("000", "001", "002"):
        assert state_epoch(root / trial) is None and backup_epoch(root / trial) is None


class KillAt(keras.callbacks.Callback):
    """Ctrl-C at the end of an epoch, after its checkpoint: a search killed mid-trial."""

    def __init__(self, epoch: int):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            raise KeyboardInterrupt


def kill_at(monkeypatch, epoch: int) -> None:
    """Every train() the objective calls is killed after `epoch` (`KillAt`)."""
    real = fit.train

    def killed(**settings):
        return real(**{**settings, "callbacks": [*settings["callbacks"], KillAt(epoch)]})

    monkeypatch.setattr(fit, "train", killed)


@pytest.mark.slow
def test_a_continued_trial_killed_and_resumed_is_the_same_run(runs, tmp_path, monkeypatch):
    root, _ = runs
    train = objective()
    train(POINT, epochs=1, trial_dir=tmp_path / "001")
    promotion = Promotion(tmp_path / "001", 1)
    # Killed right after the state moved: the trial's checkpoint is the parent's state.
    assert train._take_over(promotion, tmp_path / "002", 3)
    assert backup_epoch(tmp_path / "002") == 1 and state_epoch(tmp_path / "001") is None
    # Resumed, then killed after its epoch 2 (the first it trains itself).
    kill_at(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt, match="training interrupted"):
        train(POINT, epochs=3, trial_dir=tmp_path / "002", promoted_from=promotion)
    assert backup_epoch(tmp_path / "002") == 2
    monkeypatch.undo()
    # Resumed again: epoch 3, and the trial's record is the whole run's.
    outcome = train(POINT, epochs=3, trial_dir=tmp_path / "002", promoted_from=promotion)
    assert outcome.epochs_run == 2  # epochs 2 and 3, across the kill
    pd.testing.assert_frame_equal(history(tmp_path / "002"), history(root / "000"))


@pytest.mark.slow
def test_a_rung_killed_after_its_last_epoch_trains_no_more_on_resume(runs, tmp_path, monkeypatch):
    root, outcomes = runs
    train = objective()
    # A 1-epoch rung killed after its epoch's checkpoint, before its summary.
    kill_at(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt, match="training interrupted"):
        train(POINT, epochs=1, trial_dir=tmp_path / "001")
    assert backup_epoch(tmp_path / "001") == 1
    monkeypatch.undo()
    # Resumed: nothing left to train; the rung is its one epoch, state kept for promotion.
    outcome = train(POINT, epochs=1, trial_dir=tmp_path / "001")
    assert (outcome.status, outcome.epochs_run, outcome.score) == (
        "completed",
        1,
        outcomes["rung"].score,
    )
    pd.testing.assert_frame_equal(history(tmp_path / "001"), history(root / "000").head(1))
    assert state_epoch(tmp_path / "001") == 1 and backup_epoch(tmp_path / "001") is None


def test_compressed_and_mismatched_parents_train_from_scratch(tmp_path):
    parent = tmp_path / "001"
    (parent / STATE_DIR).mkdir(parents=True)
    (parent / STATE_DIR / "training_metadata.json").write_text('{"epoch": 1}')
    # Compressed: the parent ran a whole cycle in its epoch, not this run's first epoch.
    compressed = objective("compressed")
    assert compressed._rung(POINT, 1)[1] is None  # no "final" rung: no state kept
    assert not compressed._take_over(Promotion(parent, 1), tmp_path / "002", 2)
    final = objective()
    # A parent whose state is at another epoch (stopped early), or none at all.
    assert not final._take_over(Promotion(parent, 2), tmp_path / "002", 3)
    assert not final._take_over(Promotion(tmp_path / "none", 1), tmp_path / "002", 2)
    assert not final._take_over(None, tmp_path / "002", 2)
    assert state_epoch(parent) == 1 and not (tmp_path / "002" / BACKUP_DIR).exists()
    assert not (tmp_path / "002" / CONTINUED_FILE).exists()


class Recording:
    """A stand-in objective: records its calls; a rung below 3 epochs keeps a state."""

    continues_promotions = True

    def __init__(self):
        self.calls = []

    def __call__(self, params, *, epochs=None, trial_dir=None, promoted_from=None):
        self.calls.append((trial_dir.name, epochs, promoted_from))
        if epochs < 3:
            (trial_dir / STATE_DIR).mkdir(parents=True)
            meta = trial_dir / STATE_DIR / "training_metadata.json"
            meta.write_text(json.dumps({"epoch": epochs}))
        return params["x"]


def test_the_tuner_hands_over_the_parent_and_prunes_spent_states(tmp_path):
    hps = keras_tuner.HyperParameters()
    hps.Float("x", 0.0, 1.0)
    oracle = HyperbandOracle(
        objective=keras_tuner.Objective("f", "max"), max_epochs=3, hyperparameters=hps, seed=1
    )
    recording = Recording()
    tuner = ObjectiveTuner(
        oracle, recording, ["x"], directory=tmp_path, trial_root=tmp_path / "trials"
    )
    tuner.search()
    # max_epochs 3: bracket 1 is 3 configurations for 1 epoch, the best for 3; bracket 0
    # two for 3 epochs.
    assert [(name, epochs) for name, epochs, _ in recording.calls] == [
        ("001", 1),
        ("002", 1),
        ("003", 1),
        ("004", 3),
        ("005", 3),
        ("006", 3),
    ]
    promotion = recording.calls[3][2]
    assert promotion.epoch == 1 and promotion.trial_dir.parent == tmp_path / "trials"
    assert all(call[2] is None for call in recording.calls[:3] + recording.calls[4:])
    # Once the round above is full, no state of the round below is kept.
    assert not list((tmp_path / "trials").glob(f"*/{STATE_DIR}"))


def test_a_chief_prunes_spent_states_but_not_one_a_worker_is_taking_over(tmp_path):
    # A cluster: the workers run the trials; the chief's oracle alone knows which rung
    # states no round can promote, and prunes them at each poll.
    hps = keras_tuner.HyperParameters()
    hps.Float("x", 0.0, 1.0)
    oracle = HyperbandOracle(
        objective=keras_tuner.Objective("f", "max"), max_epochs=3, hyperparameters=hps, seed=1
    )
    trials = tmp_path / "trials"
    chief = ObjectiveTuner(oracle, Recording(), ["x"], directory=tmp_path, trial_root=trials)

    def run_on_a_worker(trial, keeps_state):
        folder = trials / f"{int(trial.trial_id) + 1:03d}"
        if keeps_state:
            (folder / STATE_DIR).mkdir(parents=True)
        oracle.update_trial(trial.trial_id, {"f": trial.hyperparameters.values["x"]})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)

    def states():
        return sorted(p.parent.name for p in trials.glob(f"*/{STATE_DIR}"))

    # Bracket 1's first round: three 1-epoch rungs, each keeping its state.
    for _ in range(3):
        run_on_a_worker(oracle.create_trial("tuner0"), keeps_state=True)
    chief._chief_poll()
    assert states() == ["001", "002", "003"]  # the best may still be promoted
    promoted = oracle.create_trial("tuner1")  # the round above is now full...
    parent = promoted.hyperparameters.values["tuner/trial_id"]
    chief._chief_poll()
    # ...so two states are spent, but the promoted trial's worker has yet to take its
    # parent's over (a chief that pruned on rounds alone would delete it under it).
    assert states() == [f"{int(parent) + 1:03d}"]
    run_on_a_worker(promoted, keeps_state=False)
    chief._chief_poll()
    assert states() == []
