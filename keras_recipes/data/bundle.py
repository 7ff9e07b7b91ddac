"""`DataBundle`: the split, statistics and tf.data pipelines built from decoded images."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tensorflow as tf

import keras_recipes.data.pipeline as pipeline
from keras_recipes.data.decode import DecodedImages, resize_size_for
from keras_recipes.data.heap import return_large_buffers
from keras_recipes.data.split import Split, channel_stats, moment_stats, stratified_split
from keras_recipes.data.tta import NUM_CROPS
from keras_recipes.errors import ConfigError, DataError


@dataclass(frozen=True, eq=False)  # holds arrays: compare by identity
class DataBundle:
    """Everything `fit()` needs from a data source, decoded once.

    `train` is an endless stream of shuffled, augmented (random crop + horizontal flip)
    epochs of `steps_per_epoch` batches (epoch e is a function of the seed and e alone,
    see `train_from`); `val` and `test`
    are centre crops; `val_full` and `test_full` are the whole `resize_size` images for
    10-crop test-time augmentation (`evaluate_tta`), in batches of `ceil(batch_size / 10)`
    images, so that a batch's ten crops are about one training batch. All yield (float32 images,
    int32 labels) batches, normalised with the training split's statistics.

    Build one with `load_data` (or `build_pipelines` from decoded images); change the
    batch size, preprocessing or shuffling seed with `with_settings`, which re-uses the
    decoded images and the split.

    Example:

    >>> import numpy as np
    >>> from keras_recipes.data import load_data
    >>> x = np.random.default_rng(0).integers(0, 256, (20, 40, 40, 3), dtype=np.uint8)
    >>> bundle = load_data((x, np.arange(20) % 2), image_size=32, batch_size=4)
    >>> bundle.input_shape, bundle.num_train, bundle.num_val, bundle.num_test
    ((32, 32, 3), 14, 4, 2)
    >>> bundle.steps_per_epoch
    4
    >>> images, labels = next(iter(bundle.train))
    >>> tuple(images.shape), images.dtype.name
    ((4, 32, 32, 3), 'float32')
    """

    decoded: DecodedImages
    split: Split
    image_size: int
    batch_size: int
    preprocessing: str
    seed: int
    val_fraction: float
    test_fraction: float
    mean: np.ndarray
    std: np.ndarray
    val: tf.data.Dataset = field(repr=False)
    test: tf.data.Dataset | None = field(repr=False)
    val_full: tf.data.Dataset = field(repr=False)
    test_full: tf.data.Dataset | None = field(repr=False)

    @property
    def class_names(self) -> tuple[str, ...]:
        """Label i is `class_names[i]`."""
        return self.decoded.class_names

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.decoded.class_names)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(image_size, image_size, 3): the shape the model sees."""
        return (self.image_size, self.image_size, 3)

    @property
    def resize_size(self) -> int:
        """Side of the stored images that crops are taken from (256 for 227)."""
        return self.decoded.size

    @property
    def num_train(self) -> int:
        """Training images."""
        return len(self.split.train)

    @property
    def train(self) -> tf.data.Dataset:
        """The endless training stream from epoch 0 (`train_from(0)`)."""
        return self.train_from(0)

    @property
    def steps_per_epoch(self) -> int:
        """Batches in one training epoch (`train` is an endless stream of epochs)."""
        return -(-self.num_train // self.batch_size)

    def train_from(self, epoch: int) -> tf.data.Dataset:
        """The training stream starting at `epoch` (0-based), as an uninterrupted run sees it.

        Resumed training uses it so that epoch k has the same order and crops either way.
        """
        return pipeline.train_dataset(
            self.decoded.images,
            self.decoded.labels,
            self.split.train,
            crop_size=self.image_size,
            batch_size=self.batch_size,
            normalize=pipeline.normalizer(self.mean, self.std, self.preprocessing),
            seed=self.seed,
            first_epoch=epoch,
        )

    @property
    def num_val(self) -> int:
        """Validation images."""
        return len(self.split.val)

    @property
    def num_test(self) -> int:
        """Test images (0 when there is no test split)."""
        return len(self.split.test)

    def with_settings(
        self,
        *,
        batch_size: int | None = None,
        preprocessing: str | None = None,
        seed: int | None = None,
    ) -> DataBundle:
        """The same images and split with another batch size, preprocessing or seed.

        Cheap: nothing is decoded again. `seed` re-seeds shuffling and augmentation only;
        the split stays the one made at load time, so runs compare on the same images.

        Args:
            batch_size: int or None. None keeps the current one.
            preprocessing: str or None. "mean", "standardize" or "none".
            seed: int or None.

        Returns:
            DataBundle.
        """
        return build_pipelines(
            self.decoded,
            image_size=self.image_size,
            batch_size=self.batch_size if batch_size is None else batch_size,
            preprocessing=self.preprocessing if preprocessing is None else preprocessing,
            seed=self.seed if seed is None else seed,
            val_fraction=self.val_fraction,
            test_fraction=self.test_fraction,
            split=self.split,
        )

    def describe(self) -> dict[str, Any]:
        """A JSON-serialisable description, written into every run directory."""
        return {
            "source": self.decoded.source,
            "layout": self.decoded.layout,
            "class_names": list(self.class_names),
            "num_train": self.num_train,
            "num_val": self.num_val,
            "num_test": self.num_test,
            "counts": self.split.counts(self.decoded.labels, self.class_names),
            "skipped": dict(sorted(self.decoded.skipped.items())),
            "skipped_examples": {
                k: list(v) for k, v in sorted(self.decoded.skipped_examples.items())
            },
            "store": None if self.decoded.store is None else str(self.decoded.store),
            "image_size": self.image_size,
            "resize_size": self.resize_size,
            "batch_size": self.batch_size,
            "preprocessing": self.preprocessing,
            "seed": self.seed,
            "val_fraction": self.val_fraction,
            "test_fraction": self.test_fraction,
            "mean": [round(float(v), 6) for v in self.mean],
            "std": [round(float(v), 6) for v in self.std],
        }


def build_pipelines(
    decoded: DecodedImages,
    *,
    image_size: int,
    batch_size: int = 64,
    preprocessing: str = "mean",
    seed: int = 0,
    val_fraction: float = 0.2,
    test_fraction: float = 0.1,
    split: Split | None = None,
) -> DataBundle:
    """Splits decoded images, computes the training statistics and builds the pipelines.

    Args:
        decoded: DecodedImages. From `decode_source`; stored at `resize_size_for(image_size)`
            or larger (crops are taken from the stored size).
        image_size: int. Side of the crops the model sees.
        batch_size: int. Batch size of every pipeline.
        preprocessing: str. "mean" (subtract the training mean, as the original),
            "standardize" ((x - mean) / std) or "none" ([0, 1] only).
        seed: int. Seeds the split, the shuffle and the augmentation.
        val_fraction: float. Share of each class for validation.
        test_fraction: float. Share of each class for test; 0 means no test split.
        split: Split or None. Re-use this split instead of drawing one (the fractions are
            then only recorded).

    Returns:
        DataBundle.

    Example:

    >>> import numpy as np
    >>> from keras_recipes.data.sources import resolve_source
    >>> from keras_recipes.data.decode import decode_source
    >>> x = np.zeros((20, 9, 9, 3), np.uint8)
    >>> decoded = decode_source(resolve_source((x, np.arange(20) % 2)), 9)
    >>> bundle = build_pipelines(decoded, image_size=8, test_fraction=0)
    >>> bundle.num_test, bundle.test is None
    (0, True)
    """
    _check_positive_int("image_size", image_size)
    _check_positive_int("batch_size", batch_size)
    pipeline.check_preprocessing(preprocessing)
    if decoded.size < image_size:
        raise DataError(
            f"The decoded images are {decoded.size} px, smaller than image_size={image_size}; "
            f"decode them at resize_size_for({image_size}) = {resize_size_for(image_size)}."
        )
    # The pipelines allocate and free a batch's buffers thousands of times: keep freed
    # ones from piling up in the heap, so memory does not grow with the data set.
    return_large_buffers()
    if split is None:
        split = stratified_split(
            decoded.labels, val_fraction, test_fraction, seed, decoded.class_names
        )
    if decoded.moments is not None:
        # The store's per-image moments: the same exact figures without reading pixels.
        train_rows = np.sort(split.train)
        moments = decoded.moments[train_rows].sum(0, np.int64)
        mean, std = moment_stats(moments, len(train_rows) * decoded.size**2)
    else:
        mean, std = channel_stats(decoded.images, split.train)
    normalize = pipeline.normalizer(mean, std, preprocessing)

    def evaluation(indices: np.ndarray, crop: int | None) -> tf.data.Dataset | None:
        if len(indices) == 0:
            return None
        return pipeline.eval_dataset(
            decoded.images,
            decoded.labels,
            indices,
            crop_size=crop,
            # 10-crop TTA sends ten crops of every image of a batch through the model at
            # once: full-image batches of batch_size / 10 keep that at one training batch of
            # crops (at 256 images and 227 px the whole batch's crops took 6 GiB).
            batch_size=batch_size if crop else -(-batch_size // NUM_CROPS),
            normalize=normalize,
        )

    return DataBundle(
        decoded=decoded,
        split=split,
        image_size=image_size,
        batch_size=batch_size,
        preprocessing=preprocessing,
        seed=seed,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        mean=mean,
        std=std,
        val=evaluation(split.val, image_size),
        test=evaluation(split.test, image_size),
        val_full=evaluation(split.val, None),
        test_full=evaluation(split.test, None),
    )


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ConfigError(f"{name} must be a positive integer; got {value!r}.")
