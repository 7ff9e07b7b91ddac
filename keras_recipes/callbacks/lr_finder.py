"""`LRFinder`: the learning-rate range test, which leaves the model as it found it."""

from __future__ import annotations

import math
import os

import keras
import numpy as np

import keras_recipes.callbacks._common as _common

_SUGGESTION_METHODS = ("edge", "min_loss", "steepest")
# "edge": the loss has risen this much above its minimum where the sweep turns bad.
_EDGE_RISE = 0.1


class LRFinder(keras.callbacks.Callback):
    """Learning-rate range test (Smith, 2015): sweep the rate up, watch the loss.

    For `num_steps` batches the learning rate grows exponentially,

    ```
    lr_i = min_lr * (max_lr / min_lr) ** (i / (num_steps - 1)),   i = 0 .. num_steps - 1
    ```

    and each batch's loss is recorded. Training stops early when the loss diverges:
    when it is NaN/inf, or when its smoothed value exceeds `divergence_factor` times
    the best smoothed value so far. The smoothing is a bias-corrected exponential
    moving average, `avg_i = smoothing * avg_{i-1} + (1 - smoothing) * loss_i`,
    `smoothed_i = avg_i / (1 - smoothing ** (i + 1))`. The test assumes a positive
    loss.

    When training ends, the model weights and the whole optimizer state
    (`iterations`, the learning rate, every slot variable, and the loss-scale state
    under mixed precision) are set back exactly to what they were before the sweep,
    so the model can then be trained from where it was.

    `history` holds `"lr"`, `"loss"` (the batch's own loss) and `"smoothed_loss"`
    per batch; `suggestion()` proposes a `max_lr` for `OneCycleScheduler`, and
    `plot(path)` draws the loss against the learning rate. `LRFinder.find()` runs
    the whole test.

    The sweep is meant for one `fit()`; it needs a float learning rate (not a
    `LearningRateSchedule`). Keras logs a running mean of the loss, weighted by batch
    size, from which each batch's loss is recovered: with batches of equal size nothing
    more is needed; when each epoch ends with a smaller batch (`fit(x, y, batch_size)`
    on arrays, or a pipeline that keeps the remainder), give `batch_size` and
    `samples_per_epoch` so the recovery weighs the short batch by its size.

    Example:

    >>> import keras, numpy as np
    >>> from keras_recipes.callbacks import LRFinder
    >>> keras.utils.set_random_seed(0)
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(256, 8)).astype("float32")
    >>> y = x @ rng.normal(size=(8, 1)).astype("float32")
    >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer=keras.optimizers.SGD(momentum=0.9), loss="mse")
    >>> before = model.get_weights()
    >>> finder = LRFinder(min_lr=1e-4, max_lr=10.0, num_steps=40)
    >>> _ = model.fit(x, y, batch_size=8, epochs=2, callbacks=[finder], verbose=0)
    >>> len(finder.history["lr"]) < 40  # stopped when the loss diverged
    True
    >>> all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    True
    >>> 1e-3 < finder.suggestion() < 1.0
    True

    Args:
        min_lr: float. Learning rate of the first batch, > 0. Defaults to `1e-7`.
        max_lr: float. Learning rate of the last batch, > `min_lr`. Defaults to
            `10.0`.
        num_steps: int. Batches in the sweep, >= 2. Defaults to `100`.
        smoothing: float. Weight of the past in the loss average, in [0, 1).
            Defaults to `0.98`.
        divergence_factor: float. Stop when the smoothed loss exceeds this multiple
            of its best, > 1. Defaults to `4.0`.
        batch_size: int or None. The (global) batch size, >= 1, when an epoch's last
            batch can be smaller; give `samples_per_epoch` with it. Defaults to `None`
            (every batch the same size).
        samples_per_epoch: int or None. Samples in one epoch, >= 1; the last batch
            holds `samples_per_epoch % batch_size` of them when that is not 0.
            Defaults to `None`.
    """

    def __init__(
        self,
        min_lr: float = 1e-7,
        max_lr: float = 10.0,
        num_steps: int = 100,
        smoothing: float = 0.98,
        divergence_factor: float = 4.0,
        batch_size: int | None = None,
        samples_per_epoch: int | None = None,
    ):
        super().__init__()
        if (batch_size is None) != (samples_per_epoch is None):
            raise ValueError(
                "Arguments `batch_size` and `samples_per_epoch` go together: give both "
                "(an epoch's last batch may be smaller) or neither (equal batches). "
                f"Received: batch_size={batch_size}, samples_per_epoch={samples_per_epoch}"
            )
        self.batch_size = None
        self.samples_per_epoch = None
        if batch_size is not None:
            self.batch_size = _common.check_int("batch_size", batch_size, low=1)
            self.samples_per_epoch = _common.check_int(
                "samples_per_epoch", samples_per_epoch, low=1
            )
        self.min_lr = _common.check_real("min_lr", min_lr, low=0.0, low_open=True)
        self.max_lr = _common.check_real("max_lr", max_lr, low=0.0, low_open=True)
        if self.max_lr <= self.min_lr:
            raise ValueError(
                f"Argument `max_lr` must be > `min_lr`. Received: min_lr={min_lr}, max_lr={max_lr}"
            )
        self.num_steps = _common.check_int("num_steps", num_steps, low=2)
        self.smoothing = _common.check_real(
            "smoothing", smoothing, low=0.0, high=1.0, high_open=True
        )
        self.divergence_factor = _common.check_real(
            "divergence_factor", divergence_factor, low=1.0, low_open=True
        )
        self.history: dict[str, list[float]] = {"lr": [], "loss": [], "smoothed_loss": []}
        ratio = self.max_lr / self.min_lr
        # float32, as the optimizer's variable holds them, so `history["lr"]` is exact.
        self._lrs = (
            np.float32(
                [self.min_lr * ratio ** (i / (self.num_steps - 1)) for i in range(num_steps)]
            )
            .astype(np.float64)
            .tolist()
        )
        self._reset_sweep()

    def _reset_sweep(self) -> None:
        self._step = 0
        self._average = 0.0
        self._best_smoothed = math.inf
        self._previous_mean, self._previous_count = 0.0, 0
        self._saved_weights = None
        self._saved_optimizer_values = None
        self._lr_variable = None

    def on_train_begin(self, logs=None):
        self._reset_sweep()
        self.history = {"lr": [], "loss": [], "smoothed_loss": []}
        self._lr_variable = _common.learning_rate_variable(self.model, "LRFinder")
        if not self.model.built or not self.model.weights:
            raise ValueError(
                "LRFinder needs a built model, to save its weights before the sweep. "
                "Build it first, e.g. with keras.Input in the model or "
                "model.build(input_shape)."
            )
        optimizer = self.model.optimizer
        if not optimizer.built:
            # Without a distribution strategy the TF trainer builds the optimizer when
            # it traces the first step; its slots must exist now to be saved. This is
            # the build `fit()` itself does under a strategy.
            optimizer.build(self.model.trainable_variables)
        # Host copies of everything the sweep changes; under mixed precision the
        # LossScaleOptimizer's `variables` include its inner optimizer's.
        self._saved_weights = self.model.get_weights()
        self._saved_optimizer_values = [
            np.array(keras.ops.convert_to_numpy(v)) for v in self.model.optimizer.variables
        ]

    def on_train_batch_begin(self, batch, logs=None):
        if self._step < self.num_steps:
            self._lr_variable.assign(self._lrs[self._step])

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        if self._step >= self.num_steps or "loss" not in logs:
            self.model.stop_training = True
            return
        # Keras 3 reports in `logs["loss"]` the mean of the epoch so far, not the
        # batch's loss, each batch weighted by its size: after the first n samples
        # of the epoch mean_n = (b_1 loss_1 + ... + b_k loss_k) / n, so the samples
        # since the previous call (one batch, or `steps_per_execution` of them)
        # average (mean_n * n - mean_m * m) / (n - m). With equal batches, counting
        # batches instead of samples gives the same. `batch` (the last batch index)
        # and the mean both restart each epoch.
        mean = float(logs["loss"])
        count = self._samples_through(batch)
        loss = (mean * count - self._previous_mean * self._previous_count) / max(
            count - self._previous_count, 1
        )
        self._previous_mean, self._previous_count = mean, count

        self._average = self.smoothing * self._average + (1.0 - self.smoothing) * loss
        smoothed = self._average / (1.0 - self.smoothing ** (self._step + 1))
        self.history["lr"].append(self._lrs[self._step])
        self.history["loss"].append(loss)
        self.history["smoothed_loss"].append(smoothed)
        self._step += 1

        diverged = not math.isfinite(smoothed) or (
            self._step > 1 and smoothed > self.divergence_factor * self._best_smoothed
        )
        self._best_smoothed = min(self._best_smoothed, smoothed)
        if diverged or self._step >= self.num_steps:
            self.model.stop_training = True

    def _samples_through(self, batch: int) -> int:
        # Samples of the epoch up to and including batch index `batch`, or batches when
        # all batches are the same size (the weights then cancel out).
        if self.batch_size is None:
            return batch + 1
        return min((batch + 1) * self.batch_size, self.samples_per_epoch)

    def on_epoch_begin(self, epoch, logs=None):
        self._previous_mean, self._previous_count = 0.0, 0

    def on_train_end(self, logs=None):
        if self._saved_weights is None:
            return
        self.model.set_weights(self._saved_weights)
        for variable, value in zip(
            self.model.optimizer.variables, self._saved_optimizer_values, strict=True
        ):
            variable.assign(value)
        self._saved_weights = self._saved_optimizer_values = None

    def suggestion(self, method: str = "edge") -> float:
        """A maximum learning rate for the 1cycle policy, read off the smoothed loss.

        Args:
            method: str. `"edge"` (default): one tenth of the first learning rate after
                the lowest smoothed loss at which the smoothed loss is 10% above that
                lowest value, i.e. an order of magnitude below where training turns
                bad. Unlike `"min_loss"` it holds on a flat curve (a decay-dominated
                loss, say), whose minimum sits anywhere in the flat part; the first
                10% of the sweep is skipped, where the bias-corrected average rests on
                few batches. `"min_loss"`: the learning rate of the lowest
                smoothed loss divided by 10, one order of magnitude before the loss
                turns up (the usual 1cycle rule of thumb). `"steepest"`: the learning
                rate where the smoothed loss falls fastest against `log(lr)`, searched
                up to the lowest loss; in a short sweep the first smoothed values
                rest on few batches and their noise can win, pointing at a rate far
                too small, so check it against `plot()`.

        Returns:
            float. The suggested learning rate.
        """
        _common.check_choice("method", method, _SUGGESTION_METHODS)
        smoothed = np.asarray(self.history["smoothed_loss"], np.float64)
        lrs = np.asarray(self.history["lr"], np.float64)
        finite = np.isfinite(smoothed)
        if finite.sum() < 3:
            raise ValueError(
                "LRFinder.suggestion() needs at least 3 recorded batches with a finite "
                f"loss; it has {int(finite.sum())}. Run the sweep first "
                "(LRFinder.find(...) or model.fit(callbacks=[finder])), with more "
                "steps or a smaller min_lr."
            )
        smoothed, lrs = smoothed[finite], lrs[finite]
        if method == "edge":
            start = min(len(smoothed) - 1, max(1, len(smoothed) // 10))
            low = start + int(np.argmin(smoothed[start:]))
            risen = np.flatnonzero(smoothed[low:] > (1.0 + _EDGE_RISE) * smoothed[low])
            edge = low + int(risen[0]) if risen.size else len(smoothed) - 1
            return float(lrs[edge] / 10.0)
        best = int(np.argmin(smoothed))
        if method == "min_loss":
            return float(lrs[best] / 10.0)
        if best < 2:
            raise ValueError(
                "LRFinder.suggestion(method='steepest') found the lowest loss at the "
                "start of the sweep, so there is no descent to measure. Lower min_lr "
                "or use method='min_loss'."
            )
        slopes = np.gradient(smoothed[: best + 1], np.log(lrs[: best + 1]))
        return float(lrs[int(np.argmin(slopes))])

    def plot(self, path: str | os.PathLike) -> None:
        """Writes a PNG of the loss (raw and smoothed) against the learning rate, log x.

        Args:
            path: str or path-like. Where to write the PNG.
        """
        if not self.history["lr"]:
            raise ValueError(
                "LRFinder.plot() has nothing to draw: no batch has been recorded. Run "
                "the sweep first (LRFinder.find(...) or model.fit(callbacks=[finder]))."
            )
        # Figure + the Agg canvas directly: no pyplot, so no global backend switch.
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        figure = Figure(figsize=(6, 4))
        FigureCanvasAgg(figure)
        axes = figure.subplots()
        axes.plot(self.history["lr"], self.history["loss"], alpha=0.3, label="batch loss")
        axes.plot(self.history["lr"], self.history["smoothed_loss"], label="smoothed loss")
        axes.set_xscale("log")
        axes.set_xlabel("learning rate")
        axes.set_ylabel("loss")
        finite = [v for v in self.history["smoothed_loss"] if math.isfinite(v)]
        if finite:
            # The diverging tail would squash the interesting part of the curve.
            low, high = min(finite), min(max(finite), self.divergence_factor * min(finite))
            margin = 0.05 * (high - low) if high > low else abs(low) * 0.05 + 1e-12
            axes.set_ylim(low - margin, high + margin)
        axes.legend()
        figure.tight_layout()
        figure.savefig(os.fspath(path), format="png")

    def get_config(self) -> dict:
        return {
            "min_lr": self.min_lr,
            "max_lr": self.max_lr,
            "num_steps": self.num_steps,
            "smoothing": self.smoothing,
            "divergence_factor": self.divergence_factor,
            "batch_size": self.batch_size,
            "samples_per_epoch": self.samples_per_epoch,
        }

    @classmethod
    def find(
        cls,
        model: keras.Model,
        x,
        y=None,
        *,
        batch_size: int = 32,
        min_lr: float = 1e-7,
        max_lr: float = 10.0,
        num_steps: int = 100,
        smoothing: float = 0.98,
        divergence_factor: float = 4.0,
        shuffle: bool = True,
        seed: int | None = None,
        verbose: int | str = 0,
    ) -> LRFinder:
        """Runs the range test on a compiled model and returns the finder.

        The data are repeated as needed, so `num_steps` may exceed one epoch; the
        sweep runs as one `fit()` epoch of `num_steps` batches, so the batch losses
        are recovered exactly. The model and optimizer are left as they were.

        Example:

        >>> import keras, numpy as np
        >>> from keras_recipes.callbacks import LRFinder
        >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> x, y = np.ones((64, 8), "float32"), np.ones((64, 1), "float32")
        >>> finder = LRFinder.find(model, x, y, batch_size=16, num_steps=20, max_lr=1.0)
        >>> len(finder.history["lr"]) <= 20
        True

        Args:
            model: keras.Model. A compiled model.
            x: array, dict/tuple of arrays, or `tf.data.Dataset`. Inputs; a dataset
                yields batches of `(inputs, targets)` and is used as batched (make
                its batches equal-sized, e.g. `drop_remainder=True`).
            y: array or None. Targets, when `x` holds arrays.
            batch_size: int. Batch size for arrays, >= 1; the last partial batch is
                dropped. Defaults to `32`.
            min_lr: float. See `LRFinder`. Defaults to `1e-7`.
            max_lr: float. See `LRFinder`. Defaults to `10.0`.
            num_steps: int. See `LRFinder`. Defaults to `100`.
            smoothing: float. See `LRFinder`. Defaults to `0.98`.
            divergence_factor: float. See `LRFinder`. Defaults to `4.0`.
            shuffle: bool. Whether to shuffle arrays (every pass). Defaults to
                `True`.
            seed: int or None. Shuffle seed. Defaults to `None`.
            verbose: int or str. Passed to `fit()`. Defaults to `0`.

        Returns:
            LRFinder. The finder, with `history` filled.
        """
        import tensorflow as tf

        finder = cls(
            min_lr=min_lr,
            max_lr=max_lr,
            num_steps=num_steps,
            smoothing=smoothing,
            divergence_factor=divergence_factor,
        )
        if isinstance(x, tf.data.Dataset):
            if y is not None:
                raise ValueError(
                    "LRFinder.find() got a tf.data.Dataset as `x` and also `y`; a "
                    "dataset must yield (inputs, targets) itself. Received: y="
                    f"{type(y).__name__}"
                )
            dataset = x.repeat()
        else:
            batch_size = _common.check_int("batch_size", batch_size, low=1)
            data = x if y is None else (x, y)
            dataset = tf.data.Dataset.from_tensor_slices(data)
            num_samples = int(dataset.cardinality())
            if num_samples < batch_size:
                raise ValueError(
                    f"LRFinder.find() needs at least batch_size={batch_size} samples; "
                    f"received {num_samples}. Lower batch_size."
                )
            if shuffle:
                dataset = dataset.shuffle(num_samples, seed=seed, reshuffle_each_iteration=True)
            # Equal batches, so each batch loss is recovered exactly from the means.
            dataset = dataset.batch(batch_size, drop_remainder=True).repeat()
        model.fit(
            dataset,
            epochs=1,
            steps_per_epoch=num_steps,
            callbacks=[finder],
            shuffle=False,  # A dataset is not shuffled by fit(); this silences its warning.
            verbose=verbose,
        )
        return finder
