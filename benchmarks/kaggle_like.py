"""Kaggle-like JPEGs for the scale benchmark: `cat.<n>.jpg` / `dog.<n>.jpg`, photo-like
content, sizes spread like the Kaggle dogs-vs-cats training set's (most 500 px on the long
side, about 500x375), written once into the cache folder and reused.

    python benchmarks/kaggle_like.py 100000       # -> $KERAS_RECIPES_CACHE/kaggle-like-100000

The content is a smooth random colour field (a few-pixel random image scaled up bicubic, so
it has large soft regions like a photo's background), a few blurred ellipses (the
"subject") and mild sensor-like noise; at quality 90 the files come out at 20-40 KB, the
same order as the real set's, so reading and decoding cost what they would on it.
"""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from docparser import parser_from_doc
from PIL import Image, ImageDraw

JPEG_QUALITY = 90
# The real training set: 25,000 files, most 500 px wide or high (about 70% of them), the
# rest spread down to ~50 px; the usual shape 500x375 (4:3), many 3:4 and near-square.
LONG_SIDE_500 = 0.7
ASPECTS = (4 / 3, 3 / 4, 1.0, 1.5, 2 / 3)
ASPECT_WEIGHTS = (0.45, 0.25, 0.1, 0.12, 0.08)
NOISE_TILE = 512
_NOISE: np.ndarray | None = None


def image_shape(rng: np.random.Generator) -> tuple[int, int]:
    """(width, height) of one image, drawn like the real set's sizes."""
    long_side = 500 if rng.random() < LONG_SIDE_500 else int(rng.integers(150, 500))
    aspect = ASPECTS[rng.choice(len(ASPECTS), p=ASPECT_WEIGHTS)]
    if aspect >= 1:
        return long_side, max(32, round(long_side / aspect))
    return max(32, round(long_side * aspect)), long_side


def photo_like(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """A smooth colour field, a few soft shapes and a little noise."""
    field = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    image = Image.fromarray(field).resize((width, height), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(2, 6))):
        x0, y0 = rng.integers(0, width), rng.integers(0, height)
        w, h = rng.integers(width // 8, width // 2), rng.integers(height // 8, height // 2)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.ellipse([x0, y0, x0 + w, y0 + h], fill=colour)
    # One tile of noise per process, read at a random offset: drawing fresh normal noise
    # for every image took two thirds of the generation time.
    top, left = rng.integers(0, NOISE_TILE - height + 1), rng.integers(0, NOISE_TILE - width + 1)
    noise = _noise_tile()[top : top + height, left : left + width]
    pixels = np.asarray(image, np.int16) + noise
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _noise_tile() -> np.ndarray:
    global _NOISE
    if _NOISE is None:
        noise = np.random.default_rng(0).normal(0, 4, (NOISE_TILE, NOISE_TILE, 3))
        _NOISE = np.round(noise).astype(np.int16)
    return _NOISE


def _write_range(folder: str, start: int, stop: int, per_class: int) -> int:
    for i in range(start, stop):
        name = f"cat.{i}.jpg" if i < per_class else f"dog.{i - per_class}.jpg"
        path = Path(folder) / name
        if path.exists():
            continue
        rng = np.random.default_rng(i)
        photo_like(rng, *image_shape(rng)).save(path, "JPEG", quality=JPEG_QUALITY)
    return stop - start


def make_kaggle_like(folder: Path, count: int, *, processes: int | None = None) -> Path:
    """Writes (once) `count` images, half cats and half dogs, into `folder`; returns it.

    Each image is a function of its index alone, so an interrupted run resumes where it
    stopped and a larger set begins with the files of a smaller one. A `.complete` marker
    is written last.

    Example:

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     folder = make_kaggle_like(Path(tmp) / "k", 4, processes=1)
    ...     sorted(p.name for p in folder.glob("*.jpg"))
    ['cat.0.jpg', 'cat.1.jpg', 'dog.0.jpg', 'dog.1.jpg']
    """
    marker = folder / ".complete"
    if marker.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    per_class = count // 2
    chunk = 500
    starts = range(0, 2 * per_class, chunk)
    with ProcessPoolExecutor(processes or os.cpu_count() or 1) as pool:
        done = pool.map(
            _write_range,
            [str(folder)] * len(starts),
            starts,
            [min(s + chunk, 2 * per_class) for s in starts],
            [per_class] * len(starts),
        )
        total = 0
        for n in done:
            total += n
            print(f"\r{total}/{2 * per_class} images", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    marker.write_text(f"{2 * per_class}\n")
    return folder


def link_subset(source: Path, folder: Path, count: int) -> Path:
    """A folder of the first `count // 2` cats and dogs of `source`, as hard links (no copy)."""
    marker = folder / ".complete"
    if marker.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for kind in ("cat", "dog"):
        for i in range(count // 2):
            target = folder / f"{kind}.{i}.jpg"
            if not target.exists():
                os.link(source / f"{kind}.{i}.jpg", target)
    marker.write_text(f"{count}\n")
    return folder


def main(argv: list[str] | None = None) -> int:
    """Command line: the number of images and, optionally, the folder."""
    parser = parser_from_doc(__doc__)
    parser.add_argument("count", type=int)
    parser.add_argument("--folder", type=Path, default=None)
    parser.add_argument("--processes", type=int, default=None)
    args = parser.parse_args(argv)
    from keras_recipes.data.demo import default_cache_dir

    folder = args.folder or default_cache_dir() / f"kaggle-like-{args.count}"
    began = time.perf_counter()
    make_kaggle_like(folder, args.count, processes=args.processes)
    print(f"{folder}: {args.count} images in {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
