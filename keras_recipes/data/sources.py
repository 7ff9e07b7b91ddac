"""Data sources: a spec ("demo", a folder, "tfds:NAME" or arrays) resolved to files or arrays."""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from keras_recipes.data.demo import make_demo
from keras_recipes.errors import DataError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
KAGGLE_CLASSES = ("cat", "dog")
# cat.<n>.jpg / dog.<n>.jpg, as in the Kaggle/Asirra training folder.
KAGGLE_PATTERN = re.compile(r"^(cat|dog)\.(\d+)\.(jpe?g|png)$", re.IGNORECASE)
TFDS_PREFIX = "tfds:"
TFDS_INSTALL_HINT = "pip install keras-recipes[tfds]"
SKIP_NAME = "name_outside_pattern"
SKIP_EXTENSION = "not_an_image_extension"
SKIP_OUTSIDE_CLASS = "outside_class_folder"
MAX_LISTED = 5

Spec = str | os.PathLike | tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True, eq=False)  # holds arrays: compare by identity
class Source:
    """What a data spec resolved to: labelled files to decode, or arrays already decoded.

    Args:
        kind: str. "kaggle", "subfolders", "demo", "tfds" or "arrays".
        description: str. The spec as the user gave it (a path, "demo", "tfds:NAME").
        class_names: tuple of str. Label i is `class_names[i]`.
        files: tuple of (Path, int). Files to decode with their labels (folder sources).
        images: np.ndarray or None. (N, H, W, 3) images (array and tfds sources).
        labels: np.ndarray or None. (N,) int labels matching `images`.
        skipped: dict. Files left out while listing, by reason -> count.
        skipped_examples: dict. Reason -> a few of those file paths.

    Example:

    >>> import numpy as np
    >>> x = np.zeros((4, 8, 8, 3), np.uint8)
    >>> source = resolve_source((x, np.array([0, 1, 0, 1])))
    >>> source.kind, source.class_names
    ('arrays', ('0', '1'))
    """

    kind: str
    description: str
    class_names: tuple[str, ...]
    files: tuple[tuple[Path, int], ...] = field(default=(), repr=False)
    images: np.ndarray | None = field(default=None, repr=False)
    labels: np.ndarray | None = field(default=None, repr=False)
    skipped: dict[str, int] = field(default_factory=dict)
    skipped_examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def layout(self) -> str:
        """The folder layout ("kaggle" or "subfolders"), or the kind for other sources."""
        return "kaggle" if self.kind == "demo" else self.kind


def resolve_source(
    spec: Spec,
    *,
    class_names: tuple[str, ...] | list[str] | None = None,
    data_dir: str | os.PathLike | None = None,
    split: str = "train",
    demo_dir: str | os.PathLike | None = None,
) -> Source:
    """Resolves a data spec to a `Source`.

    Args:
        spec: str, path or (x, y). "demo" (the built-in set; a folder named demo is
            "./demo"); "tfds:NAME" (e.g. "tfds:cats_vs_dogs");
            a folder in the Kaggle layout (`cat.<n>.jpg` / `dog.<n>.jpg`) or with one
            sub-folder per class (detected automatically); or arrays `(x, y)` with `x` of
            shape (N, H, W, 3) (uint8, or float in [0, 1] or [0, 255]) and integer `y`.
        class_names: names of the array source's labels (default "0", "1", ...).
        data_dir: TFDS data folder (default: TFDS's own, or `$TFDS_DATA_DIR`).
        split: TFDS split to read.
        demo_dir: folder of the demo set (default: the cache, see `make_demo`).

    Returns:
        Source.

    Raises:
        DataError: the path is missing, holds no usable images, or TFDS is unavailable.

    Example:

    >>> import numpy as np
    >>> source = resolve_source((np.zeros((2, 4, 4, 3)), np.array([0, 1])), class_names=["a", "b"])
    >>> source.class_names
    ('a', 'b')
    """
    if isinstance(spec, tuple | list) and len(spec) == 2 and not isinstance(spec, str):
        return from_arrays(spec[0], spec[1], class_names=class_names)
    if not isinstance(spec, str | os.PathLike):
        raise DataError(
            f"Unknown data source of type {type(spec).__name__}: expected 'demo', "
            "'tfds:NAME', a folder path, or a tuple (x, y) of numpy arrays."
        )
    text = os.fspath(spec)
    if text == "demo":
        folder = make_demo(demo_dir)
        found = scan_kaggle(folder)
        return Source(
            "demo",
            "demo",
            found.class_names,
            found.files,
            skipped=found.skipped,
            skipped_examples=found.skipped_examples,
        )
    if text.startswith(TFDS_PREFIX):
        return from_tfds(text[len(TFDS_PREFIX) :], data_dir=data_dir, split=split)
    return scan_folder(Path(text).expanduser())


