"""`ObjectiveTuner`: runs keras-tuner trials by calling an objective (e.g. `train()`)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from keras_tuner import synchronized
from keras_tuner.engine.base_tuner import BaseTuner
from keras_tuner.oracles import HyperbandOracle

from keras_recipes import _compat
from keras_recipes.tuning.engine import cluster as distributed
from keras_recipes.tuning.engine.outcome import STATUS_CODES, TrialOutcome
from keras_recipes.tuning.engine.recorder import trial_number
from keras_recipes.tuning.engine.rungs import (
    Promotion,
    oracle_schedule,
    prune_states,
    rounds_left,
)
from keras_recipes.tuning.engine.space import param_value

#: `objective(params, epochs=None, trial_dir=None) -> TrialOutcome | float`.
ObjectiveFn = Callable[..., Any]
#: Seconds a worker waits before asking again when the oracle has no trial for it yet.
IDLE_WAIT = 0.25


class ObjectiveTuner(BaseTuner):
    """A keras-tuner `BaseTuner` whose trials call `objective(params, ...)`.

    It subclasses `BaseTuner`, not `keras_tuner.Tuner`: the model is built and fitted by
    the objective (`keras_recipes.training.fit.train`), so keras-tuner's model building,
    checkpointing and TensorBoard set-up (which fails every trial under TF 2.21 when the
    `tensorboard` package is missing) are not used.

    A diverged trial (NaN/inf loss or score) is reported with `diverged_score`, a finite
    worst value, and status code "diverged", so no oracle (and no GP) ever sees NaN. An
    invalid one (the objective rejected the point before training) gets the same score and
    status code "invalid".

    Example:

    >>> import tempfile, keras_tuner
    >>> from keras_recipes.tuning.bo.oracle import BayesOptOracle
    >>> from keras_recipes.tuning.bo.toy import ToyObjective
    >>> oracle = BayesOptOracle(
    ...     keras_tuner.Objective("f", "max"), {"x": (-2.0, 6.0)}, init_points=2, n_iter=1
    ... )
    >>> tuner = ObjectiveTuner(oracle, ToyObjective(), ["x"], directory=tempfile.mkdtemp())
    >>> tuner.search()
    >>> len(oracle.end_order)
    3

    Args:
        oracle: keras_tuner.Oracle. Chooses the points.
        objective: callable. `objective(params, epochs=None, trial_dir=None)` returns a
            TrialOutcome or a float; `epochs` comes from Hyperband's `tuner/epochs`. One
            whose `continues_promotions` is true also gets `promoted_from`, a
            `rungs.Promotion` (the parent trial's folder and epochs), in a promoted trial.
        param_names: the parameters passed to the objective (the search space's names);
            numbers arrive as floats, choices as they are (strings).
        directory: str or Path. keras-tuner's working directory.
        project_name: str. keras-tuner's project folder inside `directory`.
        trial_root: Path or None. Each trial gets `trial_root/<trial number>` as its
            `trial_dir` (None: no trial directories).
        diverged_score: float. The score recorded for a diverged or invalid trial.
        on_trial_end: callable(tuner, trial) or None, called after each trial is recorded.
        overwrite: bool. Start over instead of reloading `directory/project_name`.
        trial_timeout: float or None. Chief only: seconds after which a worker that has
            not asked for a new trial is presumed dead and its trial goes to another
            worker (`faults.WorkerWatch`); None waits for it for ever.
    """

    def __init__(
        self,
        oracle,
        objective: ObjectiveFn,
        param_names: Sequence[str],
        *,
        directory: str | Path,
        project_name: str = "keras_tuner",
        trial_root: str | Path | None = None,
        diverged_score: float = 0.0,
        on_trial_end: Callable[[ObjectiveTuner, Any], None] | None = None,
        overwrite: bool = False,
        trial_timeout: float | None = None,
    ):
        if not math.isfinite(diverged_score):
            raise ValueError(f"diverged_score must be finite; got {diverged_score}.")
        self.objective = objective
        self.param_names = tuple(param_names)
        self.trial_root = Path(trial_root) if trial_root is not None else None
        self.diverged_score = float(diverged_score)
        self.trial_end_callback = on_trial_end
        self.poll_callback: Callable[[], None] | None = None
        self.trial_timeout = trial_timeout
        self._asked = self._began = False
        # trial_id -> the metrics this process reported (a worker cannot read them back).
        self.results: dict[str, dict[str, float]] = {}
        # keras-tuner's own per-trial printout; the caller prints the trial table instead.
        oracle.verbose = 0
        # Its oracle.json and trial.json are what --resume reads: no torn ones.
        _compat.install_atomic_keras_tuner_saves()
        super().__init__(
            oracle=oracle, directory=str(directory), project_name=project_name, overwrite=overwrite
        )

    def run_trial(self, trial, *args, **kwargs) -> dict[str, float]:
        values = trial.hyperparameters.values
        params = {name: param_value(values[name]) for name in self.param_names}
        epochs = values.get("tuner/epochs")
        trial_dir = None
        if self.trial_root is not None:
            trial_dir = self.trial_root / f"{trial_number(trial.trial_id):03d}"
        extra = {}
        promotion = self._promotion(values)
        if promotion is not None:
            extra["promoted_from"] = promotion
        start = time.perf_counter()
        outcome = TrialOutcome.from_value(
            self.objective(
                params,
                epochs=int(epochs) if epochs is not None else None,
                trial_dir=trial_dir,
                **extra,
            )
        )
        seconds = time.perf_counter() - start
        diverged = outcome.diverged
        # An invalid point (never trained) also reports the worst score: the oracle sees a
        # finished trial, not a failure (keras-tuner stops after 3 failures in a row), and a
        # Bayesian oracle learns to stay away from the forbidden region.
        worst = diverged or outcome.invalid
        metrics = {
            self.oracle.objective.name: self.diverged_score if worst else outcome.score,
            # keras-tuner metrics are numbers only: 0 stands for "none" (epochs are 1-based).
            "best_epoch": float(outcome.best_epoch or 0),
            "epochs_run": float(outcome.epochs_run or 0),
            "seconds": seconds,
            "status_code": float(STATUS_CODES["diverged" if diverged else outcome.status]),
        }
        self.results[trial.trial_id] = metrics
        return metrics

    def _promotion(self, values) -> Promotion | None:
        """The parent of a Hyperband promotion, for an objective that continues them."""
        parent = values.get("tuner/trial_id")
        if parent is None or self.trial_root is None:
            return None
        if not getattr(self.objective, "continues_promotions", False):
            return None
        folder = self.trial_root / f"{trial_number(parent):03d}"
        return Promotion(folder, int(values.get("tuner/initial_epoch", 0)))

    def _prune_states(self) -> None:
        # The states kept for a promotion (`rungs.Promotion`) that no round can promote
        # any more. Only the oracle knows which those are: a single process prunes after
        # each trial, a cluster's chief at each poll (`_chief_poll`); a worker's oracle is
        # the chief's, out of reach.
        if self.trial_root is None or not isinstance(self.oracle, HyperbandOracle):
            return
        prune_states(self.trial_root, _states_needed(self.oracle), trial_number)

    def _chief_poll(self) -> None:
        """What the chief does between workers' calls: prunes spent rung states, then
        records (`poll_callback`: the live table and trials.csv)."""
        self._prune_states()
        if self.poll_callback is not None:
            self.poll_callback()

    def pre_create_trial(self) -> None:
        # keras-tuner asks again at once when the oracle answers IDLE (Hyperband between
        # rounds; a chief with a trial time-out while trials still run elsewhere): pause.
        if self._asked and not self._began:
            time.sleep(IDLE_WAIT)
        self._asked, self._began = True, False

    def on_trial_begin(self, trial) -> None:
        self._began = True
        super().on_trial_begin(trial)

    def on_trial_end(self, trial) -> None:
        super().on_trial_end(trial)
        self._prune_states()
        if self.trial_end_callback is not None:
            self.trial_end_callback(self, trial)

    def search(self, *args, **kwargs) -> None:
        """Runs trials until the oracle stops; a chief serves the oracle to the workers."""
        if distributed.role() == "chief":
            self.save()
            distributed.serve_oracle(
                self.oracle, on_poll=self._chief_poll, trial_timeout=self.trial_timeout
            )
            return
        super().search(*args, **kwargs)


@synchronized
def _states_needed(oracle) -> set[str]:
    """Trial ids whose kept rung state must stay: a round may still promote them, or a
    promotion handed out has yet to take theirs over. Read under the oracle's lock
    (`synchronized`): on a chief, the workers' calls change it from the server's thread."""
    alive = rounds_left(oracle.get_state()["brackets"], oracle_schedule(oracle))
    # A promotion handed to a worker takes its parent's state over when it starts: until
    # it ends, that state is the worker's to move, not the chief's to delete (nor while
    # the trial of a worker presumed dead waits in the retry queue).
    handed_out = [*oracle.ongoing_trials.values()]
    handed_out += [oracle.trials[t] for t in _compat.retry_queue(oracle)]
    taking_over = {t.hyperparameters.values.get("tuner/trial_id") for t in handed_out}
    return alive | (taking_over - {None})
