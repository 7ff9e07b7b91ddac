"""The tf.data pipelines and the DataBundle: crops, normalisation, seeding, re-batching."""

import json

import numpy as np
import pytest
import tensorflow as tf

from keras_recipes.data import (
    DataBundle,
    DecodedImages,
    build_pipelines,
    load_data,
    stratified_split,
)
from keras_recipes.data.pipeline import crop_batch
from keras_recipes.errors import ConfigError, DataError

SIZE, RESIZED = 16, 18  # resize_size_for(16) == 18: centre offset 1, corners 0 and 2


def _decoded(n: int = 40, seed: int = 0) -> DecodedImages:
    """n images at the stored size; channel 0 of image i is i everywhere (its id)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, RESIZED, RESIZED, 3), dtype=np.uint8)
    images[..., 0] = np.arange(n, dtype=np.uint8)[:, None, None]
    labels = (np.arange(n) % 2).astype(np.int32)
    return DecodedImages(images, labels, ("cat", "dog"), "test", "arrays")


def _epochs(bundle, count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The first `count` epochs of the endless training stream."""
    stream = iter(bundle.train)
    return [_epoch(next(stream) for _ in range(bundle.steps_per_epoch)) for _ in range(count)]


def _epoch(dataset) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in dataset], strict=True)
    return np.concatenate(xs), np.concatenate(ys)


def test_val_is_the_exact_centre_crop_scaled_to_unit_range():
    decoded = _decoded()
    bundle = build_pipelines(decoded, image_size=SIZE, batch_size=7, preprocessing="none")
    x, y = _epoch(bundle.val)
    expected = decoded.images[bundle.split.val, 1:17, 1:17].astype(np.float32) / np.float32(255)
    assert x.dtype == np.float32
    assert np.array_equal(x, expected)
    assert np.array_equal(y, decoded.labels[bundle.split.val])


def test_mean_preprocessing_subtracts_the_training_mean():
    decoded = _decoded()
    bundle = build_pipelines(decoded, image_size=SIZE, preprocessing="mean")
    x, _ = _epoch(bundle.test)
    crops = decoded.images[bundle.split.test, 1:17, 1:17].astype(np.float32) / np.float32(255)
    np.testing.assert_allclose(x, crops - bundle.mean, atol=1e-7)


def test_standardize_divides_by_the_training_std():
    decoded = _decoded()
    bundle = build_pipelines(decoded, image_size=SIZE, preprocessing="standardize")
    x, _ = _epoch(bundle.val)
    crops = decoded.images[bundle.split.val, 1:17, 1:17].astype(np.float32) / np.float32(255)
    np.testing.assert_allclose(x, (crops - bundle.mean) / bundle.std, atol=1e-6)


def test_mean_and_std_come_from_the_training_split_only():
    decoded = _decoded()
    split = stratified_split(decoded.labels, 0.2, 0.1, seed=0)
    images = np.full_like(decoded.images, 255)
    images[split.train] = 51  # 0.2 on every channel, but only in the training images
    constructed = DecodedImages(images, decoded.labels, decoded.class_names, "test", "arrays")
    bundle = build_pipelines(constructed, image_size=SIZE, split=split)
    assert bundle.mean.tolist() == pytest.approx([0.2, 0.2, 0.2], abs=1e-7)
    assert bundle.std.tolist() == [0.0, 0.0, 0.0]


def test_full_images_for_tta_are_the_whole_stored_image():
    decoded = _decoded()
    bundle = build_pipelines(decoded, image_size=SIZE, preprocessing="none")
    x, _ = _epoch(bundle.val_full)
    assert x.shape == (bundle.num_val, RESIZED, RESIZED, 3)
    assert np.array_equal(x * 255, decoded.images[bundle.split.val].astype(np.float32))


def test_train_yields_random_crops_and_flips_of_the_training_images():
    decoded = _decoded()
    bundle = build_pipelines(decoded, image_size=SIZE, batch_size=8, preprocessing="none")
    seen_offsets, seen_flips = set(), set()
    for x, y in _epochs(bundle, 3):
        assert x.shape == (bundle.num_train, SIZE, SIZE, 3)
        ids = np.rint(x[:, 0, 0, 0] * 255).astype(int)
        assert sorted(ids.tolist()) == bundle.split.train.tolist()  # each image once
        assert np.array_equal(y, decoded.labels[ids])
        for crop, i in zip(np.rint(x * 255).astype(np.uint8), ids, strict=True):
            found = [
                (top, left, flip)
                for top in range(3)
                for left in range(3)
                for flip in (False, True)
                if np.array_equal(
                    crop[:, ::-1] if flip else crop,
                    decoded.images[i, top : top + SIZE, left : left + SIZE],
                )
            ]
            assert found, "a training image is not a crop of its source"
            seen_offsets.add(found[0][:2])
            seen_flips.add(found[0][2])
    assert len(seen_offsets) == 9 and seen_flips == {False, True}


def test_same_seed_same_batches_every_epoch_and_epochs_differ():
    first = build_pipelines(_decoded(), image_size=SIZE, batch_size=8, seed=5)
    second = build_pipelines(_decoded(), image_size=SIZE, batch_size=8, seed=5)
    a1, a2 = _epochs(first, 2)
    b1, b2 = _epochs(second, 2)
    assert np.array_equal(a1[0], b1[0]) and np.array_equal(a2[0], b2[0])
    assert not np.array_equal(a1[1], a2[1])  # reshuffled
    other = build_pipelines(_decoded(), image_size=SIZE, batch_size=8, seed=6)
    assert not np.array_equal(_epochs(other, 1)[0][0], a1[0])


