"""The decoded-image store: every source decoded once, ever, into a memory-mapped file.

A store is a folder under `$KERAS_RECIPES_CACHE/stores` (default
`~/.cache/keras_recipes/stores`) named after the source, the stored size and a key:

- `images.npy`: the (N, S, S, 3) uint8 images, a plain `.npy` (self-describing, opened with
  `np.load(mmap_mode="r")`): training reads the rows it needs and the operating system
  keeps what fits in its page cache, reclaimable, instead of a copy in the process;
- `moments.npy`: (N, 3, 2) int64 per-image channel sums of values and squared values
  (`pixel_moments`), so the training split's exact mean and std are a sum of rows rather
  than a pass over every pixel;
- `header.json`: labels, class names, the file list, the skip counts by reason, the key,
  the shapes and byte sizes, and `"complete": true`.

The key hashes what decides the content: every listed file's path, label, size and
modification time, the stored size and `DECODE_SETTINGS`; so a changed, added or removed
file gives a new key and a new store, and an unchanged source never decodes again.

A build decodes in threads that write their rows straight into the file, into a
temporary folder renamed into place when complete: a killed build leaves no store that can
be taken for complete. The pixels are not synced to disk (a store is a cache, and a
synchronous write-back of 196 kB per image cost over half of the build's speed); what a
power cut right after a build could lose, the check on open finds: it compares a few
images with their moments. An exclusive `fcntl.flock` on a lock file per store makes
processes that start together (a chief and its workers) build it once: the others wait,
then read it.

`keras-recipes cache list` shows the stores and `keras-recipes cache clear` frees them;
`--no-cache` (or `KERAS_RECIPES_NO_CACHE=1`) decodes in memory as before.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import sys
import time
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from keras_recipes.data.decode import (
    DecodedImages,
    check_classes,
    decode_image,
    decode_source,
    map_decoding,
    resize_arrays,
)
from keras_recipes.data.demo import default_cache_dir
from keras_recipes.data.sources import MAX_LISTED, Source
from keras_recipes.data.split import pixel_moments
from keras_recipes.errors import DataError

# Everything besides the files and the size that decides the stored pixels; bump "version"
# whenever decode.py changes how it decodes, so old stores are not taken for new ones.
DECODE_SETTINGS = {
    "version": 3,
    "resample": "bilinear",
    "jpeg_draft": True,
    "rgb": "pillow",
    "fast_path": "libjpeg-turbo fast integer IDCT, opencv bilinear, no antialias",
}
STORE_FORMAT = 2  # 2: per-image moments instead of histograms
IMAGES_NAME = "images.npy"
MOMENTS_NAME = "moments.npy"
HEADER_NAME = "header.json"
NO_CACHE_ENV = "KERAS_RECIPES_NO_CACHE"


@dataclass(frozen=True)
class StoreInfo:
    """One store on disk, as `keras-recipes cache list` shows it.

    Args:
        path: Path. The store's folder.
        source: str. The source it was decoded from.
        images: int. Images stored.
        size: int. Their height and width.
        bytes: int. Disk used by the folder.
        complete: bool. False for a broken store or a build's debris.
    """

    path: Path
    source: str
    images: int
    size: int
    bytes: int
    complete: bool


def stores_dir() -> Path:
    """`$KERAS_RECIPES_CACHE/stores` (default `~/.cache/keras_recipes/stores`).

    Example:

    >>> stores_dir().name
    'stores'
    """
    return default_cache_dir() / "stores"


def cache_enabled(cache: bool | None = None) -> bool:
    """`cache` if given, else True unless `$KERAS_RECIPES_NO_CACHE` is set to a non-zero value.

    `--no-cache` passes False through `train(cache=...)`; the environment variable turns
    the store off for every process that inherits it.

    Example:

    >>> cache_enabled(False), cache_enabled(True)
    (False, True)
    """
    if cache is not None:
        return cache
    return os.environ.get(NO_CACHE_ENV, "").strip() in ("", "0")


def store_key(source: Source, size: int) -> str:
    """A hash of what decides the store's content (see the module docstring).

    Files are identified by path, size and modification time (a `stat` each, not a read:
    0.3 s for 100,000 files); array sources (TFDS) by a hash of their pixels.

    Example:

    >>> import numpy as np
    >>> from keras_recipes.data.sources import resolve_source
    >>> s = resolve_source((np.zeros((2, 4, 4, 3), np.uint8), np.array([0, 1])))
    >>> len(store_key(s, 8)), store_key(s, 8) == store_key(s, 9)
    (64, False)
    """
    digest = hashlib.sha256()
    head = [STORE_FORMAT, DECODE_SETTINGS, size, source.kind, source.description]
    digest.update(json.dumps([head, list(source.class_names)], sort_keys=True).encode())
    for path, label in source.files:
        try:
            stat = path.stat()
            digest.update(f"{path}\0{label}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{path}\0{label}\0missing\n".encode())
    if not source.files:
        for image in source.images:
            digest.update(np.ascontiguousarray(image).data)
        digest.update(np.asarray(source.labels, np.int32).tobytes())
    return digest.hexdigest()


def store_path(source: Source, size: int, key: str) -> Path:
    """`stores_dir() / "<source name>-<size>px-<key[:16]>"`."""
    name = Path(source.description.rstrip("/")).name or source.kind
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or source.kind
    return stores_dir() / f"{slug[:40]}-{size}px-{key[:16]}"


def load_decoded(
    source: Source, size: int, *, cache: bool | None = None, workers: int | None = None
) -> DecodedImages:
    """The source's images at `size`: from its store (built first if needed), or in memory.

    Array sources given as numpy arrays are resized in memory (they are in memory already);
    files, the demo and TFDS go through a store unless `cache` is False (see
    `cache_enabled`). A cache folder that cannot be written (read-only, full) falls back to
    decoding in memory with a warning that names the folder and how to choose another.

    Args:
        source: Source. From `resolve_source`.
        size: int. Height and width to store.
        cache: bool or None. None reads `$KERAS_RECIPES_NO_CACHE`.
        workers: int or None. Decoding threads (default: CPU count + 2, at most 16).

    Returns:
        DecodedImages, its `images` a read-only memory map when it comes from a store.

    Example:

    >>> import numpy as np
    >>> from keras_recipes.data.sources import resolve_source
    >>> source = resolve_source((np.zeros((4, 8, 8, 3), np.uint8), np.array([0, 1, 0, 1])))
    >>> load_decoded(source, 6).images.shape
    (4, 6, 6, 3)
    """
    if not cache_enabled(cache) or source.kind == "arrays":
        return decode_source(source, size, workers=workers)
    key = store_key(source, size)
    path = store_path(source, size, key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        decoded = _open_or_build(path, key, source, size, workers)
    except OSError as err:
        warnings.warn(_unwritable_message(path.parent, err), UserWarning, stacklevel=2)
        return decode_source(source, size, workers=workers)
    check_classes(decoded)
    return decoded


def _unwritable_message(folder: Path, err: OSError) -> str:
    reason = err.strerror or str(err)
    return (
        f"Cannot write the decoded-image store in {folder} ({reason}); decoding into memory "
        "instead, which needs the whole data set in RAM. Point KERAS_RECIPES_CACHE at a "
        "writable folder with room for it (about size x size x 3 bytes per image), or pass "
        "--no-cache to skip the store on purpose."
    )


def _open_or_build(
    path: Path, key: str, source: Source, size: int, workers: int | None
) -> DecodedImages:
    decoded = open_store(path, key)
    if decoded is not None:
        return _reused(decoded)
    with _locked(path.with_name(f".{path.name}.lock")):
        # Another process may have built it while this one waited for the lock.
        decoded = open_store(path, key, report=False)
        if decoded is not None:
            return _reused(decoded)
        build_store(source, size, path, key, workers=workers)
    decoded = open_store(path, key)  # build_store said where and how big
    if decoded is None:
        raise DataError(f"The decoded-image store {path} was built but cannot be read back.")
    return decoded


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    # flock is released by the kernel when its holder dies, so a killed build never
    # leaves the others waiting forever (a lock *file* that merely exists would).
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def open_store(path: Path, key: str | None = None, *, report: bool = True) -> DecodedImages | None:
    """The store at `path` as DecodedImages, or None when it is missing or unusable.

    A store that exists but fails a check (no completion marker, another key, a file of the
    wrong size: truncated) is reported in one line when `report` is set, and the caller
    rebuilds it.

    Args:
        path: Path. The store's folder.
        key: str or None. The key it must have (None: any).
        report: bool. Print one line saying why a store that exists cannot be used.

    Returns:
        DecodedImages or None.
    """
    if not path.exists():
        return None
    try:
        header, images, moments = _read_checked(path, key)
    except (OSError, ValueError, KeyError, TypeError) as err:
        if report:
            _say(f"decoded-image store {path} is unusable ({err}); rebuilding it")
        return None
    return DecodedImages(
        images,
        np.asarray(header["labels"], np.int32),
        tuple(header["class_names"]),
        header["source"],
        header["layout"],
        dict(header["skipped"]),
        {k: list(v) for k, v in header["skipped_examples"].items()},
        moments=moments,
        store=path,
    )


def _reused(decoded: DecodedImages) -> DecodedImages:
    _say(
        f"reusing the decoded-image store {decoded.store} ({len(decoded):,} images at "
        f"{decoded.size} px, {_gb(_folder_bytes(decoded.store))})"
    )
    return decoded


def _read_checked(path: Path, key: str | None) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    header = json.loads((path / HEADER_NAME).read_text())
    if header.get("complete") is not True or header.get("format") != STORE_FORMAT:
        raise ValueError("no completion marker")
    if key is not None and header["key"] != key:
        raise ValueError("made for other files")
    for name in (IMAGES_NAME, MOMENTS_NAME):
        actual = (path / name).stat().st_size
        if actual != header["bytes"][name]:
            raise ValueError(f"{name} has {actual:,} bytes, expected {header['bytes'][name]:,}")
    images = np.load(path / IMAGES_NAME, mmap_mode="r")
    moments = np.load(path / MOMENTS_NAME, mmap_mode="r")
    count, size = header["count"], header["size"]
    if images.shape != (count, size, size, 3) or images.dtype != np.uint8:
        raise ValueError(f"{IMAGES_NAME} holds {images.shape} {images.dtype}")
    if moments.shape != (count, 3, 2) or len(header["labels"]) != count:
        raise ValueError("the moments or labels do not match the images")
    _spot_check(images, moments)
    return header, images, moments


def _spot_check(images: np.ndarray, moments: np.ndarray, samples: int = 8) -> None:
    """Raises ValueError when one of `samples` images spread over the store does not have
    its stored moments: pages lost in a power cut (they read as zeros) or overwritten.
    Costs under a millisecond."""
    if not len(images):
        return
    for row in np.unique(np.linspace(0, len(images) - 1, samples).astype(np.int64)):
        if not np.array_equal(pixel_moments(images[row]), moments[row]):
            raise ValueError(f"image {row} does not match its stored moments")


def _say(message: str) -> None:
    print(f"data: {message}", file=sys.stderr, flush=True)


def _gb(size: int) -> str:
    return f"{size / 1e9:.2f} GB" if size >= 1e8 else f"{size / 1e6:.1f} MB"


def _folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.iterdir() if p.is_file())


def build_store(
    source: Source, size: int, path: Path, key: str, *, workers: int | None = None
) -> None:
    """Decodes `source` into a new store at `path` (replacing one there), atomically.

    Writes into `.<name>.tmp-<pid>` beside it and renames that folder into place last, so
    a kill at any moment leaves the old store (or none), never a partial one. The caller
    holds the store's lock.

    Raises:
        OSError: the folder cannot be written or the disk is full (checked up front: the
            images file is allocated before any decoding).
    """
    for debris in path.parent.glob(f".{path.name}.tmp-*"):
        shutil.rmtree(debris, ignore_errors=True)  # a killed build's; we hold the lock
    temp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temp.mkdir()
    try:
        began = time.perf_counter()
        count = len(source.files) or len(source.images)
        _say(f"decoding {count:,} images at {size} px into the store {path} (once)")
        header = _write_images(source, size, temp, workers)
        header.update(key=key, source=source.description, layout=source.layout)
        header["complete"] = True  # written last, inside the folder renamed into place
        _write_json(temp / HEADER_NAME, header)
        if path.exists():
            shutil.rmtree(path)
        os.rename(temp, path)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    seconds = time.perf_counter() - began
    _say(
        f"decoded {count:,} images in {seconds:.1f} s ({count / max(seconds, 1e-9):,.0f}/s); "
        f"store {path} holds {header['count']:,} ({_gb(_folder_bytes(path))})"
    )


def _write_json(path: Path, data: dict[str, Any]) -> None:
    with open(path, "w") as handle:
        json.dump(data, handle)
        handle.flush()
        os.fsync(handle.fileno())


def _write_images(source: Source, size: int, folder: Path, workers: int | None) -> dict:
    """Decodes into `folder`'s images and moments files; returns the header so far."""
    skipped = Counter(source.skipped)
    examples = {k: list(v) for k, v in source.skipped_examples.items()}
    if source.files:
        paths = [str(p) for p, _ in source.files]
        labels = np.array([label for _, label in source.files], np.int32)
        reasons = decode_into(folder, paths, size, workers=workers)
        keep = np.array([i for i, r in enumerate(reasons) if r is None], np.int64)
        for file, reason in zip(paths, reasons, strict=True):
            if reason is not None:
                skipped[reason] += 1
                listed = examples.setdefault(reason, [])
                if len(listed) < MAX_LISTED:
                    listed.append(file)
        if len(keep) < len(paths):
            _compact(folder, keep)
        files, labels = [paths[i] for i in keep], labels[keep]
    else:
        files, labels = [], np.asarray(source.labels, np.int32)
        images = _allocate(folder, len(labels), size)
        images[:] = resize_arrays(source.images, size)
        _moments_of(folder, images)
    return {
        "format": STORE_FORMAT,
        "decode_settings": DECODE_SETTINGS,
        "count": len(labels),
        "size": size,
        "labels": labels.tolist(),
        "class_names": list(source.class_names),
        "files": files,
        "skipped": dict(sorted(skipped.items())),
        "skipped_examples": examples,
        "bytes": {n: (folder / n).stat().st_size for n in (IMAGES_NAME, MOMENTS_NAME)},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _allocate(folder: Path, count: int, size: int) -> np.ndarray:
    images = np.lib.format.open_memmap(
        folder / IMAGES_NAME, mode="w+", dtype=np.uint8, shape=(count, size, size, 3)
    )
    # open_memmap makes a sparse file; writing its pages on a full disk would kill the
    # process with SIGBUS. Allocating the blocks now turns that into an OSError (ENOSPC).
    with open(folder / IMAGES_NAME, "r+b") as handle:
        os.posix_fallocate(handle.fileno(), 0, os.fstat(handle.fileno()).st_size)
    return images


def _allocate_moments(folder: Path, count: int) -> np.ndarray:
    return np.lib.format.open_memmap(
        folder / MOMENTS_NAME, mode="w+", dtype=np.int64, shape=(count, 3, 2)
    )


def _moments_of(folder: Path, images: np.ndarray) -> None:
    moments = _allocate_moments(folder, len(images))
    for i in range(len(images)):
        moments[i] = pixel_moments(images[i])


def decode_into(
    folder: Path, paths: Sequence[str], size: int, *, workers: int | None = None
) -> list[str | None]:
    """Decodes `paths` into `folder`'s images and moments files.

    `decode_image` in a thread pool (`map_decoding`): each thread writes its rows straight
    into the files, so nothing but the skip reasons is gathered. Throughput against Keras's
    loader: benchmarks/README.md, "Decoded-image store at scale".

    Returns:
        Per path None (decoded into its row) or the reason it was skipped.
    """
    _allocate(folder, len(paths), size)
    moments = _allocate_moments(folder, len(paths))
    with _row_writer(folder / IMAGES_NAME) as write_row:

        def work(row: int) -> str | None:
            result = decode_image(Path(paths[row]), size)
            if isinstance(result, str):
                return result
            write_row(row, result)
            moments[row] = pixel_moments(result)
            return None

        return map_decoding(work, len(paths), workers)


@contextlib.contextmanager
def _row_writer(images_file: Path) -> Iterator:
    """`write_row(index, image)` into the allocated `.npy` file, by `os.pwrite`.

    Not through a memory map: on 1,000 files at 256 px on 2 cores, writing the rows by
    pwrite built at 1,627 images/s, through the map at 1,532 (a page fault per 4 kB) and
    with the map's flush (msync) at 715 (benchmarks/README.md, "Rerun on 2026-12-04").
    """
    offset = np.load(images_file, mmap_mode="r").offset
    handle = os.open(images_file, os.O_WRONLY)

    def write_row(index: int, image: np.ndarray) -> None:
        data = memoryview(np.ascontiguousarray(image)).cast("B")
        if os.pwrite(handle, data, offset + index * len(data)) != len(data):
            raise OSError(f"short write to {images_file}")

    try:
        yield write_row
    finally:
        os.close(handle)


def _compact(folder: Path, keep: np.ndarray) -> None:
    """Rewrites the images and moments with only the rows in `keep` (skipped files
    leave empty rows; this runs only when some file was skipped)."""
    for name in (IMAGES_NAME, MOMENTS_NAME):
        full = np.load(folder / name, mmap_mode="r")
        part = folder / f"kept-{name}"
        out = np.lib.format.open_memmap(
            part, mode="w+", dtype=full.dtype, shape=(len(keep), *full.shape[1:])
        )
        for start in range(0, len(keep), 1024):
            out[start : start + 1024] = full[keep[start : start + 1024]]
        del full, out
        os.replace(part, folder / name)


def list_stores(root: Path | None = None) -> list[StoreInfo]:
    """Every store under `root` (default `stores_dir()`), with a build's debris marked
    incomplete.

    Example:

    >>> import tempfile
    >>> list_stores(Path(tempfile.mkdtemp()))
    []
    """
    root = stores_dir() if root is None else root
    if not root.is_dir():
        return []
    found = []
    for path in sorted(p for p in root.iterdir() if p.is_dir()):
        try:
            header, images, _ = _read_checked(path, None)
            source, count, size, complete = header["source"], len(images), images.shape[1], True
        except (OSError, ValueError, KeyError, TypeError):
            source, count, size, complete = "?", 0, 0, False
        found.append(StoreInfo(path, source, count, size, _tree_bytes(path), complete))
    return found


def _tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def clear_stores(root: Path | None = None) -> tuple[int, int]:
    """Deletes every store (and lock file) under `root`; returns (stores, bytes) freed.

    A store being built by a running process keeps its lock: it is skipped, not broken.
    """
    root = stores_dir() if root is None else root
    stores, freed = 0, 0
    for info in list_stores(root):
        lock_name = f".{info.path.name.split('.tmp-')[0].lstrip('.')}.lock"
        with open(root / lock_name, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # being built right now
            shutil.rmtree(info.path, ignore_errors=True)
            (root / lock_name).unlink(missing_ok=True)
        stores, freed = stores + 1, freed + info.bytes
    return stores, freed
