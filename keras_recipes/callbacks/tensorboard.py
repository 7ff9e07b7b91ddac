"""`RunTensorBoard`: Keras's TensorBoard callback plus what a training run needs beside it.

Keras's `keras.callbacks.TensorBoard` writes every epoch's logs (loss, accuracy, the
validation metrics under `validation/`, the learning rate) and the model graph. This
subclass adds only what it lacks:

- `epoch_images_per_second` (training images/s, validation excluded) and, when a
  `OneCycleScheduler` cycles it, `epoch_momentum` (or `epoch_beta_1` for Adam's family);
- `batch_learning_rate` and `batch_momentum` of every step of a 1cycle schedule, taken
  from the scheduler's own record at the epoch's end (no device read per batch);
- a flush of the writers at every epoch's end, so what an epoch wrote is on disk before
  `BackupAndRestore` commits that epoch's checkpoint.

A resumed run appends to the same folders without repeating a step: `trim_event_files`
rewrites the event files before training continues, dropping whatever was written after
the checkpoint's epoch (a kill between this callback's write and the checkpoint leaves
one such epoch). Steps are Keras's: epoch summaries at step `epoch` (0-based), per-batch
ones at the optimizer step (0-based).
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import pandas as pd

import keras_recipes.callbacks._common as _common

#: Keras's sub-folders of a TensorBoard log folder (train and validation writers).
WRITER_DIRS = ("train", "validation")
_EVENT_PREFIX = "events.out.tfevents."


class RunTensorBoard(keras.callbacks.TensorBoard):
    """`keras.callbacks.TensorBoard` with throughput, momentum and per-batch 1cycle values.

    Place it after the callbacks that add to the logs (learning rate, `ThroughputMeter`)
    and before `BackupAndRestore`.

    Example:

    >>> import tempfile, numpy as np
    >>> from keras_recipes.callbacks import OneCycleScheduler, ThroughputMeter
    >>> from keras_recipes.optimizers import SGD
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile(SGD(momentum=0.9), "mse")
    >>> meter, one_cycle = ThroughputMeter(batch_size=2), OneCycleScheduler(0.1)
    >>> log_dir = tempfile.mkdtemp()
    >>> board = RunTensorBoard(log_dir, meter=meter, one_cycle=one_cycle)
    >>> _ = model.fit(np.ones((4, 2)), np.ones((4, 1)), batch_size=2, epochs=2, verbose=0,
    ...               callbacks=[one_cycle, meter, board])
    >>> scalars = read_scalars(log_dir)
    >>> scalars[scalars.tag == "batch_momentum"].step.tolist()
    [0, 1, 2, 3]
    >>> sorted(set(scalars[scalars.run == "train"].tag) - {"batch_learning_rate"})
    ['batch_momentum', 'epoch_images_per_second', 'epoch_learning_rate', 'epoch_loss', \
'epoch_momentum']

    Args:
        log_dir: str or path. The run's TensorBoard folder (`train/`, `validation/` inside).
        meter: ThroughputMeter or None. Its training time and image count give each
            epoch's images/s.
        one_cycle: OneCycleScheduler or None. Its per-step record gives the per-batch
            learning rate and momentum, and the epoch's last momentum.
        write_graph: bool. Write the model graph (Keras does it for Functional and
            Sequential models); a resumed run passes False, its graph is already there.
    """

    def __init__(self, log_dir, *, meter=None, one_cycle=None, write_graph: bool = True):
        super().__init__(log_dir=str(log_dir), write_graph=write_graph)
        self.meter = meter
        self.one_cycle = one_cycle
        self._seen = (0, 0.0)
        self._batches_written = 0

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.meter is not None:
            self._seen = (self.meter.examples, self.meter.seconds)
        if self.one_cycle is not None:
            # A resumed scheduler's record already holds the steps of the earlier epochs.
            self._batches_written = len(self.one_cycle.history["step"])

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        with self._train_writer.as_default():
            for tag, value in self._epoch_extras().items():
                self.summary.scalar(tag, value, step=epoch)
            self._write_batches()
        # On disk before BackupAndRestore commits the epoch: a kill after the commit
        # loses nothing that the resumed run will not write again.
        for writer in self._writers.values():
            writer.flush()

    def _epoch_extras(self) -> dict[str, float]:
        extras = {}
        if self.meter is not None:
            examples, seconds = self.meter.examples, self.meter.seconds
            if seconds > self._seen[1]:
                rate = (examples - self._seen[0]) / (seconds - self._seen[1])
                extras["epoch_images_per_second"] = rate
            self._seen = (examples, seconds)
        history = self.one_cycle.history if self.one_cycle is not None else {}
        if history.get("momentum"):
            extras[f"epoch_{self._momentum_name()}"] = history["momentum"][-1]
        return extras

    def _write_batches(self) -> None:
        if self.one_cycle is None:
            return
        history = self.one_cycle.history
        momentum = f"batch_{self._momentum_name()}"
        for index in range(self._batches_written, len(history["step"])):
            step = history["step"][index]
            self.summary.scalar("batch_learning_rate", history["lr"][index], step=step)
            if "momentum" in history:
                self.summary.scalar(momentum, history["momentum"][index], step=step)
        self._batches_written = len(history["step"])

    def _momentum_name(self) -> str:
        # "momentum" for SGD, "beta_1" for Adam, Nadam and AdamW (keras_recipes.optimizers).
        optimizer = _common.inner_optimizer(self.model.optimizer)
        return getattr(optimizer, "_momentum_arg", "momentum")

    def close(self) -> None:
        """Flushes and closes the writers (after an interrupted `fit()`, which skips
        `on_train_end`)."""
        self._close_writers()


def log_dir_for(run_dir: str | Path | None, tensorboard: bool | str | Path) -> Path | None:
    """Where `train(run_dir=..., tensorboard=...)` writes its logs, or None for nowhere.

    Example:

    >>> log_dir_for("runs/a", True), log_dir_for("runs/a", False), log_dir_for(None, True)
    (PosixPath('runs/a/tensorboard'), None, None)
    >>> log_dir_for("runs/cmp/relu/seed0", "runs/cmp/tensorboard/relu/seed0")
    PosixPath('runs/cmp/tensorboard/relu/seed0')
    """
    if tensorboard is False or tensorboard is None:
        return None
    if tensorboard is True:
        return None if run_dir is None else Path(run_dir) / "tensorboard"
    return Path(tensorboard)


def resumable_tensorboard(
    log_dir: str | Path,
    *,
    epochs_done: int,
    steps_per_epoch: int,
    meter=None,
    callbacks=(),
) -> RunTensorBoard:
    """A `RunTensorBoard` for a run that starts (or resumes) after `epochs_done` epochs.

    Trims what `log_dir` holds beyond that point first (`trim_event_files`); the 1cycle
    scheduler among `callbacks`, if any, gives the per-batch values.
    """
    from keras_recipes.callbacks.one_cycle import OneCycleScheduler

    trim_event_files(log_dir, epochs_done, epochs_done * steps_per_epoch)
    one_cycle = next((cb for cb in callbacks if isinstance(cb, OneCycleScheduler)), None)
    return RunTensorBoard(log_dir, meter=meter, one_cycle=one_cycle, write_graph=not epochs_done)


def trim_event_files(log_dir: str | Path, epochs_done: int, steps_done: int) -> int:
    """Drops what a run wrote after its checkpoint, so the resumed run appends cleanly.

    In `log_dir/train` and `log_dir/validation`, each event file is rewritten keeping the
    epoch summaries (`epoch_*`) of steps below `epochs_done`, the per-batch ones
    (`batch_*`) below `steps_done`, Keras's `evaluation_*_vs_iterations` up to
    `steps_done`, and the graphs only when `epochs_done > 0` (a fresh start writes them
    again). A file left with nothing is removed. With `epochs_done=0` the folders are
    emptied: a run restarted from scratch starts its logs from scratch.

    Written by hand because TensorBoard only hides such steps when it reads (its
    "orphaned data" purge, which the Rust data server does not do) and neither Keras nor
    TensorFlow rewrites event files.

    Example:

    >>> import tempfile, tensorflow as tf
    >>> log_dir = Path(tempfile.mkdtemp())
    >>> with tf.summary.create_file_writer(str(log_dir / "train")).as_default():
    ...     for epoch in range(3):
    ...         _ = tf.summary.scalar("epoch_loss", 1.0 / (epoch + 1), step=epoch)
    >>> trim_event_files(log_dir, epochs_done=2, steps_done=20)
    1
    >>> read_scalars(log_dir).step.tolist()
    [0, 1]

    Args:
        log_dir: str or path. The run's TensorBoard folder.
        epochs_done: int. Epochs the checkpoint holds.
        steps_done: int. Optimizer steps the checkpoint holds.

    Returns:
        int. The number of events dropped.
    """
    import tensorflow as tf
    from tensorboard.backend.event_processing import event_file_loader

    dropped = 0
    for path in _event_files(log_dir):
        kept, removed = [], 0
        for event in event_file_loader.LegacyEventFileLoader(str(path)).Load():
            if _keep(event, epochs_done, steps_done):
                kept.append(event)
            else:
                removed += 1
        if not removed:
            continue
        dropped += removed
        if all(event.HasField("file_version") for event in kept):
            path.unlink()
            continue
        tmp = path.with_name(f".{path.name}.tmp")
        with tf.io.TFRecordWriter(str(tmp)) as writer:
            for event in kept:
                writer.write(event.SerializeToString())
        os.replace(tmp, path)  # readers see the old file or the new one
    return dropped


def _event_files(log_dir: str | Path) -> list[Path]:
    root = Path(log_dir)
    return sorted(
        path
        for sub in WRITER_DIRS
        if (root / sub).is_dir()
        for path in (root / sub).iterdir()
        if path.name.startswith(_EVENT_PREFIX)
    )


def _keep(event, epochs_done: int, steps_done: int) -> bool:
    if event.HasField("file_version"):
        return True
    if event.HasField("summary"):
        values = list(event.summary.value)
        kept = [v for v in values if _keep_tag(v.tag, event.step, epochs_done, steps_done)]
        if len(kept) == len(values):
            return True
        del event.summary.value[:]
        event.summary.value.extend(kept)
        return bool(kept)
    # graph_def, meta_graph_def, tagged_run_metadata: written at the start of a run.
    return epochs_done > 0


def _keep_tag(tag: str, step: int, epochs_done: int, steps_done: int) -> bool:
    if tag.startswith("epoch_"):
        return step < epochs_done
    if tag.startswith("batch_"):
        return step < steps_done
    if tag.startswith("evaluation_"):
        return step <= steps_done
    return epochs_done > 0  # Keras's model summary ("keras"), written at step 0


def read_scalars(log_dir: str | Path) -> pd.DataFrame:
    """Every scalar under `log_dir`, read back with TensorBoard's own reader.

    Example:

    >>> import tempfile, tensorflow as tf
    >>> log_dir = tempfile.mkdtemp()
    >>> with tf.summary.create_file_writer(log_dir + "/a/train").as_default():
    ...     _ = tf.summary.scalar("epoch_loss", 0.5, step=0)
    >>> read_scalars(log_dir).to_dict("records")
    [{'run': 'a/train', 'tag': 'epoch_loss', 'step': 0, 'value': 0.5}]

    Returns:
        pandas.DataFrame with columns run (the folder relative to `log_dir`, "." for
        `log_dir` itself), tag, step, value; sorted by run, tag and step.
    """
    from tensorboard.backend.event_processing import event_multiplexer
    from tensorboard.util import tensor_util

    multiplexer = event_multiplexer.EventMultiplexer(
        size_guidance={"tensors": 0, "scalars": 0},  # 0: keep every event, no sampling
        purge_orphaned_data=False,  # report what is on disk, repeated steps included
    )
    multiplexer.AddRunsFromDirectory(str(log_dir))
    multiplexer.Reload()
    rows = []
    for run, content in multiplexer.Runs().items():
        for tag in content.get("tensors", []):
            for event in multiplexer.Tensors(run, tag):
                value = tensor_util.make_ndarray(event.tensor_proto)
                if value.ndim == 0 and value.dtype.kind == "f":
                    rows.append({"run": run, "tag": tag, "step": event.step, "value": float(value)})
        for tag in content.get("scalars", []):
            for event in multiplexer.Scalars(run, tag):
                rows.append({"run": run, "tag": tag, "step": event.step, "value": event.value})
    frame = pd.DataFrame(rows, columns=["run", "tag", "step", "value"])
    return frame.sort_values(["run", "tag", "step"], kind="stable").reset_index(drop=True)