def test_a_stream_started_at_epoch_k_equals_epoch_k_of_the_full_stream():
    bundle = build_pipelines(_decoded(), image_size=SIZE, batch_size=8, seed=5)
    third = _epochs(bundle, 3)[2]
    stream = iter(bundle.train_from(2))
    resumed = _epoch(next(stream) for _ in range(bundle.steps_per_epoch))
    assert np.array_equal(third[0], resumed[0]) and np.array_equal(third[1], resumed[1])


def test_batches_have_the_batch_size_and_a_short_last_one():
    bundle = build_pipelines(_decoded(), image_size=SIZE, batch_size=12)
    assert bundle.steps_per_epoch == 3
    # 28 training images; every epoch ends with its own short batch.
    assert [len(y) for _, y in bundle.train.take(6)] == [12, 12, 4, 12, 12, 4]
    assert bundle.train.element_spec[0].shape.as_list() == [None, SIZE, SIZE, 3]


def test_with_settings_rebatches_without_decoding_or_resplitting():
    bundle = build_pipelines(_decoded(), image_size=SIZE, batch_size=8, seed=0)
    other = bundle.with_settings(batch_size=4, preprocessing="standardize", seed=9)
    assert isinstance(other, DataBundle)
    assert (other.batch_size, other.preprocessing, other.seed) == (4, "standardize", 9)
    assert other.decoded is bundle.decoded
    assert np.array_equal(other.split.val, bundle.split.val)  # the split is kept
    assert np.array_equal(other.mean, bundle.mean)
    assert len(next(iter(other.val))[1]) == 4
    assert bundle.with_settings().batch_size == 8


def test_no_test_split_means_no_test_datasets():
    bundle = build_pipelines(_decoded(), image_size=SIZE, test_fraction=0)
    assert (bundle.test, bundle.test_full, bundle.num_test) == (None, None, 0)
    assert bundle.num_train + bundle.num_val == 40


def test_describe_is_json_and_names_everything():
    bundle = build_pipelines(_decoded(), image_size=SIZE, batch_size=8)
    described = json.loads(json.dumps(bundle.describe()))
    assert described["counts"] == {
        "train": {"cat": 14, "dog": 14},
        "val": {"cat": 4, "dog": 4},
        "test": {"cat": 2, "dog": 2},
    }
    assert {k: described[k] for k in ("image_size", "resize_size", "preprocessing")} == {
        "image_size": SIZE,
        "resize_size": RESIZED,
        "preprocessing": "mean",
    }
    assert len(described["mean"]) == len(described["std"]) == 3
    assert bundle.input_shape == (SIZE, SIZE, 3) and bundle.num_classes == 2


def test_unknown_preprocessing_suggests_the_closest():
    with pytest.raises(
        ConfigError, match=r"Unknown preprocessing 'standardise'.*Did you mean 'standardize'"
    ):
        build_pipelines(_decoded(), image_size=SIZE, preprocessing="standardise")


@pytest.mark.parametrize("value", [0, -1, 2.5, True])
def test_batch_size_must_be_a_positive_integer(value):
    with pytest.raises(ConfigError, match=r"batch_size must be a positive integer"):
        build_pipelines(_decoded(), image_size=SIZE, batch_size=value)


def test_image_size_larger_than_the_stored_images():
    with pytest.raises(DataError, match=r"decoded images are 18 px, smaller than image_size=32"):
        build_pipelines(_decoded(), image_size=32)


def test_load_data_checks_settings_before_decoding(tmp_path):
    with pytest.raises(ConfigError, match=r"image_size must be a positive integer; got 0"):
        load_data(tmp_path / "missing", image_size=0)


def test_load_data_from_a_messy_kaggle_folder(messy_kaggle):
    bundle = load_data(messy_kaggle, image_size=14, batch_size=4, val_fraction=0.3)
    described = bundle.describe()
    assert described["layout"] == "kaggle" and described["resize_size"] == 16
    assert sum(described["skipped"].values()) == 6
    assert bundle.num_train + bundle.num_val + bundle.num_test == 15
    x, _ = next(iter(bundle.train))
    assert x.shape == (4, 14, 14, 3)


def test_load_data_from_arrays_resizes_them():
    x = np.random.default_rng(0).integers(0, 256, (20, 40, 30, 3), dtype=np.uint8)
    bundle = load_data((x, np.arange(20) % 2), image_size=32, batch_size=5, class_names=["a", "b"])
    assert bundle.decoded.images.shape == (20, 36, 36, 3)
    assert bundle.class_names == ("a", "b")
    assert bundle.describe()["source"] == "arrays(20, 40, 30, 3)"


def test_crop_batch_is_exact_slicing_for_every_offset_and_flip_of_non_square_images():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 7, 9, 3), dtype=np.uint8)
    cases = [
        (i, top, left, flip)
        for i in range(3)
        for top in range(7 - 4 + 1)
        for left in range(9 - 4 + 1)
        for flip in (False, True)
    ]
    order, tops, lefts, flips = (np.array(column) for column in zip(*cases, strict=True))
    crops = crop_batch(tf.constant(images), order, tops, lefts, flips, 4).numpy()
    assert crops.dtype == np.float32
    for crop, (i, top, left, flip) in zip(crops, cases, strict=True):
        expected = images[i, top : top + 4, left : left + 4]
        assert np.array_equal(crop, expected[:, ::-1] if flip else expected)
