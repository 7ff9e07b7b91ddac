"""`load_data`: a source spec -> decoded once -> split -> tf.data pipelines."""

from __future__ import annotations

import os

from keras_recipes.data.bundle import DataBundle, build_pipelines
from keras_recipes.data.decode import resize_size_for
from keras_recipes.data.pipeline import check_preprocessing
from keras_recipes.data.sources import Spec, resolve_source
from keras_recipes.data.split import check_fractions
from keras_recipes.data.store import load_decoded
from keras_recipes.errors import ConfigError


def load_data(
    source: Spec = "demo",
    *,
    image_size: int = 227,
    batch_size: int = 64,
    preprocessing: str = "mean",
    seed: int = 0,
    val_fraction: float = 0.2,
    test_fraction: float = 0.1,
    class_names: tuple[str, ...] | list[str] | None = None,
    data_dir: str | os.PathLike | None = None,
    workers: int | None = None,
    cache: bool | None = None,
) -> DataBundle:
    """Loads a data source into a `DataBundle` of tf.data pipelines.

    Every image is decoded once, ever, converted to RGB and resized to the square
    `resize_size = round(image_size * 256 / 227)` (256 for 227, as the original), into the
    decoded-image store on disk (`keras_recipes.data.store`): later calls on the same files
    and size, in any process, memory-map it instead of decoding, and the pipelines read
    batches from it, so memory does not grow with the data set. Files that cannot be used
    are skipped and counted by reason (`bundle.describe()["skipped"]`).
    The images are split per class (seeded), the per-channel mean and std are taken from
    the training split, and the pipelines crop `image_size` squares from the stored images.

    Args:
        source: str, path or (x, y). "demo" (the built-in generated set), a folder
            (Kaggle `cat.<n>.jpg` / `dog.<n>.jpg`, or one sub-folder per class),
            "tfds:NAME" (needs `pip install keras-recipes[tfds]`), or numpy arrays
            (x: (N, H, W, 3) uint8 or float, y: (N,) int).
        image_size: int. Side of the crops the model sees (227 original; 64 for the demo).
        batch_size: int.
        preprocessing: str. "mean" (subtract the training mean, as the original),
            "standardize" ((x - mean) / std, per channel) or "none" ([0, 1]).
        seed: int. Seeds the split, the shuffle and the augmentation.
        val_fraction: float. Share of each class for validation.
        test_fraction: float. Share of each class for test; 0 means no test split.
        class_names: names of the array source's labels.
        data_dir: TFDS data folder (default `$TFDS_DATA_DIR` or TFDS's own).
        workers: int or None. Decoding processes (threads with `cache=False`).
        cache: bool or None. False decodes into memory, skipping the store; None (default)
            uses the store unless `$KERAS_RECIPES_NO_CACHE` is set (`--no-cache` passes False).

    Returns:
        DataBundle.

    Raises:
        DataError: the source is missing, empty, unreadable or has a single class.
        ConfigError: a setting is out of range.

    Example:

    >>> import numpy as np
    >>> x = np.random.default_rng(0).integers(0, 256, (30, 40, 40, 3), dtype=np.uint8)
    >>> bundle = load_data((x, np.arange(30) % 2), image_size=32, batch_size=8)
    >>> bundle.resize_size, bundle.num_train, bundle.num_val, bundle.num_test
    (36, 20, 6, 4)
    """
    # Settings are checked before any decoding, so a typo costs no time.
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise ConfigError(f"image_size must be a positive integer; got {image_size!r}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer; got {batch_size!r}.")
    check_preprocessing(preprocessing)
    check_fractions(val_fraction, test_fraction)
    resolved = resolve_source(source, class_names=class_names, data_dir=data_dir)
    decoded = load_decoded(resolved, resize_size_for(image_size), cache=cache, workers=workers)
    return build_pipelines(
        decoded,
        image_size=image_size,
        batch_size=batch_size,
        preprocessing=preprocessing,
        seed=seed,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
    )
