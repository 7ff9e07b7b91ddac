"""`TrainingObjective`: one trial = one `train()` run of the recipe a point stands for.

The common part of both products' training objectives: the data loaded once for every
trial, a trial cut off mid-way resumed from its checkpoint, a promoted Hyperband
configuration continuing its parent's run (the "final" rung schedule: `rungs`), median
pruning, and each trial's TensorFlow memory freed after it. A product says how a point
becomes a recipe (`recipe_for`): `train-with-bo`'s `TrainObjective` sets the learning rate
and weight decay, `keras-recipes tune`'s `RecipeObjective` the recipe's choices.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from keras_recipes import atomic
from keras_recipes.errors import ConfigError, RecipeRefused
from keras_recipes.recipes import Recipe
from keras_recipes.training.session import free_trial_memory
from keras_recipes.training.setup import TrainSetup
from keras_recipes.tuning.engine.hparams import trial_log_dir
from keras_recipes.tuning.engine.outcome import TrialOutcome
from keras_recipes.tuning.engine.pruning import (
    DEFAULT_STARTUP_TRIALS,
    DEFAULT_WARMUP_EPOCHS,
    PRUNE_RULES,
)
from keras_recipes.tuning.engine.rungs import DEFAULT_RUNG_SCHEDULE, RUNG_SCHEDULES, Promotion

#: In a trial folder that continues its parent's run: `{"trial": folder name, "epoch": k}`.
CONTINUED_FILE = "continued.json"


class TrainingObjective:
    """Trains `recipe_for(params)` and returns its best validation accuracy over the epochs.

    The data are loaded once, on the first call, and the same bundle is passed to every
    `train()`; the Keras session is cleared after each trial so memory stays flat.

    Example (a subclass that tunes the learning rate alone):

    >>> import numpy as np
    >>> class LearningRate(TrainingObjective):
    ...     def recipe_for(self, params, epochs=None):
    ...         return self.recipe.replace(optimizer={"learning_rate": params["lr"]},
    ...                                    training={"epochs": epochs or 1})
    >>> x = np.random.default_rng(0).integers(0, 255, (40, 40, 40, 3), dtype=np.uint8)
    >>> setup = TrainSetup("relu", (x, np.arange(40) % 2), image_size=32, width=0.1)
    >>> setup = setup.replace(recipe=setup.recipe.replace(training={"batch_size": 8}))
    >>> LearningRate(setup)({"lr": 0.01}).status
    'completed'

    Args:
        recipe: TrainSetup, Recipe or str. The whole set-up, or its recipe (the base of
            every trial; its `training.epochs` is the per-trial epoch count) with the
            set-up's other fields below.
        data: str, (x, y) or DataBundle. What `train()` accepts (with a Recipe).
        image_size: int. Crop size fed to the model (with a Recipe).
        width: float. AlexNet width multiplier (with a Recipe).
        seed: int. The same seed for every trial, so only the point differs (with a Recipe).
        model: your model for every trial, as `train(model=...)` takes it (with a Recipe);
            with it, `data` may be arrays or a tf.data pair that are not images.
        save_model: bool. Write `model.keras` into each trial directory.
        prune: str. "none", or "median": a `MedianPruner` stops a trial below the finished
            trials' median (needs the trial directories; the outcome's status is "pruned").
        prune_warmup_epochs: int. Epochs of every trial that are never pruned.
        prune_startup_trials: int. Finished trials needed before pruning starts.
        rung_schedule: str. A call with `epochs` below the recipe's (a Hyperband rung):
            "compressed" lays the schedule out over those epochs, "final" over the
            recipe's and stops after `epochs` (see `keras_recipes.tuning.engine.rungs`).
            Under "final" a rung keeps its last checkpoint, and a promoted configuration
            (`promoted_from`) continues its parent's run instead of starting again;
            under "compressed" it trains from scratch.
    """

    #: Whether a model that refuses a point's recipe (`RecipeRefused`) makes the trial
    #: "invalid" (a search over recipes) rather than failed (a search over one recipe).
    refused_is_invalid = False
    #: `ObjectiveTuner` hands a promoted trial its parent (`promoted_from`).
    continues_promotions = True

    def __init__(
        self,
        recipe: TrainSetup | Recipe | str,
        data: Any = "demo",
        *,
        image_size: int = 227,
        width: float = 1.0,
        seed: int = 0,
        model: Any = None,
        save_model: bool = False,
        prune: str = "none",
        prune_warmup_epochs: int = DEFAULT_WARMUP_EPOCHS,
        prune_startup_trials: int = DEFAULT_STARTUP_TRIALS,
        rung_schedule: str = DEFAULT_RUNG_SCHEDULE,
    ):
        if prune not in PRUNE_RULES:
            raise ConfigError(f"Unknown pruning rule {prune!r}; valid: {', '.join(PRUNE_RULES)}.")
        if rung_schedule not in RUNG_SCHEDULES:
            raise ConfigError(
                f"Unknown rung schedule {rung_schedule!r}; valid: {', '.join(RUNG_SCHEDULES)}."
            )
        self.rung_schedule = rung_schedule
        if not isinstance(recipe, TrainSetup):
            recipe = TrainSetup(
                recipe, data, image_size=image_size, width=width, seed=seed, model=model
            )
        self.setup = recipe
        self.prune = prune
        self.prune_warmup_epochs = prune_warmup_epochs
        self.prune_startup_trials = prune_startup_trials
        self.save_model = save_model
        self._bundle = None
        self.loads = 0

    @property
    def recipe(self) -> Recipe:
        """The base recipe of every trial."""
        return self.setup.recipe

    def recipe_for(self, params: Mapping[str, Any], epochs: int | None = None) -> Recipe:
        """The recipe a point stands for, trained for `epochs` (None: the recipe's).

        Raises:
            ConfigError: a point whose recipe the validation forbids (the trial is then
                "invalid": scored, never trained).
        """
        raise NotImplementedError

    def bundle(self):
        """The data, loaded on first use and reused by every later trial."""
        if self._bundle is None:
            self._bundle = self.setup.load_data()
            self.loads += self._bundle is not self.setup.data
        return self._bundle

    def __call__(
        self,
        params: Mapping[str, Any],
        *,
        epochs: int | None = None,
        trial_dir: str | Path | None = None,
        promoted_from: Promotion | None = None,
    ) -> TrialOutcome:
        """Trains the point (for `epochs`, a rung) in `trial_dir`; its outcome.

        `promoted_from`: the trial a Hyperband promotion comes from. Under the "final"
        rung schedule, when that trial kept its state at the epochs it trained, this
        trial continues the run from there (the parent's state moves into `trial_dir`)
        and trains the remaining epochs only; otherwise it trains from scratch.
        """
        from keras_recipes.training.fit import train
        from keras_recipes.training.run_dir import backup_epoch

        try:
            recipe, until_epoch = self._rung(params, epochs)
        except ConfigError:
            # A combination the recipe validation forbids is never trained. The reason is
            # not carried here (keras-tuner's metrics are numbers only): it is recomputed
            # from the point when the trial is recorded (validation is pure).
            return TrialOutcome(score=math.nan, status="invalid")
        settings = {**self.setup.train_kwargs(), "recipe": recipe, "data": self.bundle()}
        # A trial cut off mid-way (a killed search, now resumed) left its checkpoint in
        # trial_dir: the same trial continues from it, as train.py --resume would.
        resume = trial_dir is not None and backup_epoch(trial_dir) is not None
        if not resume:
            resume = self._take_over(promoted_from, trial_dir, epochs)
        continued = _continued(trial_dir)
        pruner = self._pruner(trial_dir, resume)
        with free_trial_memory():
            try:
                result = train(
                    **settings,
                    run_dir=trial_dir,
                    tta=False,
                    verbose=0,
                    save_model=self.save_model,
                    resume=resume,
                    callbacks=[pruner] if pruner is not None else [],
                    tensorboard=trial_log_dir(trial_dir),
                    until_epoch=until_epoch,
                    # A "final" rung: a higher rung of the configuration may continue it.
                    keep_state=until_epoch is not None and trial_dir is not None,
                )
            except RecipeRefused:
                if not self.refused_is_invalid:
                    raise
                return TrialOutcome(score=math.nan, status="invalid")
            outcome = _outcome(result.summary, pruner, trial_dir, continued)
            del result
        return outcome

    def _take_over(self, promoted_from, trial_dir, epochs) -> bool:
        """Moves the parent's kept state into `trial_dir` when this trial continues its run
        (the "final" schedule, the state at the parent's epochs); True when it did."""
        from keras_recipes.training.run_dir import continue_state

        if trial_dir is None:
            return False
        note = Path(trial_dir) / CONTINUED_FILE
        if not self._continues(promoted_from, epochs):
            note.unlink(missing_ok=True)  # a start from scratch continues nothing
            return False
        # Written first: a kill after the move still resumes as a continued trial.
        note.parent.mkdir(parents=True, exist_ok=True)
        parent = Path(promoted_from.trial_dir)
        atomic.write_json(note, {"trial": parent.name, "epoch": promoted_from.epoch})
        continue_state(parent, trial_dir)
        return True

    def _continues(self, promoted_from, epochs) -> bool:
        """Whether a promoted trial can continue its parent's run."""
        from keras_recipes.training.run_dir import state_epoch

        if promoted_from is None or epochs is None or self.rung_schedule != "final":
            return False  # compressed: the parent ran another cycle, not this run's start
        # An early-stopped or diverged parent's state is at another epoch: start afresh.
        return 0 < promoted_from.epoch < epochs and (
            state_epoch(promoted_from.trial_dir) == promoted_from.epoch
        )

    def _rung(self, params: Mapping[str, Any], epochs: int | None):
        """The recipe of a call, and the epoch a "final" rung stops at (`train`'s
        `until_epoch`; None: the recipe's epochs)."""
        if self.rung_schedule == "final" and epochs is not None:
            recipe = self.recipe_for(params)
            if epochs < recipe.training.epochs:
                return recipe, epochs
        return self.recipe_for(params, epochs), None

    def _pruner(self, trial_dir: str | Path | None, resume: bool):
        from keras_recipes.tuning.engine.pruning import MedianPruner

        # Without a trial directory there are no finished trials to compare with.
        if self.prune == "none" or trial_dir is None:
            return None
        history: list[float] = []
        if resume:
            from keras_recipes.training.run_dir import load_resume_point

            _, records, _ = load_resume_point(trial_dir)
            history = [float(r.get("val_accuracy", float("nan"))) for r in records]
        return MedianPruner(
            Path(trial_dir).parent,
            trial_dir,
            warmup_epochs=self.prune_warmup_epochs,
            startup_trials=self.prune_startup_trials,
            history=history,
        )


def _continued(trial_dir) -> dict[str, Any] | None:
    """The parent a trial continues (`CONTINUED_FILE`: its folder name and epochs), or None."""
    if trial_dir is None or not (Path(trial_dir) / CONTINUED_FILE).is_file():
        return None
    return json.loads((Path(trial_dir) / CONTINUED_FILE).read_text())


def _outcome(summary: dict[str, Any], pruner, trial_dir, continued=None):
    # train() wrote summary.json; only the objective knows a continued or pruned trial.
    rewrite = False
    epochs_run = summary.get("epochs_run")
    if continued is not None:
        # The run's history and best are the configuration's whole run; the epochs this
        # trial trained are the ones after its parent's.
        summary["continued_from"] = continued
        epochs_run = summary["epochs_trained"] = epochs_run - int(continued["epoch"])
        rewrite = True
    if pruner is not None and pruner.pruned_at_epoch is not None:
        summary["status"] = "pruned"
        summary["pruned"] = pruner.decision
        rewrite = True
    if rewrite and trial_dir is not None:
        atomic.write_json(Path(trial_dir) / "summary.json", summary, indent=2, default=str)
    return TrialOutcome(
        score=float(summary["best_val_accuracy"]),
        best_epoch=summary.get("best_epoch"),
        epochs_run=epochs_run,
        status=summary["status"],
    )