def scan_folder(folder: Path) -> Source:
    """A folder in the Kaggle layout or with one sub-folder per class, detected."""
    if not folder.exists():
        parent = folder.parent
        hint = "" if parent.is_dir() else f" (and neither does {parent})"
        raise DataError(
            f"Data folder {folder} does not exist{hint}. Pass 'demo', 'tfds:NAME', or a "
            "folder of cat.<n>.jpg / dog.<n>.jpg files or of one sub-folder per class."
        )
    if not folder.is_dir():
        raise DataError(
            f"Data source {folder} is a file, not a folder: pass the folder that holds the "
            "images (cat.<n>.jpg / dog.<n>.jpg, or one sub-folder per class)."
        )
    entries = _visible(folder)
    if any(KAGGLE_PATTERN.match(p.name) for p in entries if p.is_file()):
        return scan_kaggle(folder)
    subdirs = [p for p in entries if p.is_dir()]
    for sub in subdirs:
        names = {m.group(1).lower() for p in _visible(sub) if (m := KAGGLE_PATTERN.match(p.name))}
        if len(names) > 1:
            raise DataError(
                f"{folder} looks like the folder above a Kaggle training folder: {sub} holds "
                f"both cat.<n>.jpg and dog.<n>.jpg files. Pass {sub} instead."
            )
    if subdirs:
        return scan_subfolders(folder)
    raise DataError(_nothing_found(folder, entries))


def scan_kaggle(folder: Path) -> Source:
    """`cat.<n>.jpg` / `dog.<n>.jpg` files; other names are skipped and counted."""
    files: list[tuple[Path, int]] = []
    skipped: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    for path in _visible(folder):
        match = KAGGLE_PATTERN.match(path.name) if path.is_file() else None
        if match is None:
            _skip(skipped, examples, SKIP_NAME, path)
            continue
        files.append((path, KAGGLE_CLASSES.index(match.group(1).lower())))
    # Numeric order (cat.2 before cat.10) keeps the listing, and so the split, stable.
    files.sort(key=lambda item: (item[1], int(KAGGLE_PATTERN.match(item[0].name).group(2))))
    if not files:
        raise DataError(_nothing_found(folder, _visible(folder)))
    return Source(
        "kaggle", str(folder), KAGGLE_CLASSES, tuple(files), None, None, dict(skipped), examples
    )


