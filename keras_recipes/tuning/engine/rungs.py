"""How a Hyperband / bohb rung of `k` epochs lays out an epoch-based schedule (1cycle).

keras-tuner's Hyperband hands the objective `tuner/epochs` (the rung's budget) and, for a
promoted configuration, a new trial with `tuner/trial_id` (the trial it was promoted from)
and `tuner/initial_epoch` (that trial's epochs). Each trial has its own trial folder. The
schedule of a rung's trial is laid out one of two ways:

- "compressed": over the rung's own epochs (a whole 1cycle in `k` epochs). A promoted
  configuration trains from scratch: its cycle differs from its parent's, whose weights
  are no start of it;
- "final": over the full budget (the recipe's epochs, Hyperband's `max_epochs`), of which
  the rung trains the first `k` epochs (`train(until_epoch=k)`): every rung of a configuration
  follows the same learning-rate curve as its full-budget run, so a rung's score is that
  run's score so far. A rung's `k` epochs are then the first `k` of every higher rung of
  the configuration, so a promoted configuration continues its parent's run (`Promotion`):
  the parent kept its last checkpoint (`train(keep_state=True)`: weights, optimizer,
  epoch, history, schedule states), the promoted trial takes it over and trains epochs
  `k + 1 .. K` alone, the same run as from scratch (training is seeded and
  deterministic) for `K - k` epochs instead of `K`. Its history and score are the whole
  run's (epochs `1 .. K`, the first `k` the parent's); its `epochs_run` (trials.csv) the
  epochs it trained itself. States nobody can promote any more are deleted
  (`prune_states`).

Schedules that do not depend on the total epochs (performance, step decays) are the same
either way. `benchmarks/rungs.py` measures which layout ranks configurations better.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from keras_recipes.errors import ConfigError, check_int, check_int_in

#: The layouts, and the default (`benchmarks/rungs.py`, benchmarks/README.md).
RUNG_SCHEDULES = ("compressed", "final")
DEFAULT_RUNG_SCHEDULE = "final"


def hyperband_schedule(
    max_epochs: int, factor: int = 3, min_epochs: int = 1
) -> list[list[tuple[int, int]]]:
    """keras-tuner's Hyperband brackets as (configurations, epochs) per round.

    The formulas of `keras_tuner.oracles.HyperbandOracle` (sizes `_get_size`, epochs
    `_get_epochs`, bracket count `_get_num_brackets`), in the order it runs them: the most
    aggressive bracket first. `min_epochs` (keras-tuner's `HyperbandOracle.min_epochs`, 1
    there; `with_min_epochs` sets it) drops the brackets whose first rung would train
    fewer epochs: the smallest rung is the first of `max_epochs / factor ** k` (rounded
    up) at or above it.

    Example:

    >>> hyperband_schedule(9)
    [[(9, 1), (3, 3), (1, 9)], [(5, 3), (2, 9)], [(3, 9)]]
    >>> hyperband_schedule(9, min_epochs=3)
    [[(5, 3), (2, 9)], [(3, 9)]]
    """
    brackets, epochs = 0, float(max_epochs)
    while epochs >= min_epochs:
        epochs /= factor
        brackets += 1
    end_size = math.ceil(1 + math.log(max_epochs, factor))
    return [
        [
            (
                math.ceil(end_size / (b + 1) * factor ** (b - r)),
                math.ceil(max_epochs / factor ** (b - r)),
            )
            for r in range(b + 1)
        ]
        for b in reversed(range(brackets))
    ]


def check_min_epochs(min_epochs: Any, max_epochs: int) -> int:
    """`min_epochs` when it is an integer in 1..`max_epochs`; else a ConfigError that says so.

    Example:

    >>> check_min_epochs(3, 9)
    3
    """
    return check_int_in(
        "--min-epochs", min_epochs, 1, max_epochs, " (the per-trial epochs, Hyperband's max_epochs)"
    )


def check_rung_settings(
    min_epochs: Any, iterations: Any, max_epochs: int, *, has_rungs: bool, applies_to: str
) -> None:
    """Checks `--min-epochs` and `--hyperband-iterations`: in range for a search with
    Hyperband's rungs (`has_rungs`); for any other, left at 1, else a ConfigError that says
    where they apply (`applies_to`, e.g. "--search hyperband or bohb, not bo").

    Example:

    >>> check_rung_settings(3, 2, 9, has_rungs=True, applies_to="")
    >>> try:
    ...     check_rung_settings(3, 1, 9, has_rungs=False, applies_to="--search bohb, not bo")
    ... except ConfigError as err:
    ...     print(err)
    --min-epochs 3 sets the smallest Hyperband rung; it applies to --search bohb, not bo.
    """
    if not has_rungs:
        for flag, value, what in (
            ("--min-epochs", min_epochs, "sets the smallest Hyperband rung"),
            ("--hyperband-iterations", iterations, "repeats the brackets"),
        ):
            if value != 1:
                raise ConfigError(f"{flag} {value} {what}; it applies to {applies_to}.")
        return
    check_min_epochs(min_epochs, max_epochs)
    check_int("--hyperband-iterations", iterations, 1)


def check_more_iterations(requested: int, saved: int) -> None:
    """A resumed run may add Hyperband iterations, not drop them (keras-tuner would never
    reach a last iteration it has passed): a ConfigError for `requested < saved`.

    Example:

    >>> check_more_iterations(3, 2)
    """
    if requested < saved:
        raise ConfigError(
            f"--hyperband-iterations {requested} is fewer than the run's {saved}; a resumed "
            "run may add iterations, not drop them (omit the flag to keep the run's)."
        )


def with_min_epochs(oracle, min_epochs: int):
    """`oracle`, a new keras-tuner `HyperbandOracle` (or subclass), whose smallest rung trains
    at least `min_epochs` epochs (`hyperband_schedule`); keras-tuner's own is 1.

    Where 1-epoch scores rank configurations unlike full ones (the fidelity check's
    warning), a larger minimum budget drops the most aggressive brackets: with 9 epochs
    and 3, the brackets are 5 x 3 -> 2 x 9 and 3 x 9. The setting is in the oracle's state,
    so a resumed search keeps it. Call before the first trial.

    Example:

    >>> import keras_tuner
    >>> oracle = keras_tuner.oracles.HyperbandOracle(
    ...     keras_tuner.Objective("f", "max"), max_epochs=9)
    >>> with_min_epochs(oracle, 3).get_state()["brackets"]
    [{'bracket_num': 1, 'rounds': [[], []]}]
    """
    from keras_recipes import _compat

    _compat.restart_brackets(oracle, check_min_epochs(min_epochs, oracle.max_epochs))
    return oracle


def schedule_cost(schedule, continued: bool = True, iterations: int = 1) -> tuple[int, int]:
    """(trials, epochs) of `iterations` runs through `schedule` (`hyperband_schedule`).

    A promoted configuration that continues its parent's run (`continued`: the "final"
    rung schedule) trains only the epochs above its parent's; one that starts again
    ("compressed") trains its rung's all.

    Example:

    >>> schedule_cost(hyperband_schedule(9)), schedule_cost(hyperband_schedule(9), False)
    ((23, 75), (23, 87))
    >>> schedule_cost(hyperband_schedule(9, min_epochs=3), iterations=2)
    (20, 108)
    """
    trials = epochs = 0
    for rounds in schedule:
        below = 0
        for n, rung in rounds:
            trials += n
            epochs += n * (rung - below if continued else rung)
            below = rung
    return trials * iterations, epochs * iterations


def oracle_schedule(oracle) -> list[list[tuple[int, int]]]:
    """`hyperband_schedule` of a keras-tuner `HyperbandOracle` (or subclass): its brackets
    as (configurations, epochs) per round, from its own max_epochs, factor and min_epochs."""
    return hyperband_schedule(oracle.max_epochs, oracle.factor, oracle.min_epochs)


def plan_words(oracle, continued: bool = True) -> str:
    """How a plan line names a Hyperband oracle's brackets and what they will train
    (`schedule_cost`; min_epochs only when not keras-tuner's 1).

    Example:

    >>> import keras_tuner
    >>> objective = keras_tuner.Objective("f", "max")
    >>> plan_words(keras_tuner.oracles.HyperbandOracle(objective, max_epochs=9))
    'max_epochs=9, factor 3, one iteration: 23 trials, 75 epochs'
    >>> oracle = keras_tuner.oracles.HyperbandOracle(
    ...     objective, max_epochs=9, hyperband_iterations=2)
    >>> plan_words(with_min_epochs(oracle, 3), continued=False)
    'max_epochs=9, min_epochs=3, factor 3, 2 iterations: 20 trials, 120 epochs'
    """
    iterations = int(oracle.hyperband_iterations)
    trials, epochs = schedule_cost(oracle_schedule(oracle), continued, iterations)
    least = f", min_epochs={oracle.min_epochs}" if oracle.min_epochs != 1 else ""
    times = "one iteration" if iterations == 1 else f"{iterations} iterations"
    return (
        f"max_epochs={oracle.max_epochs}{least}, factor {oracle.factor}, {times}: "
        f"{trials} trials, {epochs} epochs"
    )


class ExtendableIterations:
    """Mixin for keras-tuner's `HyperbandOracle` (first in the bases): a reloaded search
    runs the iterations it was built with, so `--resume --hyperband-iterations N` adds
    iterations to a run, as `--n-iter` adds trials to a bo run.

    keras-tuner's `set_state` takes `hyperband_iterations` from the saved state: a finished
    one-iteration search, reloaded with 2, would stop at once. Fewer iterations than the
    run has begun are refused (keras-tuner would never reach its last one and run for ever).

    Example:

    >>> import keras_tuner
    >>> class Oracle(ExtendableIterations, keras_tuner.oracles.HyperbandOracle):
    ...     pass
    >>> oracle = Oracle(keras_tuner.Objective("f", "max"), max_epochs=9, hyperband_iterations=2)
    >>> state = {**oracle.get_state(), "hyperband_iterations": 1}
    >>> oracle.set_state(state)
    >>> oracle.hyperband_iterations
    2
    """

    def set_state(self, state: dict[str, Any]) -> None:
        iterations = self.hyperband_iterations
        super().set_state(state)
        begun = int(state["current_iteration"]) + 1
        if iterations < begun:
            raise ConfigError(
                f"--hyperband-iterations {iterations} is fewer than the {begun} iterations "
                f"the run has begun; resume with at least {begun}."
            )
        self.hyperband_iterations = iterations


class Promotion(NamedTuple):
    """A promoted trial's parent: its trial folder and the epochs it trained (Hyperband's
    `tuner/trial_id` and `tuner/initial_epoch`), handed to an objective that continues
    promotions (`continues_promotions`)."""

    trial_dir: Path
    epoch: int


def rounds_left(brackets: Iterable[Mapping[str, Any]], schedule) -> set[str]:
    """Trial ids that may still be promoted: those of a round whose next round, in a
    bracket still open, has not all its trials yet.

    `brackets` is keras-tuner's `HyperbandOracle` state (`get_state()["brackets"]`: the
    open brackets, each `{"bracket_num", "rounds": [[{"id", "past_id"}, ...], ...]}`), and
    `schedule` the brackets' (configurations, epochs) per round (`hyperband_schedule`;
    bracket number `b` is `schedule[len(schedule) - 1 - b]`).

    Example:

    >>> schedule = [[(9, 1), (3, 3), (1, 9)], [(5, 3), (2, 9)], [(3, 9)]]
    >>> first = [{"id": str(i), "past_id": None} for i in range(5)]
    >>> sorted(rounds_left([{"bracket_num": 1, "rounds": [first, []]}], schedule))
    ['0', '1', '2', '3', '4']
    >>> second = [{"id": "5", "past_id": "2"}, {"id": "6", "past_id": "0"}]
    >>> rounds_left([{"bracket_num": 1, "rounds": [first, second]}], schedule)
    set()
    """
    alive: set[str] = set()
    for bracket in brackets:
        sizes = [n for n, _ in schedule[len(schedule) - 1 - int(bracket["bracket_num"])]]
        rounds = bracket["rounds"]
        for number in range(len(rounds) - 1):
            if len(rounds[number + 1]) < sizes[number + 1]:
                alive.update(str(info["id"]) for info in rounds[number])
    return alive


def prune_states(trial_root: Path, keep: Iterable[str], number_of) -> list[Path]:
    """Deletes the kept states (`run_dir.STATE_DIR`) in `trial_root/<trial>` of every trial
    not in `keep` (trial ids; `number_of(trial_id)` gives the folder's number); returns the
    folders whose state went. A state is a checkpoint of the model and its optimizer: one
    per trial left would fill the disk with a large model."""
    from keras_recipes.training.run_dir import STATE_DIR, drop_state

    kept = {f"{number_of(t):03d}" for t in keep}
    dropped = []
    for state in sorted(Path(trial_root).glob(f"*/{STATE_DIR}")):
        if state.parent.name not in kept and drop_state(state.parent):
            dropped.append(state.parent)
    return dropped
