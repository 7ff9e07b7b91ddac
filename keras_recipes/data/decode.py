"""Decoding, once: every file read, converted to RGB and resized to a square uint8 array."""

from __future__ import annotations

import io
import os
import struct
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image, UnidentifiedImageError

from keras_recipes.data.opencv import opencv
from keras_recipes.data.sources import MAX_LISTED, Source
from keras_recipes.errors import DataError

# The original resizes to 256 and crops 227; other crop sizes keep that ratio.
RESIZE_RATIO = 256 / 227
# A class below this share of the images gets a warning.
MIN_CLASS_SHARE = 0.10
RESAMPLE = Image.Resampling.BILINEAR

SKIP_UNREADABLE = "unreadable"
SKIP_EMPTY = "empty_file"
SKIP_NOT_IMAGE = "not_an_image"
SKIP_TRUNCATED = "truncated"
SKIP_CORRUPT = "corrupt"
SKIP_TOO_LARGE = "too_large"

# What Pillow raises for a malformed file besides OSError (and its subclasses
# UnidentifiedImageError, DecompressionBombError, caught above): SyntaxError from format
# plugins, ValueError from decoders, EOFError and struct.error from header parsers that read
# past a short file. A bad file is counted and skipped; anything else (a TypeError, an
# IndexError) is a bug in the toolkit or Pillow and must surface, not count as "corrupt".
_DECODE_ERRORS = (SyntaxError, ValueError, EOFError, struct.error)
T = TypeVar("T")

# The fast path: libjpeg-turbo (through simplejpeg) decodes and OpenCV resizes bilinearly
# without antialiasing (the geometry of Keras's image_dataset_from_directory); both release
# the GIL, so threads decode in parallel. Per 500 x 375 JPEG at 256 px, one thread: decode
# 0.42 CPU ms, resize 0.12, where TensorFlow's resize took 0.45 and Pillow's antialiased one
# 0.83. The store's build takes 0.82 CPU ms per image in all, Keras's loader 0.93
# (benchmarks/README.md, "Decoded-image store at scale"). Not bit-identical to Pillow:
# DECODE_SETTINGS in store.py says so. Only plain files take it: YCbCr or grayscale JPEGs
# (baseline or progressive) and RGB or L PNGs, at most MAX_IMAGE_PIXELS. Anything else
# (CMYK, palette, 16-bit, GIF) and anything these decoders reject (truncated, corrupt) goes
# to Pillow for its pixels or its skip reason.
_FAST_JPEG_COLORSPACES = ("YCbCr", "Gray")
_FAST_PNG_MODES = ("RGB", "L")
_JPEG_START = b"\xff\xd8\xff"
_PNG_START = b"\x89PNG\r\n\x1a\n"


def resize_size_for(image_size: int) -> int:
    """The square size images are stored at before cropping `image_size` (227 -> 256).

    Example:

    >>> resize_size_for(227), resize_size_for(64)
    (256, 72)
    """
    return round(image_size * RESIZE_RATIO)


@dataclass(frozen=True, eq=False)  # holds arrays: compare by identity
class DecodedImages:
    """A source decoded once: uint8 images at one square size, with their labels.

    Every pipeline is built from it; re-batching or changing the preprocessing never
    decodes again. `images` is an in-memory array (`decode_source`) or a read-only memory
    map of a decoded-image store (`keras_recipes.data.store.load_decoded`).

    Args:
        images: np.ndarray. (N, size, size, 3) uint8.
        labels: np.ndarray. (N,) int32, indices into `class_names`.
        class_names: tuple of str.
        source: str. The spec the images came from ("demo", a folder, "tfds:NAME", ...).
        layout: str. "kaggle", "subfolders", "tfds" or "arrays".
        skipped: dict. Files left out, reason -> count (names outside the pattern,
            unreadable, empty, not an image, truncated, corrupt, too large).
        skipped_examples: dict. Reason -> up to five of those paths.
        moments: np.ndarray or None. (N, 3, 2) per-image `pixel_moments` (a store keeps
            them, so the training statistics need no pass over the pixels).
        store: Path or None. The decoded-image store the images are memory-mapped from.

    Example:

    >>> import numpy as np
    >>> from keras_recipes.data.sources import resolve_source
    >>> x = np.full((4, 10, 10, 3), 128, np.uint8)
    >>> decoded = decode_source(resolve_source((x, np.array([0, 1, 0, 1]))), 8)
    >>> decoded.images.shape, decoded.class_counts()
    ((4, 8, 8, 3), {'0': 2, '1': 2})
    """

    images: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    class_names: tuple[str, ...]
    source: str
    layout: str
    skipped: dict[str, int] = field(default_factory=dict)
    skipped_examples: dict[str, list[str]] = field(default_factory=dict)
    moments: np.ndarray | None = field(default=None, repr=False)
    store: Path | None = None

    @property
    def size(self) -> int:
        """Height and width of the stored images."""
        return int(self.images.shape[1])

    def __len__(self) -> int:
        return len(self.labels)

    def class_counts(self) -> dict[str, int]:
        """Images per class name."""
        counts = np.bincount(self.labels, minlength=len(self.class_names))
        return {name: int(n) for name, n in zip(self.class_names, counts, strict=True)}


