"""10-crop test-time augmentation: crop positions, and the averaged predictions."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_recipes.data import evaluate_tta, predict_tta, ten_crop
from keras_recipes.data.tta import CROP_NAMES, crop_offsets
from keras_recipes.errors import DataError

H, W, C = 9, 11, 3
CROP = 6


def _images(n: int = 5) -> np.ndarray:
    return np.random.default_rng(0).random((n, H, W, C)).astype(np.float32)


def _model(num_classes: int = 3, activation: str | None = "softmax") -> keras.Model:
    # Position-dependent (Flatten + Dense), so every crop gives a different prediction.
    keras.utils.set_random_seed(1)
    return keras.Sequential(
        [
            keras.Input((CROP, CROP, C)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(num_classes, activation=activation),
        ]
    )


def test_crop_offsets_of_the_original_geometry():
    assert crop_offsets(256, 256, 227) == [(0, 0), (0, 29), (29, 0), (29, 29), (14, 14)]


def test_ten_crops_are_at_the_exact_positions():
    images = _images(2)
    crops = ten_crop(images, CROP).numpy()
    assert crops.shape == (10, 2, CROP, CROP, C)
    positions = {
        "top_left": (0, 0),
        "top_right": (0, W - CROP),
        "bottom_left": (H - CROP, 0),
        "bottom_right": (H - CROP, W - CROP),
        "center": ((H - CROP) // 2, (W - CROP) // 2),
    }
    for k, name in enumerate(CROP_NAMES):
        top, left = positions[name.removesuffix("_flipped")]
        expected = images[:, top : top + CROP, left : left + CROP]
        if name.endswith("_flipped"):
            expected = expected[:, :, ::-1]
        assert np.array_equal(crops[k], expected), name


def test_predict_tta_is_the_mean_of_the_ten_crops_predicted_one_by_one():
    images = _images(5)
    model = _model()
    dataset = tf.data.Dataset.from_tensor_slices((images, np.zeros(5, np.int32))).batch(2)
    got = predict_tta(model, dataset, CROP)
    one_by_one = []
    for top, left in crop_offsets(H, W, CROP):
        crop = tf.image.crop_to_bounding_box(images, top, left, CROP, CROP)
        one_by_one.append(model.predict_on_batch(crop))
        one_by_one.append(model.predict_on_batch(tf.image.flip_left_right(crop)))
    expected = np.mean(one_by_one, axis=0)
    assert got.shape == (5, 3)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-6)


def test_predict_tta_accepts_image_only_batches_and_logits():
    images = _images(3)
    logits = _model(activation=None)
    probs = keras.Sequential([logits, keras.layers.Softmax()])
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(2)
    np.testing.assert_allclose(
        predict_tta(logits, dataset, CROP, from_logits=True),
        predict_tta(probs, dataset, CROP),
        atol=1e-6,
    )


def test_evaluate_tta_is_the_accuracy_of_the_averaged_prediction():
    images = _images(6)
    model = _model(num_classes=2)
    unlabeled = tf.data.Dataset.from_tensor_slices(images).batch(4)
    predicted = predict_tta(model, unlabeled, CROP).argmax(axis=1)
    labels = predicted.copy()
    labels[:2] = 1 - labels[:2]  # two of six wrong
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(4)
    assert evaluate_tta(model, dataset, CROP) == pytest.approx(4 / 6)


def test_crop_larger_than_the_images():
    with pytest.raises(DataError, match=r"Crop size 12 is larger than the images \(9 x 11\)"):
        ten_crop(_images(1), 12)


def test_empty_dataset():
    dataset = tf.data.Dataset.from_tensor_slices(_images(0)).batch(2)
    with pytest.raises(DataError, match="empty dataset"):
        predict_tta(_model(), dataset, CROP)
