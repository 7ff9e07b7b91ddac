"""10-crop test-time augmentation: four corners and the centre, each also mirrored."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from keras_recipes.errors import DataError

NUM_CROPS = 10
CROP_NAMES = (
    "top_left",
    "top_right",
    "bottom_left",
    "bottom_right",
    "center",
    "top_left_flipped",
    "top_right_flipped",
    "bottom_left_flipped",
    "bottom_right_flipped",
    "center_flipped",
)


def crop_offsets(height: int, width: int, crop_size: int) -> list[tuple[int, int]]:
    """(top, left) of the five crops: the corners, then the centre ((H - c) // 2, (W - c) // 2).

    Example:

    >>> crop_offsets(256, 256, 227)
    [(0, 0), (0, 29), (29, 0), (29, 29), (14, 14)]
    """
    if crop_size > min(height, width):
        raise DataError(f"Crop size {crop_size} is larger than the images ({height} x {width}).")
    bottom, right = height - crop_size, width - crop_size
    return [(0, 0), (0, right), (bottom, 0), (bottom, right), (bottom // 2, right // 2)]


def ten_crop(images: tf.Tensor, crop_size: int) -> tf.Tensor:
    """The ten crops of a batch, stacked: shape (10, B, crop_size, crop_size, C).

    Order (`CROP_NAMES`): top-left, top-right, bottom-left, bottom-right, centre, then the
    same five mirrored left-right.

    Args:
        images: tf.Tensor. (B, H, W, C) with H, W >= crop_size.
        crop_size: int.

    Returns:
        tf.Tensor of shape (10, B, crop_size, crop_size, C).

    Example:

    >>> x = tf.reshape(tf.range(9), [1, 3, 3, 1])
    >>> crops = ten_crop(x, 2)
    >>> crops[1, 0, :, :, 0].numpy().tolist(), crops[6, 0, :, :, 0].numpy().tolist()
    ([[1, 2], [4, 5]], [[2, 1], [5, 4]])
    """
    images = tf.convert_to_tensor(images)
    height, width = images.shape[1], images.shape[2]
    if height is None or width is None:
        raise DataError("ten_crop needs images of a known height and width.")
    five = [
        images[:, top : top + crop_size, left : left + crop_size, :]
        for top, left in crop_offsets(height, width, crop_size)
    ]
    crops = tf.stack(five, axis=0)
    return tf.concat([crops, tf.reverse(crops, axis=[3])], axis=0)


def predict_tta(
    model: keras.Model,
    dataset: tf.data.Dataset,
    crop_size: int,
    *,
    from_logits: bool = False,
) -> np.ndarray:
    """Class probabilities averaged over the ten crops of every image.

    Each batch's ten crops go through the model in one call (10 x batch images), so pick
    the dataset's batch size with that in mind.

    Args:
        model: keras.Model. Maps (crop, crop, C) images to class probabilities (or logits,
            with `from_logits=True`).
        dataset: tf.data.Dataset. Batches of full-size images, or (images, labels) pairs,
            normalised like the training data (e.g. `bundle.test_full`).
        crop_size: int. The model's input size.
        from_logits: bool. Apply softmax to the model's outputs before averaging.

    Returns:
        np.ndarray of shape (N, num_classes): the mean of the ten crops' probabilities.

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
    ...                           keras.layers.Dense(2, activation="softmax")])
    >>> data = tf.data.Dataset.from_tensor_slices(tf.zeros([3, 6, 6, 1])).batch(2)
    >>> predict_tta(model, data, 4).shape
    (3, 2)
    """
    outputs = [_tta_batch(model, _images_of(batch), crop_size, from_logits) for batch in dataset]
    if not outputs:
        raise DataError("predict_tta got an empty dataset.")
    return np.concatenate(outputs, axis=0)


def evaluate_tta(model: keras.Model, dataset: tf.data.Dataset, crop_size: int) -> float:
    """Accuracy of the 10-crop averaged predictions on (images, labels) batches.

    Args:
        model: keras.Model. Outputs class probabilities.
        dataset: tf.data.Dataset. (full-size images, int labels) batches, e.g.
            `bundle.test_full`.
        crop_size: int. The model's input size.

    Returns:
        float: the share of images whose averaged prediction is the label.

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
    ...                           keras.layers.Dense(2, activation="softmax")])
    >>> images = tf.zeros([4, 6, 6, 1])
    >>> guess = int(predict_tta(model, tf.data.Dataset.from_tensors(images), 4)[0].argmax())
    >>> data = tf.data.Dataset.from_tensors((images, tf.constant([guess] * 3 + [1 - guess])))
    >>> evaluate_tta(model, data, 4)
    0.75
    """
    correct, total = 0, 0
    for batch in dataset:
        if not isinstance(batch, tuple | list) or len(batch) < 2:
            raise DataError("evaluate_tta needs a dataset of (images, labels) batches.")
        images, labels = batch[0], np.asarray(batch[1])
        if labels.ndim == 2:  # one-hot
            labels = labels.argmax(axis=1)
        predicted = _tta_batch(model, images, crop_size, False).argmax(axis=1)
        correct += int(np.sum(predicted == labels.reshape(-1)))
        total += len(labels)
    if total == 0:
        raise DataError("evaluate_tta got an empty dataset.")
    return correct / total


def _images_of(batch):
    return batch[0] if isinstance(batch, tuple | list) else batch


def _tta_batch(model: keras.Model, images: tf.Tensor, crop_size: int, from_logits: bool):
    crops = ten_crop(images, crop_size)
    batch = tf.shape(crops)[1]
    flat = tf.reshape(crops, tf.concat([[-1], tf.shape(crops)[2:]], axis=0))
    probabilities = tf.convert_to_tensor(model(flat, training=False))
    if from_logits:
        probabilities = tf.nn.softmax(probabilities, axis=-1)
    probabilities = tf.reshape(probabilities, [NUM_CROPS, batch, -1])
    return tf.reduce_mean(tf.cast(probabilities, tf.float32), axis=0).numpy()