def decode_source(source: Source, size: int, *, workers: int | None = None) -> DecodedImages:
    """Decodes (files) or resizes (arrays) a source to (N, size, size, 3) uint8 and checks it.

    Args:
        source: Source. From `resolve_source`.
        size: int. Height and width to store (see `resize_size_for`).
        workers: int or None. Decoding threads (default: CPU count + 2, at most 16).

    Returns:
        DecodedImages.

    Raises:
        DataError: no image could be used, or fewer than two classes have any.
    """
    skipped = Counter(source.skipped)
    examples = {k: list(v) for k, v in source.skipped_examples.items()}
    if source.files:
        paths = [path for path, _ in source.files]
        labels = np.array([label for _, label in source.files], dtype=np.int32)
        images, keep, reasons = decode_files(paths, size, workers=workers)
        for path, reason in zip(paths, reasons, strict=True):
            if reason is not None:
                skipped[reason] += 1
                listed = examples.setdefault(reason, [])
                if len(listed) < MAX_LISTED:
                    listed.append(str(path))
        labels = labels[keep]
    else:
        images = resize_arrays(source.images, size, workers=workers)
        labels = np.asarray(source.labels, dtype=np.int32)
    decoded = DecodedImages(
        images,
        labels,
        source.class_names,
        source.description,
        source.layout,
        dict(skipped),
        examples,
    )
    check_classes(decoded)
    return decoded


def decode_files(
    paths: Sequence[str | os.PathLike], size: int, *, workers: int | None = None, fast: bool = True
) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """Decodes image files with `decode_image` in a thread pool; unusable files are skipped.

    Args:
        paths: the files.
        size: int. Height and width of the output.
        workers: int or None. Threads (default: CPU count + 2, at most 16).
        fast: bool. Plain JPEGs and PNGs through the fast path (False: Pillow only, as
            before the fast path; for benchmarks).

    Returns:
        (images, keep, reasons): the (K, size, size, 3) uint8 images that decoded, the
        indices into `paths` they came from, and per path None or the reason it was skipped.

    Example:

    >>> images, keep, reasons = decode_files(["/no/such.jpg"], 8)
    >>> images.shape, reasons
    ((0, 8, 8, 3), ['unreadable'])
    """
    out = np.empty((len(paths), size, size, 3), dtype=np.uint8)

    def work(index: int) -> str | None:
        result = decode_image(Path(paths[index]), size, fast=fast)
        if isinstance(result, str):
            return result
        out[index] = result
        return None

    reasons = map_decoding(work, len(paths), workers)
    keep = np.array([i for i, r in enumerate(reasons) if r is None], dtype=np.int64)
    # Compact in place: a copy of the whole array would double peak memory on big sets.
    for j, i in enumerate(keep):
        if i != j:
            out[j] = out[i]
    return out[: len(keep)], keep, reasons


