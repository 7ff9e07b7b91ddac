"""The seeded stratified split and the per-channel training statistics."""

import numpy as np
import pytest

from keras_recipes.data import channel_stats, stratified_split
from keras_recipes.data.split import pixel_moments
from keras_recipes.errors import ConfigError, DataError

LABELS = np.array([0] * 100 + [1] * 50 + [2] * 7)


def test_counts_per_class_are_exact():
    split = stratified_split(LABELS, 0.2, 0.1, seed=0)
    per_split = {
        name: np.bincount(LABELS[idx], minlength=3).tolist()
        for name, idx in (("train", split.train), ("val", split.val), ("test", split.test))
    }
    # 100 -> 20 / 10 / 70; 50 -> 10 / 5 / 35; 7 -> round(1.4)=1 / max(1, round(0.7))=1 / 5
    assert per_split == {"train": [70, 35, 5], "val": [20, 10, 1], "test": [10, 5, 1]}


def test_split_sizes_round_half_up_and_shares_add_up():
    labels = np.array([0] * 5 + [1] * 16)
    split = stratified_split(labels, 0.5, 0.0, seed=0)
    assert split.val.size == 11  # 21 * 0.5 = 10.5 -> 11
    # Each class gets its exact share (2.5 and 8) rounded one way or the other.
    assert np.bincount(labels[split.val]).tolist() in ([3, 8], [2, 9])


def test_splits_partition_the_indices():
    split = stratified_split(LABELS, 0.2, 0.1, seed=3)
    joined = np.concatenate([split.train, split.val, split.test])
    assert sorted(joined.tolist()) == list(range(len(LABELS)))
    for part in (split.train, split.val, split.test):
        assert np.all(np.diff(part) > 0)  # sorted, no duplicates


def test_seeded_split_is_deterministic_and_seed_dependent():
    a = stratified_split(LABELS, 0.2, 0.1, seed=7)
    b = stratified_split(LABELS, 0.2, 0.1, seed=7)
    c = stratified_split(LABELS, 0.2, 0.1, seed=8)
    assert np.array_equal(a.val, b.val) and np.array_equal(a.test, b.test)
    assert not np.array_equal(a.val, c.val)


def test_known_split_for_seed_0_is_stable():
    # Pins scikit-learn's seeded draw: a change here changes every seeded run's data.
    split = stratified_split(np.array([0] * 5 + [1] * 5), 0.2, 0.2, seed=0)
    assert (split.val.tolist(), split.test.tolist()) == ([4, 8], [0, 7])


def test_no_test_split():
    split = stratified_split(LABELS, 0.2, 0.0, seed=0)
    assert split.test.size == 0
    assert split.counts(LABELS, ("a", "b", "c"))["test"] == {"a": 0, "b": 0, "c": 0}


@pytest.mark.parametrize(
    ("val", "test", "message"),
    [
        (0.0, 0.1, r"val_fraction must be in \(0, 1\); got 0.0"),
        (1.2, 0.1, r"val_fraction must be in \(0, 1\); got 1.2"),
        (0.2, -0.1, r"test_fraction must be in \[0, 1\).*got -0.1"),
        (0.6, 0.4, r"must leave images to train on; got 0.6 \+ 0.4 = 1 >= 1"),
    ],
)
def test_bad_fractions(val, test, message):
    with pytest.raises(ConfigError, match=message):
        stratified_split(LABELS, val, test)


def test_class_too_small_to_split_is_named():
    with pytest.raises(DataError, match=r"Class 'dog' has only 2 images"):
        stratified_split(np.array([0] * 10 + [1] * 2), 0.2, 0.1, class_names=("cat", "dog"))


def test_a_class_whose_share_rounds_to_nothing_is_named():
    # 0.2 x 2 dogs = 0.4 loses the validation split's twelfth image to 0.2 x 58 cats = 11.6.
    labels = np.array([0] * 58 + [1] * 2)
    with pytest.raises(DataError, match=r"Class 'dog' has only 2 images: too few for the val"):
        stratified_split(labels, 0.2, 0.0, seed=0, class_names=("cat", "dog"))


def test_channel_stats_exact_on_constructed_images():
    images = np.zeros((4, 2, 2, 3), np.uint8)
    images[1, ..., 0] = 255  # channel 0: one image of four is white
    images[:, 0, :, 1] = 51  # channel 1: half the pixels 0.2, half 0
    images[..., 2] = 102  # channel 2: constant 0.4
    mean, std = channel_stats(images)
    assert mean.tolist() == pytest.approx([0.25, 0.1, 0.4], abs=1e-7)
    assert std.tolist() == pytest.approx([np.sqrt(0.25 * 0.75), 0.1, 0.0], abs=1e-7)


def test_channel_stats_use_only_the_given_indices():
    images = np.zeros((3, 1, 1, 3), np.uint8)
    images[2] = 255
    mean, _ = channel_stats(images, np.array([0, 1]))
    assert mean.tolist() == [0.0, 0.0, 0.0]


def test_pixel_moments_are_exact_integers_even_for_a_stack_of_white_images():
    white = np.full((64, 256, 256, 3), 255, np.uint8)
    assert pixel_moments(white).tolist() == [[64 * 65536 * 255, 64 * 65536 * 255**2]] * 3
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 33, 17, 3), dtype=np.uint8)
    wide = images.reshape(-1, 3).astype(np.int64)
    expected = np.stack([wide.sum(0), (wide**2).sum(0)], axis=1)
    assert np.array_equal(pixel_moments(images), expected)
    assert np.array_equal(pixel_moments(images[2]), pixel_moments(images[2:3]))
