"""The chief's guard against dead workers and late results (`--trial-timeout`).

What keras-tuner 1.4.8 does on its own when a worker dies mid-trial: the trial stays in
`oracle.ongoing_trials` under the worker's tuner id, and the id stays in `oracle.tuner_ids`.

* Restarted with the same `KERASTUNER_TUNER_ID`, the worker gets that very trial back from
  `create_trial` and runs it again: nothing is lost.
* Never restarted, the trial stays "running" for ever: the other workers get STOPPED once
  the budget is handed out and leave, and the chief waits for ever (it exits only when no
  trial runs and every worker has left). keras-tuner's retry machinery (`_retry_queue`,
  `max_retries_per_trial`) only serves trials a worker *reported* as crashed (INVALID).

`WorkerWatch` adds what is missing, for every search (bo, random, grid, hyperband):

* With a time-out, a worker that has not asked for a trial for `trial_timeout` seconds is
  presumed dead. A live worker asks as soon as its trial ends (and every 0.25 s while it
  waits), so that is the time its current trial has been running. Its trial goes to
  keras-tuner's retry queue and the next worker that asks runs it; a trial that times
  out `TIMEOUT_ATTEMPTS` times is recorded as failed, with the reason.
* With a time-out, a worker that runs out of new trials while others still run one is told
  to wait (IDLE) instead of to stop, so someone is left to take over a dead worker's trial.
* Always: the first result of a trial wins. A late result (from a worker presumed dead
  that was only slow) for a trial that has ended is ignored, as is a second result for the
  same step, so no trial is recorded twice; a late result for a trial still waiting in the
  retry queue is taken, and the trial leaves the queue.
* Always: when keras-tuner stops the search after consecutive failed trials, its
  `end_trial` raises with the oracle's lock held, which would freeze the chief. Here the
  error is kept, every worker that asks is told to stop, and the chief raises it once the
  trials still running have ended (the CLI then exits 1 with the causes).

Limits: a worker presumed dead that was only slow may find the chief gone when it reports
(keras-tuner's client then retries for up to an hour; its result was a duplicate anyway),
and so does a worker that first connects after the search has ended.
"""

from __future__ import annotations

import collections
import sys
import time
from collections.abc import Callable

from keras_tuner import synchronized
from keras_tuner.engine.trial import Trial, TrialStatus

from keras_recipes import _compat
from keras_recipes.errors import ConfigError
from keras_recipes.tuning.engine.recorder import trial_number

#: A trial that times out this many times (on as many workers) is recorded as failed.
TIMEOUT_ATTEMPTS = 3


def check_trial_timeout(seconds: float | None) -> float | None:
    """`seconds` as a float, or None (off); anything not > 0 is a ConfigError.

    Example:

    >>> check_trial_timeout(None), check_trial_timeout(600)
    (None, 600.0)
    """
    if seconds is None:
        return None
    value = float(seconds)
    if not 0 < value < float("inf"):
        raise ConfigError(f"--trial-timeout must be a number of seconds > 0; got {seconds!r}.")
    return value