def map_decoding(work: Callable[[int], T], count: int, workers: int | None = None) -> list[T]:
    """`[work(i) for i in range(count)]` in a thread pool, with Pillow's bomb warning off.

    Threads, not processes: libjpeg-turbo, OpenCV and Pillow release the GIL while they
    decode and resize, and nothing but the rows and reasons needs sharing.

    Example:

    >>> map_decoding(lambda i: i * i, 4, workers=2)
    [0, 1, 4, 9]
    """
    workers = workers or min(16, (os.cpu_count() or 1) + 2)
    with warnings.catch_warnings():
        # Images between MAX_IMAGE_PIXELS and twice that only warn; draft keeps them cheap.
        # Above twice the limit, Pillow raises and the file is counted as too large.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(work, range(count)))


def decode_image(path: Path, size: int, *, fast: bool = True) -> np.ndarray | str:
    """One file -> (size, size, 3) uint8, or the reason it cannot be used.

    Plain JPEGs and PNGs take the fast path (libjpeg-turbo and OpenCV, `fast=False` skips
    it); the rest Pillow. JPEGs are scaled down by 1/2, 1/4 or 1/8 while decoding when both
    sides stay at least `size` (Pillow's `draft`), so a 10000 x 10000 photo costs little
    more than a small one. Reasons: "unreadable", "empty_file", "not_an_image", "truncated",
    "corrupt", "too_large" (over twice `PIL.Image.MAX_IMAGE_PIXELS`, a decompression bomb).

    Example:

    >>> decode_image(Path("/no/such.jpg"), 8)
    'unreadable'
    """
    try:
        data = path.read_bytes()
    except OSError:
        return SKIP_UNREADABLE
    if not data:
        return SKIP_EMPTY
    if fast:
        pixels = _decode_plain(data, size)
        if pixels is not None:
            return _resize_bilinear(pixels, size)
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format == "JPEG":
                image.draft("RGB", (size, size))
            return _resize(_to_rgb(image), size)
    except Image.DecompressionBombError:
        return SKIP_TOO_LARGE
    except UnidentifiedImageError:
        return SKIP_NOT_IMAGE
    except OSError as err:
        return SKIP_TRUNCATED if "truncated" in str(err).lower() else SKIP_CORRUPT
    except _DECODE_ERRORS:
        return SKIP_CORRUPT


