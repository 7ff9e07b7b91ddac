"""tf.data pipelines over the decoded uint8 images: augmented training, centre-crop and
full-image evaluation, each normalised the same way."""

from __future__ import annotations

import difflib
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from keras_recipes.errors import ConfigError

PREPROCESSING = ("mean", "standardize", "none")
# A constant channel has std 0; dividing by at least this keeps "standardize" finite.
MIN_STD = 1e-3
AUTOTUNE = tf.data.AUTOTUNE

Normalizer = Callable[[tf.Tensor], tf.Tensor]


def check_preprocessing(preprocessing: str) -> None:
    """Raises ConfigError naming the valid choices (and the closest one) for a bad name."""
    if preprocessing in PREPROCESSING:
        return
    close = difflib.get_close_matches(str(preprocessing), PREPROCESSING, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ConfigError(
        f"Unknown preprocessing {preprocessing!r}; valid: {', '.join(PREPROCESSING)}.{hint}"
    )


def normalizer(mean: np.ndarray, std: np.ndarray, preprocessing: str) -> Normalizer:
    """uint8 images -> float32: scaled to [0, 1], then the per-channel step of `preprocessing`.

    "mean" subtracts the training mean (as the original), "standardize" also divides by the
    training std, "none" stops at [0, 1].

    Example:

    >>> f = normalizer(np.full(3, 0.5), np.full(3, 0.25), "standardize")
    >>> f(tf.fill([1, 1, 1, 3], tf.constant(255, tf.uint8))).numpy().ravel().tolist()
    [2.0, 2.0, 2.0]
    """
    check_preprocessing(preprocessing)
    mean_t = tf.constant(np.asarray(mean, np.float32))
    std_t = tf.constant(np.maximum(np.asarray(std, np.float32), MIN_STD))

    def apply(images: tf.Tensor) -> tf.Tensor:
        x = tf.cast(images, tf.float32) / 255.0
        if preprocessing == "none":
            return x
        # Broadcasting a (C,) vector along the innermost axis runs several times slower
        # in TF's CPU kernels than a (H, W, C) one repeated along the batch: same values.
        image_shape = tf.shape(x)[-3:]
        x = x - tf.broadcast_to(mean_t, image_shape)
        if preprocessing == "standardize":
            x = x / tf.broadcast_to(std_t, image_shape)
        return x

    return apply


def center_crop(images: tf.Tensor, crop_size: int) -> tf.Tensor:
    """The central `crop_size` square of an image (H, W, C) or a batch (B, H, W, C).

    The offset is (H - crop_size) // 2 (and the same for W): 14 for 256 -> 227.

    Example:

    >>> x = tf.reshape(tf.range(16), [4, 4, 1])
    >>> tf.squeeze(center_crop(x, 2)).numpy().tolist()
    [[5, 6], [9, 10]]
    """
    # Not keras.layers.CenterCrop: it casts to float32 and took 194 ms per batch of 256
    # 256-px images against 19 ms for this uint8 slice (2-core CPU, 2026-12-01).
    shape = tf.shape(images)
    top = (shape[-3] - crop_size) // 2
    left = (shape[-2] - crop_size) // 2
    return tf.image.crop_to_bounding_box(images, top, left, crop_size, crop_size)


def read_rows(images: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """`images[rows]`, read in ascending row order, returned in the order asked.

    On a memory-mapped store, ascending reads walk the file forwards (read-ahead works, and
    each page is touched once per batch); the batch comes back in the requested order.

    Example:

    >>> read_rows(np.arange(5)[:, None], np.array([3, 0, 3])).ravel().tolist()
    [3, 0, 3]
    """
    rows = np.asarray(rows)
    order = np.argsort(rows, kind="stable")
    out = np.empty((len(rows), *images.shape[1:]), images.dtype)
    out[order] = images[rows[order]]
    return out


def row_reader(images: np.ndarray) -> Callable[[tf.Tensor], tf.Tensor]:
    """A tf.data-usable function: a (B,) int tensor of rows -> those images as a uint8 tensor.

    The images stay a numpy array (in memory, or a memory map of the decoded-image store):
    only the batch being read is copied, never the data set (a `tf.constant` of it would be
    a second full copy in the process).

    Example:

    >>> read = row_reader(np.arange(24, dtype=np.uint8).reshape(3, 2, 2, 2))
    >>> read(tf.constant([2, 0])).numpy()[:, 0, 0, 0].tolist()
    [16, 0]
    """
    shape = images.shape[1:]

    def read(rows: tf.Tensor) -> tf.Tensor:
        batch = tf.numpy_function(
            lambda r: read_rows(images, r), [rows], tf.as_dtype(images.dtype), stateful=False
        )
        batch.set_shape([None, *shape])
        return batch

    return read


def train_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    indices: np.ndarray,
    *,
    crop_size: int,
    batch_size: int,
    normalize: Normalizer,
    seed: int,
    first_epoch: int = 0,
) -> tf.data.Dataset:
    """An endless stream of training epochs: shuffled, cropped, flipped, batched, normalised.

    Epoch e's order and its crop offsets and flips are stateless functions of (seed, e)
    alone, so the same seed yields the same batches, and a run resumed at epoch e
    (`first_epoch`) sees exactly the batches an uninterrupted run would. Each epoch ends
    with its own short batch; train with `steps_per_epoch = ceil(len(indices) / batch_size)`.

    Each batch reads its images from `images` (`row_reader`: only the batch is copied, so
    memory does not grow with the data set), then one gather crops and flips them all
    (`crop_batch`): a few vectorised ops per batch, not one small op chain per image.

    Args:
        images: np.ndarray. (N, r, r, 3) uint8, all decoded images (indexed by `indices`);
            in memory or a memory map.
        labels: np.ndarray. (N,) int.
        indices: np.ndarray. The training images.
        crop_size: int. Side of the random crop.
        batch_size: int.
        normalize: callable. uint8 or float32 [0, 255] batch -> float32 batch
            (see `normalizer`).
        seed: int.
        first_epoch: int. Index of the first epoch the stream yields.

    Returns:
        tf.data.Dataset of (float32 (B, crop, crop, 3), int32 (B,)), endless.

    Example:

    >>> images = np.zeros([6, 10, 10, 3], np.uint8)
    >>> labels = np.array([0, 1, 0, 1, 0, 1])
    >>> f = normalizer(np.zeros(3), np.ones(3), "none")
    >>> ds = train_dataset(images, labels, np.arange(6), crop_size=8, batch_size=4,
    ...                    normalize=f, seed=0)
    >>> [tuple(x.shape) for x, _ in ds.take(4)]  # two epochs of 4 + 2
    [(4, 8, 8, 3), (2, 8, 8, 3), (4, 8, 8, 3), (2, 8, 8, 3)]
    """
    training = tf.constant(np.asarray(indices, np.int32))
    count = len(indices)
    room_y = int(images.shape[1]) - crop_size + 1
    room_x = int(images.shape[2]) - crop_size + 1
    read = row_reader(images)
    label_table = tf.constant(np.asarray(labels, np.int32))

    def epoch(number: tf.Tensor) -> tf.data.Dataset:
        key = tf.stack([tf.constant(seed, tf.int64), number])
        shuffle_key, top_key, left_key, flip_key = tf.unstack(
            tf.random.experimental.stateless_split(key, 4)
        )
        order = tf.random.experimental.stateless_shuffle(training, seed=shuffle_key)
        # The whole epoch's draws at once, indexed by position in the epoch: the result
        # depends on (seed, epoch) only, never on how batches are scheduled.
        tops = tf.random.stateless_uniform([count], top_key, 0, room_y, tf.int32)
        lefts = tf.random.stateless_uniform([count], left_key, 0, room_x, tf.int32)
        flips = tf.random.stateless_uniform([count], flip_key, 0, 2, tf.int32) > 0
        plan = tf.data.Dataset.from_tensor_slices((order, tops, lefts, flips))
        return plan.batch(batch_size)

    def load(order, tops, lefts, flips) -> tuple[tf.Tensor, tf.Tensor]:
        batch = read(order)
        local = tf.range(tf.shape(order)[0])
        crops = crop_batch(batch, local, tops, lefts, flips, crop_size)
        return normalize(crops), tf.gather(label_table, order)

    # Only the small per-epoch plans go through flat_map; the one parallel map that does
    # the work lives outside it, so its threads and buffers persist across epochs.
    dataset = tf.data.Dataset.range(first_epoch, np.iinfo(np.int64).max).flat_map(epoch)
    dataset = dataset.map(load, num_parallel_calls=AUTOTUNE, deterministic=True)
    return dataset.prefetch(AUTOTUNE)


def crop_batch(
    images: tf.Tensor,
    order: tf.Tensor,
    tops: tf.Tensor,
    lefts: tf.Tensor,
    flips: tf.Tensor,
    crop_size: int,
) -> tf.Tensor:
    """`images[order[i], top:top + s, left:left + s]`, mirrored where `flips[i]`, as float32.

    The whole batch is one `tf.gather` of pixels: the index of every output pixel is
    computed from its image, row and column (a mirrored crop reads its columns
    right to left), so cropping and flipping cost one pass over the output.

    Args:
        images: tf.Tensor. (N, H, W, C), any real dtype, with static H, W and C.
        order: tf.Tensor. (B,) int32 indices into `images`.
        tops, lefts: tf.Tensor. (B,) int32 offsets of the crops.
        flips: tf.Tensor. (B,) bool, mirror left-right.
        crop_size: int. Side of the crops.

    Returns:
        tf.Tensor. (B, crop_size, crop_size, C) float32 holding the pixel values unchanged.

    Example:

    >>> x = tf.reshape(tf.range(16), [1, 4, 4, 1])
    >>> crops = crop_batch(x, tf.constant([0, 0]), tf.constant([1, 0]), tf.constant([0, 2]),
    ...                    tf.constant([False, True]), 2)
    >>> tf.squeeze(crops, -1).numpy().astype(int).tolist()
    [[[4, 5], [8, 9]], [[3, 2], [7, 6]]]
    """
    count, height, width, channels = images.shape
    # Pixel indices overflow int32 past 2**31 pixels (e.g. 33,000 images at 256 px); a
    # batch read from the store has no static count, but a batch never comes near that.
    pixels_in = (count or 1) * height * width
    dtype = tf.int32 if pixels_in < 2**31 else tf.int64
    steps = tf.range(crop_size, dtype=dtype)
    rows = tf.cast(order, dtype)[:, None] * height + tf.cast(tops, dtype)[:, None] + steps
    columns = tf.cast(lefts, dtype)[:, None] + tf.where(
        flips[:, None], crop_size - 1 - steps, steps
    )
    pixels = rows[:, :, None] * width + columns[:, None, :]  # (B, s, s)
    flat = tf.reshape(images, [-1, channels])
    return tf.cast(tf.gather(flat, pixels), tf.float32)


def eval_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    indices: np.ndarray,
    *,
    crop_size: int | None,
    batch_size: int,
    normalize: Normalizer,
) -> tf.data.Dataset:
    """In order, centre-cropped to `crop_size` (None: the full stored image), batched.

    Batches are read from `images` one at a time (`row_reader`), so evaluating, 10-crop
    test-time augmentation included, holds a few batches, not the split.

    Args:
        images: np.ndarray. (N, r, r, 3) uint8, in memory or a memory map.
        labels: np.ndarray. (N,) int.
        indices: np.ndarray. The images of this split.
        crop_size: int or None. Centre crop side; None keeps r x r (for 10-crop TTA).
        batch_size: int.
        normalize: callable. uint8 batch -> float32 batch.

    Returns:
        tf.data.Dataset of (float32 (B, s, s, 3), int32 (B,)).

    Example:

    >>> images = np.arange(2 * 4 * 4 * 3).reshape(2, 4, 4, 3).astype(np.uint8)
    >>> f = normalizer(np.zeros(3), np.ones(3), "none")
    >>> ds = eval_dataset(images, np.array([0, 1]), np.array([1]),
    ...                   crop_size=2, batch_size=8, normalize=f)
    >>> x, y = next(iter(ds))
    >>> round(float(x[0, 0, 0, 0]) * 255), y.numpy().tolist()
    (63, [1])
    """
    read = row_reader(images)
    label_table = tf.constant(np.asarray(labels, np.int32))

    def load(batch: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        x = read(batch)
        if crop_size is not None:
            x = center_crop(x, crop_size)
        return normalize(x), tf.gather(label_table, batch)

    dataset = tf.data.Dataset.from_tensor_slices(np.asarray(indices, np.int64)).batch(batch_size)
    dataset = dataset.map(load, num_parallel_calls=AUTOTUNE, deterministic=True)
    return dataset.prefetch(AUTOTUNE)
