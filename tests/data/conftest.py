"""Shared set-up of the data tests: image files of every awkward kind, written on demand."""

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def _rgb(seed: int, height: int = 30, width: int = 40) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _jpeg_bytes(seed: int, size: int = 30) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(_rgb(seed, size, size)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture
def write_jpeg():
    """`write_jpeg(path, seed=0, mode="RGB", size=(40, 30))`: a valid JPEG, returns the path."""

    def write(path: Path, seed: int = 0, mode: str = "RGB", size=(40, 30)) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_rgb(seed, size[1], size[0])).convert(mode).save(path, "JPEG")
        return path

    return write


@pytest.fixture
def messy_kaggle(tmp_path, write_jpeg):
    """A Kaggle-layout folder with 6 good cats, 6 good dogs and every kind of bad file.

    Good and usable: cat.0-5 / dog.0-5 (RGB JPEG), cat.6.jpg (grayscale JPEG),
    dog.6.jpg (CMYK JPEG), dog.7.jpg (a PNG with a .jpg name). Skipped: cat.7.jpg
    (corrupt), cat.8.jpg (zero bytes), dog.8.jpg (truncated), cat.9.jpg (text),
    notes.txt and cat_10.jpg (names outside the pattern).
    """
    folder = tmp_path / "train"
    for i in range(6):
        write_jpeg(folder / f"cat.{i}.jpg", seed=i)
        write_jpeg(folder / f"dog.{i}.jpg", seed=100 + i)
    write_jpeg(folder / "cat.6.jpg", seed=6, mode="L")
    write_jpeg(folder / "dog.6.jpg", seed=106, mode="CMYK")
    Image.fromarray(_rgb(107)).save(folder / "dog.7.jpg", "PNG")
    corrupt = bytearray(_jpeg_bytes(7, size=64))
    # Random bytes in the entropy-coded data after the start-of-scan marker: the header
    # is valid, so Pillow opens the file, and then refuses to decode it.
    start = corrupt.index(b"\xff\xda") + 100
    noise = np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8).tobytes()
    corrupt[start : start + 500] = noise
    (folder / "cat.7.jpg").write_bytes(bytes(corrupt))
    (folder / "cat.8.jpg").write_bytes(b"")
    whole = _jpeg_bytes(108)
    (folder / "dog.8.jpg").write_bytes(whole[: len(whole) // 2])
    (folder / "cat.9.jpg").write_text("not an image at all\n")
    (folder / "notes.txt").write_text("hello\n")
    write_jpeg(folder / "cat_10.jpg", seed=10)
    (folder / ".DS_Store").write_bytes(b"\x00\x01")
    return folder


@pytest.fixture
def demo_cache(tmp_path, monkeypatch):
    """KERAS_RECIPES_CACHE pointed at a fresh folder; returns it."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("KERAS_RECIPES_CACHE", str(cache))
    return cache