class WorkerWatch:
    """Hands out trials, takes results and re-queues the trials of dead workers (chief).

    The chief's gRPC servicer calls `create_trial`, `update_trial` and `end_trial` instead
    of the oracle's; the chief's loop calls `expire` every poll. All of them hold the
    oracle's lock (keras-tuner's `synchronized`).

    Example:

    >>> import keras_tuner, tempfile
    >>> from keras_recipes.tuning.bo.oracle import BayesOptOracle
    >>> oracle = BayesOptOracle(keras_tuner.Objective("f", "max"), {"x": (0.0, 1.0)},
    ...                         init_points=1, n_iter=0)
    >>> from keras_recipes import _compat
    >>> _compat.set_project_dir(oracle, tempfile.mkdtemp(), "project")
    >>> oracle.verbose = 0
    >>> now = [0.0]
    >>> watch = WorkerWatch(oracle, trial_timeout=5, clock=lambda: now[0], log=print)
    >>> watch.create_trial("tuner0").trial_id  # the whole budget: one trial
    '0'
    >>> now[0] = 3.0
    >>> watch.create_trial("tuner1").status  # wait: trial 1 may need a new worker
    'IDLE'
    >>> now[0] = 6.0
    >>> watch.expire()
    chief: worker tuner0 sent nothing for 5 s (--trial-timeout) and is presumed dead; \
its trial 1 goes to the next worker that asks (time-out 1 of 3)
    >>> watch.create_trial("tuner1").trial_id
    '0'

    Args:
        oracle: keras_tuner.Oracle. The chief's oracle.
        trial_timeout: float or None. Seconds without a request before a worker is
            presumed dead; None: never (keras-tuner's behaviour, plus the late-result rule).
        clock: callable. Seconds, monotonic (tests pass a fake one).
        log: callable(str). Where the chief's notes go (default: stderr).
    """

    def __init__(
        self,
        oracle,
        trial_timeout: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        log: Callable[[str], None] | None = None,
    ):
        self.oracle = oracle
        self.trial_timeout = check_trial_timeout(trial_timeout)
        self.clock = clock
        self.log = log or _to_stderr
        #: tuner id -> when it last asked for a trial.
        self.last_seen: dict[str, float] = {}
        #: trial id -> how many times it timed out.
        self.timeouts: collections.Counter[str] = collections.Counter()
        #: trial ids whose late or second result was ignored.
        self.ignored: list[str] = []
        #: keras-tuner's "Number of consecutive failures" error, once raised.
        self.error: RuntimeError | None = None

    def create_trial(self, tuner_id: str) -> Trial:
        """The oracle's `create_trial`, but IDLE instead of STOPPED while a trial that may
        need a new worker still runs (with a time-out)."""
        return _create_trial(self.oracle, self, tuner_id)

    def update_trial(self, trial_id: str, metrics, step: int = 0) -> Trial:
        """The oracle's `update_trial`, unless the trial has ended or has this step already."""
        return _update_trial(self.oracle, self, trial_id, metrics, step)

    def end_trial(self, trial: Trial) -> bool:
        """The oracle's `end_trial`, unless the trial has ended; True if it was taken.

        When keras-tuner stops the search (consecutive failed trials), its error is kept in
        `self.error` (see `_end`): every worker is then told to stop, and the chief raises
        it once the trials still running have ended.
        """
        return _end_trial(self.oracle, self, trial)

    def expire(self) -> None:
        """Presumes dead the workers silent for longer than the time-out; re-queues (or, on
        the last attempt, fails) their trials. The chief's loop calls it every poll."""
        if self.trial_timeout is not None:
            _expire(self.oracle, self, self.clock())


# keras-tuner's `synchronized` takes the lock of its first argument, the oracle, and lets
# the oracle's own (synchronized) methods run inside without taking it again.


@synchronized
def _create_trial(oracle, watch: WorkerWatch, tuner_id: str) -> Trial:
    if watch.error is not None:
        # The search has stopped: no new trials, and this worker may leave.
        oracle.tuner_ids.discard(tuner_id)
        watch.last_seen.pop(tuner_id, None)
        return Trial(oracle.get_space(), status=TrialStatus.STOPPED)
    trial = oracle.create_trial(tuner_id)
    watch.last_seen[tuner_id] = watch.clock()
    if trial.status != TrialStatus.STOPPED:
        return trial
    if watch.trial_timeout is not None and oracle.ongoing_trials:
        # create_trial let this worker go; keep it, it may have to take over a trial.
        oracle.tuner_ids.add(tuner_id)
        return Trial(oracle.get_space(), trial_id=trial.trial_id, status=TrialStatus.IDLE)
    watch.last_seen.pop(tuner_id, None)
    return trial


@synchronized
def _update_trial(oracle, watch: WorkerWatch, trial_id: str, metrics, step: int) -> Trial:
    trial = oracle.trials[trial_id]
    name = oracle.objective.name
    reported = trial.metrics.exists(name) and any(
        obs.step == step for obs in trial.metrics.get_history(name)
    )
    if trial_id in oracle.end_order or reported:
        _ignore(watch, trial_id)
        return trial
    return oracle.update_trial(trial_id, metrics, step=step)


