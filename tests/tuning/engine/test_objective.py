"""The one real-training tuning test: two tiny train() trials and the final TTA retraining."""

import pandas as pd
import pytest

from keras_recipes.data import make_demo
from keras_recipes.recipes import get_recipe
from keras_recipes.training.session import _custom_gradients
from keras_recipes.training.setup import TrainSetup
from keras_recipes.tuning.bo.config import TuningConfig
from keras_recipes.tuning.bo.objective import TrainObjective
from keras_recipes.tuning.bo.search import run_search
from keras_recipes.tuning.bo.space import TRAIN_BOUNDS, SearchSpace


@pytest.mark.slow
def test_tiny_search_on_demo_subset_with_final_training(tmp_path):
    folder = make_demo(tmp_path / "demo", n_per_class=30, size=36)
    recipe = get_recipe("default").replace(training={"epochs": 1, "batch_size": 16})
    settings = {"image_size": 32, "width": 0.0625}
    config = TuningConfig(
        space=SearchSpace.from_mapping(TRAIN_BOUNDS),
        objective="train",
        init_points=1,
        n_iter=1,
        setup=TrainSetup(recipe, str(folder), **settings),
        final_epochs=1,
    )
    objective = TrainObjective(recipe, str(folder), seed=0, **settings)
    run_dir = tmp_path / "run"
    result = run_search(config, run_dir, objective=objective, final_recipe=recipe, verbose=False)

    frame = pd.read_csv(run_dir / "trials.csv")
    assert list(frame.columns) == [
        "trial",
        "log10_learning_rate",
        "log10_weight_decay",
        "learning_rate",
        "weight_decay",
        "best_val_accuracy",
        "best_epoch",
        "epochs_run",
        "seconds",
        "status",
    ]
    assert frame["trial"].tolist() == [1, 2]
    assert frame["epochs_run"].tolist() == [1, 1]
    assert frame["learning_rate"].tolist() == [10.0**x for x in frame["log10_learning_rate"]]
    assert frame["best_val_accuracy"].between(0, 1).all()
    # Data decoded once for both trials and the final training.
    assert objective.loads == 1
    for trial in ("001", "002"):
        assert (run_dir / "trials" / trial / "history.csv").is_file()
        assert not (run_dir / "trials" / trial / "model.keras").exists()
    assert (run_dir / "gp_posterior.png").is_file()
    assert result.final["epochs"] == 1
    assert 0.0 <= result.final["test_accuracy_tta"] <= 1.0
    assert (run_dir / "final" / "model.keras").is_file()
    # A trial leaves no custom-gradient registration behind (they pin its graphs: a leak).
    before = _custom_gradients()
    outcome = objective({"log10_learning_rate": -2.0, "log10_weight_decay": -4.0})
    assert outcome.epochs_run == 1
    assert _custom_gradients() == before
