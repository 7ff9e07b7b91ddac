"""Searches write TensorBoard's HParams summaries: one session per trial, every status."""

import math
import subprocess
import sys

import pandas as pd
import pytest

from keras_recipes.callbacks.tensorboard import read_scalars
from keras_recipes.data import make_demo
from keras_recipes.recipes import get_recipe
from keras_recipes.training.setup import TrainSetup
from keras_recipes.tuning.bo.config import TuningConfig
from keras_recipes.tuning.bo.search import run_search
from keras_recipes.tuning.bo.space import TRAIN_BOUNDS, SearchSpace
from keras_recipes.tuning.engine.hparams import read_sessions, trial_log_dir
from keras_recipes.tuning.engine.outcome import TrialOutcome

OUTCOMES = [
    TrialOutcome(0.61, best_epoch=2, epochs_run=3, status="completed"),
    TrialOutcome(float("nan"), best_epoch=1, epochs_run=1, status="diverged"),
    TrialOutcome(0.55, best_epoch=1, epochs_run=2, status="pruned"),
    TrialOutcome(float("nan"), status="invalid"),
    TrialOutcome(0.58, best_epoch=1, epochs_run=2, status="early_stopped"),
]


class Scripted:
    """An objective that reports the outcomes above, one per trial."""

    def __init__(self):
        self.calls = 0

    def __call__(self, params, *, epochs=None, trial_dir=None):
        self.calls += 1
        return OUTCOMES[self.calls - 1]


def bo_config(n_iter):
    return TuningConfig(
        space=SearchSpace.from_mapping(TRAIN_BOUNDS), objective="train", init_points=2,
        n_iter=n_iter, seed=0, setup=TrainSetup("default", image_size=32, width=0.25),
    )  # fmt: skip


def test_every_trial_is_a_session_with_its_status_and_score(tmp_path):
    run_dir = tmp_path / "run"
    run_search(bo_config(3), run_dir, objective=Scripted(), verbose=False)
    trials = pd.read_csv(run_dir / "trials.csv")
    sessions = read_sessions(run_dir / "tensorboard")
    assert sessions.run.tolist() == [f"trial-00{n}" for n in range(1, 6)]
    assert sessions.status.tolist() == trials.status.tolist() == [o.status for o in OUTCOMES]
    assert sessions.session_status.tolist() == [
        "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_SUCCESS",
    ]  # fmt: skip
    for name in ("log10_learning_rate", "log10_weight_decay"):
        assert sessions[name].tolist() == pytest.approx(trials[name].tolist())
    # The objective as trials.csv has it: a diverged trial's worst score, none if invalid.
    scores = trials.best_val_accuracy.tolist()
    assert [s for s in sessions.best_val_accuracy if not math.isnan(s)] == pytest.approx(
        [s for s in scores if not math.isnan(s)]
    )
    assert math.isnan(sessions.best_val_accuracy[3])
    assert sessions.epochs_run.tolist()[:3] == [3.0, 1.0, 2.0]


def test_resume_writes_each_session_once(tmp_path):
    run_dir = tmp_path / "run"
    objective = Scripted()
    run_search(bo_config(0), run_dir, objective=objective, verbose=False)
    run_search(bo_config(2), run_dir, objective=objective, resume=True, verbose=False)
    sessions = read_sessions(run_dir / "tensorboard")
    assert sessions.run.tolist() == [f"trial-00{n}" for n in range(1, 5)]
    session_files = list((run_dir / "tensorboard").glob("trial-*/events.out.tfevents.*"))
    assert len(session_files) == 4
    assert len(list((run_dir / "tensorboard").glob("events.out.tfevents.*"))) == 1


def test_trial_log_dir_is_a_sub_run_of_the_search():
    assert str(trial_log_dir("runs/bo/trials/012")) == "runs/bo/tensorboard/trial-012"


@pytest.mark.slow
def test_train_with_bo_run_holds_hparams_and_curves_of_every_trial(tmp_path):
    data = make_demo(tmp_path / "demo", n_per_class=30, size=36)
    out = tmp_path / "bo"
    done = subprocess.run(
        [sys.executable, "-m", "keras_recipes.tuning", "--data", str(data), "--image-size", "32",
         "--width", "0.0625", "--batch-size", "16", "--epochs", "2", "--init-points", "2",
         "--n-iter", "1", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    trials = pd.read_csv(out / "trials.csv")
    sessions = read_sessions(out / "tensorboard")
    assert sessions.run.tolist() == ["trial-001", "trial-002", "trial-003"]
    assert sessions.status.tolist() == trials.status.tolist()
    assert sessions.best_val_accuracy.tolist() == pytest.approx(trials.best_val_accuracy.tolist())
    scalars = read_scalars(out / "tensorboard")
    for n in (1, 2, 3):
        val = scalars[
            (scalars.run == f"trial-00{n}/validation") & (scalars.tag == "epoch_accuracy")
        ]
        assert val.step.tolist() == [0, 1]
        assert val.value.max() == pytest.approx(trials.best_val_accuracy[n - 1])


def test_recipe_search_sessions_hold_the_choices_and_the_invalid_trials(tmp_path):
    from keras_recipes.tuning.recipe.config import RecipeSearchConfig
    from keras_recipes.tuning.recipe.search import run_recipe_search
    from keras_recipes.tuning.recipe.space import RecipeSpace

    def fake(params, epochs=None, trial_dir=None):
        return TrialOutcome(0.5 + params["learning_rate"], best_epoch=1, epochs_run=1)

    space = RecipeSpace(activation=("selu", "elu"), init=("he_normal",), optimizer=("adam",))
    config = RecipeSearchConfig(
        get_recipe("default"), oracle="random", max_trials=6, space=space, seed=3
    )
    result = run_recipe_search(config, tmp_path / "run", objective=fake, verbose=False)
    sessions = read_sessions(tmp_path / "run" / "tensorboard")
    assert len(sessions) == len(result.frame) == 6
    assert sessions.activation.tolist() == result.frame.activation.tolist()
    assert sessions.status.tolist() == result.frame.status.tolist()
    assert set(sessions.status) == {"invalid", "completed"}  # selu without lecun_normal
    assert sessions.learning_rate.tolist() == pytest.approx(result.frame.learning_rate.tolist())