@synchronized
def _end_trial(oracle, watch: WorkerWatch, trial: Trial) -> bool:
    trial_id = trial.trial_id
    if trial_id in oracle.end_order:
        _ignore(watch, trial_id)
        return False
    if trial_id in _compat.retry_queue(oracle):
        # Its worker was presumed dead but was only slow: take the result, run it no more.
        _compat.retry_queue(oracle).remove(trial_id)
    _end(oracle, watch, trial)
    return True


def _end(oracle, watch: WorkerWatch, trial: Trial) -> None:
    # keras-tuner's end_trial records the trial, then raises "Number of consecutive
    # failures" with the oracle's lock still held (`synchronized` has no try/finally), so
    # raising through a gRPC call would freeze the chief, whose loop waits for that lock.
    try:
        oracle.end_trial(trial)
    except RuntimeError as err:
        if not str(err).startswith("Number of consecutive failures"):
            raise
        watch.error = watch.error or err
        # What end_trial skipped by raising: the trial leaves the running ones, and is saved.
        for tuner_id, running in list(oracle.ongoing_trials.items()):
            if running.trial_id == trial.trial_id:
                del oracle.ongoing_trials[tuner_id]
        _compat.save_trial(oracle, oracle.trials[trial.trial_id])
        oracle.save()


@synchronized
def _expire(oracle, watch: WorkerWatch, now: float) -> None:
    timeout = watch.trial_timeout
    for tuner_id in sorted(set(oracle.tuner_ids) | set(oracle.ongoing_trials)):
        # A worker the chief has not heard from in this process starts its clock now.
        if now - watch.last_seen.setdefault(tuner_id, now) < timeout:
            continue
        del watch.last_seen[tuner_id]
        oracle.tuner_ids.discard(tuner_id)
        trial = oracle.ongoing_trials.pop(tuner_id, None)
        silent = f"chief: worker {tuner_id} sent nothing for {timeout:g} s (--trial-timeout)"
        if trial is None:
            watch.log(f"{silent} and is presumed gone")
            continue
        number = trial_number(trial.trial_id)
        watch.timeouts[trial.trial_id] += 1
        count = watch.timeouts[trial.trial_id]
        if count < TIMEOUT_ATTEMPTS:
            # keras-tuner's retry queue: the next create_trial, from any worker, takes it.
            _compat.retry_queue(oracle).append(trial.trial_id)
            oracle.save()
            watch.log(
                f"{silent} and is presumed dead; its trial {number} goes to the next worker "
                f"that asks (time-out {count} of {TIMEOUT_ATTEMPTS})"
            )
            continue
        trial.status = TrialStatus.FAILED
        trial.message = (
            f"TrialTimeout: trial {number} had no result within --trial-timeout {timeout:g} s "
            f"on {count} workers in turn (last: {tuner_id}); recorded as failed. Raise "
            "--trial-timeout above the longest trial if the workers were alive."
        )
        watch.log(f"{silent}; trial {number} timed out {count} times and is recorded as failed")
        _end(oracle, watch, trial)


def _ignore(watch: WorkerWatch, trial_id: str) -> None:
    watch.ignored.append(trial_id)
    watch.log(
        f"chief: ignored a late result for trial {trial_number(trial_id)} (its first result "
        "is kept; a worker presumed dead was only slow, or a trial ran twice)"
    )


def _to_stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def make_servicer(oracle, watch: WorkerWatch):
    """keras-tuner's `OracleServicer` for `oracle`, with trials handed out and results
    taken through `watch`."""
    service = _compat.keras_tuner_protos().get_service()

    class WatchedServicer(_compat.oracle_chief().OracleServicer):
        def CreateTrial(self, request, context):
            trial = watch.create_trial(request.tuner_id)
            if trial.status == TrialStatus.STOPPED:
                self.stop_triggered = True
            return service.CreateTrialResponse(trial=trial.to_proto())

        def UpdateTrial(self, request, context):
            trial = watch.update_trial(request.trial_id, request.metrics, step=request.step)
            return service.UpdateTrialResponse(trial=trial.to_proto())

        def EndTrial(self, request, context):
            watch.end_trial(Trial.from_proto(request.trial))
            return service.EndTrialResponse()

    return WatchedServicer(oracle)