def _decode_plain(data: bytes, size: int) -> np.ndarray | None:
    """A plain JPEG's or PNG's RGB pixels, or None for Pillow to decode (or skip) the file."""
    if data.startswith(_JPEG_START):
        import simplejpeg  # imported on first use: 1 ms, but only builds need it

        try:
            height, width, colorspace, _ = simplejpeg.decode_jpeg_header(data)
            if colorspace not in _FAST_JPEG_COLORSPACES or height * width > Image.MAX_IMAGE_PIXELS:
                return None
            # As Pillow's draft: the largest of 1/8, 1/4, 1/2 that keeps both sides >= size.
            scale = min(height // size, width // size)
            ratio = next((r for r in (8, 4, 2) if scale >= r), 1)
            # fastdct: libjpeg's fast integer IDCT, TensorFlow's default and so what Keras's
            # loader sees: with it the stored pixels are within 1 level of the loader's (0.12
            # on average; the exact IDCT moves them by up to 7), and the build's CPU per
            # image is 0.83 ms instead of 0.96.
            return simplejpeg.decode_jpeg(
                data,
                "RGB",
                fastdct=True,
                min_height=-(-height // ratio),
                min_width=-(-width // ratio),
            )
        except ValueError:  # truncated or corrupt (strict decoding): Pillow names why
            return None
    if data.startswith(_PNG_START):
        try:
            with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
                area = image.width * image.height
                if image.mode in _FAST_PNG_MODES and area <= Image.MAX_IMAGE_PIXELS:
                    return np.asarray(image.convert("RGB"))
        except (OSError, *_DECODE_ERRORS):
            return None
    return None


def _resize_bilinear(pixels: np.ndarray, size: int) -> np.ndarray:
    if pixels.shape[:2] == (size, size):
        return pixels
    cv2 = opencv()
    # Half-pixel centres, no antialiasing: tf.image.resize's "bilinear" to within 1 level
    # (OpenCV weighs in 11-bit fixed point).
    return cv2.resize(pixels, (size, size), interpolation=cv2.INTER_LINEAR)


def resize_arrays(images: np.ndarray, size: int, *, workers: int | None = None) -> np.ndarray:
    """Array images (uint8, or float in [0, 1] or [0, 255]; 1 or 3 channels) -> uint8 squares.

    Float images whose maximum is at most 1 are taken as [0, 1], others as [0, 255]. An
    object array holds images of different sizes (as TFDS yields them).

    Example:

    >>> resize_arrays(np.ones((2, 4, 4, 3), np.float32), 2)[0, 0, 0].tolist()
    [255, 255, 255]
    """
    if images.dtype == object:
        converted = [_to_uint8(np.asarray(image)) for image in images]
    else:
        converted = _to_uint8(images)
        if converted.shape[1:] == (size, size, 3):
            return converted
    out = np.empty((len(converted), size, size, 3), dtype=np.uint8)

    def work(index: int) -> None:
        image = converted[index]
        if image.ndim == 2:
            image = image[..., None]
        if image.shape[-1] == 1:
            image = np.repeat(image, 3, axis=-1)
        if image.ndim != 3 or image.shape[-1] != 3:
            raise DataError(f"Image {index} has shape {image.shape}; expected (H, W, 3).")
        out[index] = _resize(Image.fromarray(np.ascontiguousarray(image), mode="RGB"), size)

    with ThreadPoolExecutor(max_workers=workers or min(16, (os.cpu_count() or 1) + 2)) as pool:
        list(pool.map(work, range(len(converted))))
    return out


def check_classes(decoded: DecodedImages) -> None:
    """Raises DataError for no images or fewer than two non-empty classes; warns on imbalance."""
    counts = decoded.class_counts()
    if len(decoded) == 0:
        found = ", ".join(f"{n} {reason}" for reason, n in sorted(decoded.skipped.items()))
        shown = "; ".join(
            f"{reason}: {', '.join(paths[:3])}"
            for reason, paths in sorted(decoded.skipped_examples.items())
        )
        raise DataError(
            f"No usable images in {decoded.source}: every file was skipped ({found or 'none'})."
            + (f" Examples: {shown}." if shown else "")
        )
    empty = [name for name, n in counts.items() if n == 0]
    present = {name: n for name, n in counts.items() if n > 0}
    if len(present) < 2:
        ((name, n),) = present.items()
        raise DataError(
            f"Only one class found in {decoded.source}: {n} images of {name!r}"
            + (f" and none of {empty}" if empty else "")
            + ". A classifier needs images of at least two classes."
        )
    if empty:
        raise DataError(
            f"Classes {empty} have no usable images in {decoded.source} (counts: {counts}); "
            "remove those classes or add images."
        )
    smallest = min(counts, key=counts.get)
    share = counts[smallest] / len(decoded)
    if share < MIN_CLASS_SHARE:
        warnings.warn(
            f"Classes are heavily unbalanced in {decoded.source}: {counts}; {smallest!r} is "
            f"only {share:.1%} of the images, so accuracy mostly measures the majority class.",
            UserWarning,
            stacklevel=3,
        )


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        image.load()
        return image
    if image.mode == "P" and "transparency" in image.info:
        # Converting straight to RGB would warn; the colours are the same either way.
        image = image.convert("RGBA")
    elif image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        # 16-bit and float images: scale the values into 0..255 instead of clipping them.
        pixels = np.asarray(image, dtype=np.float64)
        top = 65535.0 if pixels.max(initial=0) > 255 else 255.0
        image = Image.fromarray(np.clip(pixels * (255.0 / top), 0, 255).astype(np.uint8), "L")
    return image.convert("RGB")


def _resize(image: Image.Image, size: int) -> np.ndarray:
    if image.size != (size, size):
        # Squash, not pad or crop: the original resizes every image to a square.
        image = image.resize((size, size), RESAMPLE)
    return np.asarray(image, dtype=np.uint8)


def _to_uint8(images: np.ndarray) -> np.ndarray:
    if images.dtype == np.uint8:
        return images
    if np.issubdtype(images.dtype, np.floating):
        if not np.all(np.isfinite(images)):
            raise DataError("Array images contain NaN or infinite values.")
        scale = 255.0 if images.size and images.max() <= 1.0 else 1.0
        return np.clip(np.round(images * scale), 0, 255).astype(np.uint8)
    return np.clip(images, 0, 255).astype(np.uint8)
