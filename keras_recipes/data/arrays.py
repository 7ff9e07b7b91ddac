"""Data that are not images, for your own model: `ArrayBundle` (arrays `(x, y)`, split and
batched by the toolkit) and `DatasetBundle` (your `tf.data` pair, used as it is).

Both have the attributes `train()` reads from a `DataBundle` (`train_from`, `val`, `test`,
`input_shape`, `class_names`, `num_train`, `steps_per_epoch`, `describe`,
`with_settings`), without the image pipeline: no crop, flip or normalisation.

The rule (`is_image_batch`): arrays whose `x` is 4-D, (N, H, W, C), are images and go
through the image pipeline; any other `x` ((N, features), (N, steps, features), ...) is
not. A 3-D `x` with no model of your own stays grayscale images (N, H, W) for AlexNet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tensorflow as tf

from keras_recipes.data.pipeline import AUTOTUNE, row_reader
from keras_recipes.data.split import Split, stratified_split
from keras_recipes.errors import ConfigError, DataError


def is_image_batch(data: Any, own_model: bool) -> bool:
    """Whether arrays `(x, y)` are images (see the module's rule); True for other specs.

    Example:

    >>> x = np.zeros((10, 20))
    >>> is_image_batch((x, np.zeros(10)), own_model=True), is_image_batch("demo", True)
    (False, True)
    """
    if not isinstance(data, tuple) or len(data) != 2 or isinstance(data[0], tf.data.Dataset):
        return not is_dataset_pair(data)
    ndim = np.ndim(data[0])
    return ndim == 4 or (ndim == 3 and not own_model)


def is_dataset_pair(data: Any) -> bool:
    """Whether `data` is a `(train_ds, val_ds)` pair of tf.data datasets."""
    return (
        isinstance(data, tuple)
        and len(data) == 2
        and all(isinstance(d, tf.data.Dataset) for d in data)
    )


@dataclass(frozen=True, eq=False)  # holds arrays: compare by identity
class ArrayBundle:
    """Arrays `(x, y)` split (seeded, stratified: `stratified_split`) and batched.

    `train_from(e)` is an endless stream of epochs, epoch e shuffled by (seed, e) alone, so
    a resumed run sees the batches an uninterrupted one does. `x` is fed as float32, as it
    is: standardise it yourself (SELU needs mean 0, std 1).

    Example:

    >>> x = np.random.default_rng(0).normal(size=(50, 20))
    >>> bundle = ArrayBundle.of(x, np.arange(50) % 2, batch_size=8)
    >>> bundle.input_shape, bundle.num_train, bundle.num_val, bundle.num_test
    ((20,), 34, 10, 6)
    >>> [tuple(b.shape) for b, _ in bundle.train_from(0).take(5)][-1]
    (2, 20)
    """

    x: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    split: Split
    class_names: tuple[str, ...]
    batch_size: int
    seed: int
    val_fraction: float = 0.2
    test_fraction: float = 0.1

    @classmethod
    def of(
        cls,
        x: Any,
        y: Any,
        *,
        batch_size: int,
        seed: int = 0,
        val_fraction: float = 0.2,
        test_fraction: float = 0.1,
    ) -> ArrayBundle:
        """Checks and splits arrays: x (N, ...) numbers, y (N,) integers 0..K-1."""
        x, y = np.asarray(x), np.asarray(y)
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool) or x.ndim < 2:
            raise DataError(
                f"Array data x must be numbers of shape (N, features...); got shape "
                f"{x.shape}, dtype {x.dtype}."
            )
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1 or len(y) != len(x) or not np.all(y == np.round(y)) or y.min() < 0:
            raise DataError(
                f"Labels y must be integers 0..K-1 of shape (N,) with N = {len(x)}; got shape "
                f"{y.shape}, dtype {y.dtype}. The loss is sparse categorical cross-entropy."
            )
        y = y.astype(np.int32)
        names = tuple(str(i) for i in range(int(y.max()) + 1))
        split = stratified_split(y, val_fraction, test_fraction, seed, names)
        return cls(x.astype(np.float32), y, split, names, batch_size, seed, val_fraction,
                   test_fraction)  # fmt: skip

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One example's shape."""
        return tuple(int(n) for n in self.x.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_train(self) -> int:
        return len(self.split.train)

    @property
    def num_val(self) -> int:
        return len(self.split.val)

    @property
    def num_test(self) -> int:
        return len(self.split.test)

    @property
    def steps_per_epoch(self) -> int:
        return -(-self.num_train // self.batch_size)

    @property
    def train(self) -> tf.data.Dataset:
        return self.train_from(0)

    def train_from(self, epoch: int) -> tf.data.Dataset:
        """The training stream from `epoch` (0-based), as an uninterrupted run sees it."""
        rows = tf.constant(self.split.train.astype(np.int32))

        def one_epoch(number: tf.Tensor) -> tf.data.Dataset:
            key = tf.stack([tf.constant(self.seed, tf.int64), number])
            order = tf.random.experimental.stateless_shuffle(rows, seed=key)
            return tf.data.Dataset.from_tensor_slices(order).batch(self.batch_size)

        dataset = tf.data.Dataset.range(epoch, np.iinfo(np.int64).max).flat_map(one_epoch)
        return self._read(dataset)

    @property
    def val(self) -> tf.data.Dataset:
        return self._in_order(self.split.val)

    @property
    def test(self) -> tf.data.Dataset | None:
        return self._in_order(self.split.test) if len(self.split.test) else None

    def _in_order(self, rows: np.ndarray) -> tf.data.Dataset:
        batches = tf.data.Dataset.from_tensor_slices(rows.astype(np.int32))
        return self._read(batches.batch(self.batch_size))

    def _read(self, batches: tf.data.Dataset) -> tf.data.Dataset:
        read = row_reader(self.x)
        labels = tf.constant(self.y)
        loaded = batches.map(
            lambda rows: (read(rows), tf.gather(labels, rows)),
            num_parallel_calls=AUTOTUNE,
            deterministic=True,
        )
        return loaded.prefetch(AUTOTUNE)

    def with_settings(self, *, batch_size=None, preprocessing=None, seed=None) -> ArrayBundle:
        """Another batch size or shuffling seed; the split stays (`preprocessing` is for
        images and is ignored)."""
        return ArrayBundle(
            self.x, self.y, self.split, self.class_names,
            self.batch_size if batch_size is None else batch_size,
            self.seed if seed is None else seed, self.val_fraction, self.test_fraction,
        )  # fmt: skip

    def describe(self) -> dict[str, Any]:
        """A JSON-serialisable description, written into every run directory."""
        return {
            "source": f"arrays{tuple(self.x.shape)}",
            "layout": "arrays (not images)",
            "class_names": list(self.class_names),
            "num_train": self.num_train,
            "num_val": len(self.split.val),
            "num_test": len(self.split.test),
            "counts": self.split.counts(self.y, self.class_names),
            "input_shape": list(self.input_shape),
            "batch_size": self.batch_size,
            "seed": self.seed,
            "val_fraction": self.val_fraction,
            "test_fraction": self.test_fraction,
        }


@dataclass(frozen=True, eq=False)
class DatasetBundle:
    """Your `(train_ds, val_ds)` tf.data pair, already batched, used as it is.

    One pass over `train_ds` counts its batches, examples and classes (labels 0..K-1).
    Each epoch is one pass over it (`train_ds.repeat()`); a resumed run skips the epochs
    done, so it repeats exactly when `train_ds` is deterministic (a seeded shuffle).
    The recipe's batch size does not apply: the batches are yours.

    Example:

    >>> x = np.random.default_rng(0).normal(size=(12, 3)).astype("float32")
    >>> ds = tf.data.Dataset.from_tensor_slices((x, np.arange(12) % 3)).batch(5)
    >>> bundle = DatasetBundle.of(ds, ds)
    >>> bundle.input_shape, bundle.class_names, bundle.num_train, bundle.steps_per_epoch
    ((3,), ('0', '1', '2'), 12, 3)
    """

    train_ds: tf.data.Dataset = field(repr=False)
    val: tf.data.Dataset = field(repr=False)
    input_shape: tuple[int, ...]
    class_names: tuple[str, ...]
    num_train: int
    steps_per_epoch: int
    test = None

    @classmethod
    def of(cls, train_ds: tf.data.Dataset, val_ds: tf.data.Dataset) -> DatasetBundle:
        """Reads `train_ds` once for its shape, size and classes."""
        spec = train_ds.element_spec
        if not (isinstance(spec, tuple) and len(spec) == 2):
            raise DataError(
                f"train_ds must yield (x, y) batches; its elements are {spec}. Build it with "
                "tf.data.Dataset.from_tensor_slices((x, y)).batch(n)."
            )
        steps = examples = top = 0
        for _, labels in train_ds:
            steps += 1
            examples += int(tf.shape(labels)[0])
            top = max(top, int(tf.reduce_max(labels)))
        if steps == 0:
            raise DataError("train_ds yields no batches.")
        shape = tuple(spec[0].shape[1:])
        if spec[0].shape.rank is None or None in shape:
            raise DataError(f"train_ds's x must have a known shape per example; got {spec[0]}.")
        names = tuple(str(i) for i in range(top + 1))
        return cls(train_ds, val_ds, tuple(int(n) for n in shape), names, examples, steps)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def train(self) -> tf.data.Dataset:
        return self.train_from(0)

    def train_from(self, epoch: int) -> tf.data.Dataset:
        """Endless passes over `train_ds`, from pass `epoch` on."""
        return self.train_ds.repeat().skip(epoch * self.steps_per_epoch)

    def with_settings(self, **_: Any) -> DatasetBundle:
        """The same pair: the batch size and seed are the datasets' own."""
        return self

    def describe(self) -> dict[str, Any]:
        """A JSON-serialisable description, written into every run directory."""
        return {
            "source": "tf.data",
            "layout": "tf.data pair (train, val), used as given",
            "class_names": list(self.class_names),
            "num_train": self.num_train,
            "steps_per_epoch": self.steps_per_epoch,
            "input_shape": list(self.input_shape),
        }


def non_image_bundle(data: Any, *, own_model: bool, batch_size: int, seed: int):
    """An ArrayBundle or DatasetBundle for data that are not images, else None (images,
    or a bundle already built: see `train()`).

    Raises:
        ConfigError: such data without a model of your own (AlexNet needs images).
    """
    if isinstance(data, ArrayBundle | DatasetBundle):
        return data.with_settings(batch_size=batch_size, seed=seed)
    if is_image_batch(data, own_model):
        return None
    if not own_model:
        raise ConfigError(
            "These data are not images (x of shape "
            f"{_shape_of(data)}), so the default AlexNet cannot train on them: pass your own "
            "model, train(recipe, data, model=build) with build(input_shape, num_classes) "
            "-> keras.Model."
        )
    if is_dataset_pair(data):
        return DatasetBundle.of(*data)
    return ArrayBundle.of(data[0], data[1], batch_size=batch_size, seed=seed)


def _shape_of(data: Any) -> str:
    if is_dataset_pair(data):
        return f"{tuple(data[0].element_spec[0].shape)}, a tf.data pair"
    return str(np.shape(data[0]))
