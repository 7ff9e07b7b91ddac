"""The seeded stratified train / validation / test split and the training-set statistics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from keras_recipes.errors import ConfigError, DataError

# Statistics are accumulated this many images at a time, so a large set needs no float copy.
_STATS_CHUNK = 1024


@dataclass(frozen=True, eq=False)  # holds arrays: compare by identity
class Split:
    """Indices of the train, validation and test images (each sorted ascending).

    Example:

    >>> split = stratified_split(np.array([0] * 10 + [1] * 10), 0.2, 0.1, seed=0)
    >>> len(split.train), len(split.val), len(split.test)
    (14, 4, 2)
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def counts(self, labels: np.ndarray, class_names: tuple[str, ...]) -> dict[str, dict[str, int]]:
        """{"train": {class: count}, "val": {...}, "test": {...}}."""
        result = {}
        for name, indices in (("train", self.train), ("val", self.val), ("test", self.test)):
            per_class = np.bincount(labels[indices], minlength=len(class_names))
            result[name] = {c: int(n) for c, n in zip(class_names, per_class, strict=True)}
        return result


def check_fractions(val_fraction: float, test_fraction: float) -> None:
    """Raises ConfigError unless 0 < val, 0 <= test and val + test < 1."""
    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in (0, 1); got {val_fraction!r} (default 0.2).")
    if not 0.0 <= test_fraction < 1.0:
        raise ConfigError(
            f"test_fraction must be in [0, 1) (0 = no test split); got {test_fraction!r}."
        )
    if val_fraction + test_fraction >= 1.0:
        raise ConfigError(
            f"val_fraction + test_fraction must leave images to train on; got "
            f"{val_fraction} + {test_fraction} = {val_fraction + test_fraction:g} >= 1."
        )


def stratified_split(
    labels: np.ndarray,
    val_fraction: float = 0.2,
    test_fraction: float = 0.1,
    seed: int = 0,
    class_names: tuple[str, ...] | None = None,
) -> Split:
    """Splits each class separately, so every split keeps the classes' proportions.

    Per class of n images: round(n * val_fraction) go to validation and
    round(n * test_fraction) to test (halves round up; at least one each when the fraction
    is above 0), the rest to training. Which images go where is a seeded permutation.

    Args:
        labels: np.ndarray. (N,) int labels.
        val_fraction: float. Share of each class held out for validation, in (0, 1).
        test_fraction: float. Share held out for test, in [0, 1); 0 means no test split.
        seed: int. Seed of the permutation.
        class_names: tuple of str or None. Used in error messages.

    Returns:
        Split.

    Raises:
        ConfigError: a fraction is out of range.
        DataError: a class has too few images to give every split at least one.

    Example:

    >>> split = stratified_split(np.array([0] * 8 + [1] * 4), 0.25, 0.0, seed=0)
    >>> np.bincount(np.array([0] * 8 + [1] * 4)[split.val]).tolist(), split.test.size
    ([2, 1], 0)
    """
    check_fractions(val_fraction, test_fraction)
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        n = len(members)
        n_val = _share(n, val_fraction)
        n_test = _share(n, test_fraction)
        if n - n_val - n_test < 1:
            name = class_names[label] if class_names else str(label)
            raise DataError(
                f"Class {name!r} has only {n} images: too few to give train, validation "
                f"(val_fraction={val_fraction}) and test (test_fraction={test_fraction}) "
                "at least one each. Add images or lower the fractions."
            )
        members = rng.permutation(members)
        parts["val"].append(members[:n_val])
        parts["test"].append(members[n_val : n_val + n_test])
        parts["train"].append(members[n_val + n_test :])
    joined = {
        name: np.sort(np.concatenate(chunks)) if chunks else np.zeros(0, np.int64)
        for name, chunks in parts.items()
    }
    return Split(joined["train"], joined["val"], joined["test"])


def _share(n: int, fraction: float) -> int:
    if fraction == 0:
        return 0
    return max(1, int(np.floor(n * fraction + 0.5)))


def channel_stats(
    images: np.ndarray, indices: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation in the [0, 1] scale, exact.

    Counts each channel's 256 byte values (a histogram), so the result is exact and needs
    no float copy of the images.

    Args:
        images: np.ndarray. (N, H, W, C) uint8.
        indices: np.ndarray or None. Which images to use (the training split); None = all.

    Returns:
        (mean, std): float32 arrays of shape (C,).

    Example:

    >>> x = np.zeros((2, 1, 1, 3), np.uint8)
    >>> x[1] = 255
    >>> [v.tolist() for v in channel_stats(x)]
    [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]
    """
    if indices is None:
        indices = np.arange(len(images))
    channels = images.shape[-1]
    histogram = np.zeros((channels, 256), dtype=np.int64)
    for start in range(0, len(indices), _STATS_CHUNK):
        chunk = images[indices[start : start + _STATS_CHUNK]]
        for c in range(channels):
            histogram[c] += np.bincount(chunk[..., c].ravel(), minlength=256)
    return histogram_stats(histogram)


def histogram_stats(histogram: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (mean, std) in the [0, 1] scale from (C, 256) byte-value counts, exact.

    Example:

    >>> h = np.zeros((3, 256), np.int64)
    >>> h[:, 0] = h[:, 255] = 1
    >>> [v.tolist() for v in histogram_stats(h)]
    [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]
    """
    histogram = np.asarray(histogram, np.int64)
    total = histogram.sum(axis=1)
    if not total.all():
        raise DataError("Cannot compute channel statistics of an empty training split.")
    values = np.arange(256, dtype=np.float64) / 255.0
    mean = histogram @ values / total
    var = histogram @ values**2 / total - mean**2
    return mean.astype(np.float32), np.sqrt(np.maximum(var, 0.0)).astype(np.float32)