def scan_subfolders(folder: Path) -> Source:
    """One sub-folder per class (class names sorted); files are searched recursively."""
    files: list[tuple[Path, int]] = []
    skipped: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    class_dirs = sorted((p for p in _visible(folder) if p.is_dir()), key=lambda p: p.name)
    for path in _visible(folder):
        if path.is_file():
            _skip(skipped, examples, SKIP_OUTSIDE_CLASS, path)
    class_names = []
    for class_dir in class_dirs:
        found = [
            p
            for p in sorted(class_dir.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        ]
        images = [p for p in found if p.suffix.lower() in IMAGE_EXTENSIONS]
        for path in found:
            if path.suffix.lower() not in IMAGE_EXTENSIONS:
                _skip(skipped, examples, SKIP_EXTENSION, path)
        if not images:
            continue  # an empty or image-less folder is not a class
        label = len(class_names)
        class_names.append(class_dir.name)
        files.extend((path, label) for path in images)
    if not files:
        raise DataError(_nothing_found(folder, _visible(folder)))
    return Source(
        "subfolders",
        str(folder),
        tuple(class_names),
        tuple(files),
        None,
        None,
        dict(skipped),
        examples,
    )


def from_arrays(
    x: np.ndarray, y: np.ndarray, *, class_names: tuple[str, ...] | list[str] | None = None
) -> Source:
    """Images (N, H, W, 3) and integer labels (N,), checked."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise DataError(
            f"Array images must have shape (N, H, W, 3) (or (N, H, W) / (N, H, W, 1) for "
            f"grayscale); got {x.shape}."
        )
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise DataError(f"Array images must be uint8 or float; got dtype {x.dtype}.")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) != len(x):
        raise DataError(
            f"Labels must have shape (N,) with N = {len(x)} (one per image); got {y.shape}."
        )
    if not np.issubdtype(y.dtype, np.integer):
        if np.issubdtype(y.dtype, np.floating) and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        else:
            raise DataError(f"Labels must be integers 0..K-1; got dtype {y.dtype}.")
    if len(y) and y.min() < 0:
        raise DataError(f"Labels must be integers 0..K-1; found {int(y.min())}.")
    num_classes = int(y.max()) + 1 if len(y) else 0
    if class_names is None:
        class_names = [str(i) for i in range(num_classes)]
    elif len(class_names) < num_classes:
        raise DataError(
            f"Labels go up to {num_classes - 1}, but only {len(class_names)} class names were "
            f"given: {list(class_names)}."
        )
    return Source(
        "arrays", f"arrays{tuple(x.shape)}", tuple(class_names), (), x, y.astype(np.int32)
    )


def from_tfds(
    name: str, *, data_dir: str | os.PathLike | None = None, split: str = "train"
) -> Source:
    """A TFDS data set, e.g. "cats_vs_dogs", read whole into memory.

    Needs the optional `tensorflow_datasets` package, and the data set downloaded (once,
    on a machine with internet access) into `data_dir` or `$TFDS_DATA_DIR`.
    """
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise DataError(
            f"Data source 'tfds:{name}' needs the tensorflow-datasets package, which is not "
            f"installed. Install it with `{TFDS_INSTALL_HINT}` (or pass a folder of images "
            "or 'demo' instead)."
        ) from None
    if not name:
        raise DataError("Empty TFDS name: use 'tfds:NAME', e.g. 'tfds:cats_vs_dogs'.")
    data_dir = os.fspath(data_dir) if data_dir is not None else None
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as err:  # TFDS raises its own error types for unknown names
        raise DataError(f"Unknown TFDS data set {name!r}: {err}") from None
    try:
        builder.download_and_prepare()
        dataset = builder.as_dataset(split=split, as_supervised=True)
    except Exception as err:  # network, file and TFDS errors all mean "not here"
        where = data_dir or os.environ.get("TFDS_DATA_DIR") or "the default TFDS folder"
        raise DataError(
            f"Cannot load TFDS data set {name!r} (split {split!r}) from {where}: "
            f"{type(err).__name__}: {err}. Without internet access, download it on a connected "
            f"machine (`python -c \"import tensorflow_datasets as tfds; tfds.load('{name}')\"`) "
            "and copy the folder here, then point data_dir or TFDS_DATA_DIR at it."
        ) from None
    label_feature = builder.info.features["label"]
    class_names = tuple(label_feature.names)
    images, labels = [], []
    for image, label in tfds.as_numpy(dataset):
        images.append(image)
        labels.append(int(label))
    if not images:
        raise DataError(f"TFDS data set {name!r} split {split!r} is empty.")
    # Sizes differ from image to image, so the images stay a list until they are resized.
    ragged = np.empty(len(images), dtype=object)
    ragged[:] = images
    return Source("tfds", f"tfds:{name}", class_names, (), ragged, np.asarray(labels, np.int32))


def _visible(folder: Path) -> list[Path]:
    # Hidden entries (.DS_Store, ._cat.1.jpg from macOS, the demo's manifest) are never data.
    try:
        return sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    except OSError as err:
        raise DataError(f"Cannot list {folder}: {err.strerror or err}.") from None


def _skip(counter: Counter, examples: dict[str, list[str]], reason: str, path: Path) -> None:
    counter[reason] += 1
    listed = examples.setdefault(reason, [])
    if len(listed) < MAX_LISTED:
        listed.append(str(path))


def _nothing_found(folder: Path, entries: list[Path]) -> str:
    names = [p.name + ("/" if p.is_dir() else "") for p in entries]
    shown = ", ".join(names[:MAX_LISTED]) + (", ..." if len(names) > MAX_LISTED else "")
    found = f"found {len(names)} entries: {shown}" if names else "the folder is empty"
    return (
        f"No images found in {folder}: expected files named cat.<n>.jpg / dog.<n>.jpg "
        f"(Kaggle layout) or one sub-folder of images per class; {found}."
    )
