"""The built-in demo data set: generated 'cats' and 'dogs' written in the Kaggle layout."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from keras_recipes.errors import DataError

# Bump when the generator changes, so old caches are not mistaken for the new set.
DEMO_VERSION = "v1"
DEMO_CLASSES = ("cat", "dog")
MANIFEST_NAME = ".keras_recipes_demo.json"
JPEG_QUALITY = 90
DEFAULT_N_PER_CLASS = 1000
DEFAULT_SIZE = 96
DEFAULT_SEED = 0


def default_cache_dir() -> Path:
    """`$KERAS_RECIPES_CACHE`, else `~/.cache/keras_recipes`."""
    root = os.environ.get("KERAS_RECIPES_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "keras_recipes"


def demo_dir_name(n_per_class: int, size: int, seed: int) -> str:
    """`demo-v1` for the default set; other settings get their own folder."""
    if (n_per_class, size, seed) == (DEFAULT_N_PER_CLASS, DEFAULT_SIZE, DEFAULT_SEED):
        return f"demo-{DEMO_VERSION}"
    return f"demo-{DEMO_VERSION}-{n_per_class}x{size}px-seed{seed}"


def make_demo(
    directory: str | Path | None = None,
    n_per_class: int = DEFAULT_N_PER_CLASS,
    size: int = DEFAULT_SIZE,
    seed: int = DEFAULT_SEED,
) -> Path:
    """Writes (once) the demo set as `cat.<n>.jpg` / `dog.<n>.jpg` and returns its folder.

    Each image holds one "creature" (a head with eyes and two ears on an oval body) at a
    random position, size and rotation, in a random colour, over a random smooth background
    with a little clutter and pixel noise. Cats have a striped coat and pointed ears, dogs a
    spotted coat and round floppy ears. Stripes and spots cover the same share of the coat
    and the two ear shapes the same area, and the colours do not depend on the class, so no
    pixel, colour or brightness statistic tells the classes apart: logistic regression on
    raw pixels stays near chance, while a small CNN, which detects the textures anywhere,
    learns them in a few epochs (see `benchmarks/demo_difficulty.py`).

    The set is generated from `seed` alone (the same bytes on the same numpy and Pillow
    versions) into a temporary folder that is renamed into place when complete, so an
    interrupted or concurrent run never leaves a half-written set behind. A complete set
    is reused.

    Args:
        directory: str, Path or None. Where to write; None means
            `default_cache_dir() / demo_dir_name(...)` (`~/.cache/keras_recipes/demo-v1`).
        n_per_class: int. Images per class.
        size: int. Width and height in pixels (>= 32).
        seed: int. The generator's seed.

    Returns:
        Path of the folder holding the images.

    Example:

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     folder = make_demo(Path(tmp) / "demo", n_per_class=3, size=48)
    ...     sorted(p.name for p in folder.glob("*.jpg"))[:4]
    ['cat.0.jpg', 'cat.1.jpg', 'cat.2.jpg', 'dog.0.jpg']
    """
    if not isinstance(n_per_class, int) or n_per_class < 1:
        raise DataError(f"n_per_class must be a positive integer; got {n_per_class!r}.")
    if not isinstance(size, int) or size < 32:
        raise DataError(f"The demo image size must be an integer >= 32; got {size!r}.")
    if directory is None:
        directory = default_cache_dir() / demo_dir_name(n_per_class, size, seed)
    directory = Path(directory).expanduser()
    manifest = {
        "version": DEMO_VERSION,
        "n_per_class": n_per_class,
        "size": size,
        "seed": seed,
        "fingerprint": _fingerprint(size, seed),
    }
    if _is_complete(directory, manifest):
        return directory
    if directory.exists() and not _only_demo_files(directory):
        raise DataError(
            f"Cannot write the demo data set to {directory}: the folder exists and holds "
            "other files. Pass an empty or new folder."
        )

    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    except OSError as err:
        raise DataError(
            f"Cannot write the demo data set to {directory}: {err.strerror or err}. "
            "Set KERAS_RECIPES_CACHE to a writable folder."
        ) from None
    try:
        _write_images(tmp, n_per_class, size, seed)
        (tmp / MANIFEST_NAME).write_text(json.dumps(manifest, sort_keys=True))
        if _is_complete(directory, manifest):
            return directory  # another process finished while we generated
        if directory.exists():
            # An incomplete set (an interrupted run, or other settings) is replaced.
            shutil.rmtree(directory, ignore_errors=True)
        try:
            os.replace(tmp, directory)
        except OSError as err:
            # Another process may have renamed its copy into place first: as good as ours.
            if not _is_complete(directory, manifest):
                raise DataError(
                    f"Cannot write the demo data set to {directory}: {err.strerror or err}."
                ) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return directory


def _only_demo_files(directory: Path) -> bool:
    # Never delete a folder the user filled: only demo images and our manifest may go.
    if not directory.is_dir():
        return False
    pattern = re.compile(r"^(cat|dog)\.\d+\.jpg$")
    return all(
        p.is_file() and (p.name == MANIFEST_NAME or pattern.match(p.name))
        for p in directory.iterdir()
    )


def _fingerprint(size: int, seed: int) -> str:
    # A hash of the first image of each class: a cache written by another version of the
    # generator (or of numpy / Pillow drawing differently) no longer matches and is rebuilt.
    digest = hashlib.sha256()
    for label in range(len(DEMO_CLASSES)):
        image = render_creature(label, size, np.random.default_rng([seed, label, 0]))
        digest.update(image.tobytes())
    return digest.hexdigest()[:16]


def _is_complete(directory: Path, manifest: dict) -> bool:
    try:
        found = json.loads((directory / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return False
    if found != manifest:
        return False
    n = manifest["n_per_class"]
    return all((directory / f"{c}.{i}.jpg").is_file() for c in DEMO_CLASSES for i in range(n))


def _write_images(folder: Path, n_per_class: int, size: int, seed: int) -> None:
    jobs = [(label, index) for label in range(len(DEMO_CLASSES)) for index in range(n_per_class)]

    def write(job: tuple[int, int]) -> None:
        label, index = job
        image = render_creature(label, size, np.random.default_rng([seed, label, index]))
        image.save(folder / f"{DEMO_CLASSES[label]}.{index}.jpg", quality=JPEG_QUALITY)

    # JPEG encoding releases the GIL; each image has its own generator, so order is free.
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        list(pool.map(write, jobs))


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(0, 256, 3))


def _far_colour(rng: np.random.Generator, avoid: np.ndarray) -> tuple[int, int, int]:
    # The creature must stand out from the background, but its colour must not depend on
    # the class; rejection sampling keeps both true.
    for _ in range(100):
        colour = rng.integers(0, 256, 3)
        if np.abs(colour - avoid).sum() > 200:
            break
    return tuple(int(v) for v in colour)


def _rotate(points: np.ndarray, angle: float, centre: tuple[float, float]) -> list[tuple]:
    c, s = math.cos(angle), math.sin(angle)
    x = points[:, 0] * c - points[:, 1] * s + centre[0]
    y = points[:, 0] * s + points[:, 1] * c + centre[1]
    return list(zip(x.tolist(), y.tolist(), strict=True))


def _ellipse(a: float, b: float, n: int = 24) -> np.ndarray:
    t = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
    return np.stack([a * np.cos(t), b * np.sin(t)], axis=1)


def _background(rng: np.random.Generator, size: int) -> tuple[Image.Image, np.ndarray]:
    low, high = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    grid = rng.random((5, 5)).astype(np.float32)
    field = np.asarray(
        Image.fromarray(grid, mode="F").resize((size, size), Image.Resampling.BICUBIC)
    )
    field = np.clip(field, 0.0, 1.0)[..., None]
    pixels = low * (1.0 - field) + high * field
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode="RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(1, 4))):
        kind = rng.integers(0, 3)
        x0, y0 = rng.uniform(-0.1, 1.1, 2) * size
        extent = rng.uniform(0.05, 0.35) * size
        angle = rng.uniform(0, 2 * math.pi)
        x1, y1 = x0 + extent * math.cos(angle), y0 + extent * math.sin(angle)
        if kind == 0:
            draw.line([(x0, y0), (x1, y1)], fill=_colour(rng), width=int(rng.integers(1, 4)))
        elif kind == 1:
            box = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * extent / 2
            draw.polygon(_rotate(box, angle, (x0, y0)), fill=_colour(rng))
        else:
            r = extent / 3
            draw.ellipse([x0 - r, y0 - r, x0 + r, y0 + r], outline=_colour(rng), width=2)
    return image, pixels.mean(axis=(0, 1))


def _coat(rng: np.random.Generator, label: int, size: int, radius: float) -> Image.Image:
    """A mask of the coat pattern: stripes for cats, spots for dogs, same coverage (~45%)."""
    coat = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(coat)
    if label == 0:
        spacing = rng.uniform(0.5, 0.7) * radius
        width = max(1, round(0.45 * spacing))
        angle = rng.uniform(0, math.pi)
        direction = np.array([math.cos(angle), math.sin(angle)])
        normal = np.array([-direction[1], direction[0]])
        phase = rng.uniform(0, spacing)
        for k in range(-int(size / spacing) - 1, int(size / spacing) + 2):
            mid = np.array([size / 2, size / 2]) + normal * (k * spacing + phase)
            ends = [tuple(mid - direction * size), tuple(mid + direction * size)]
            draw.line(ends, fill=255, width=width)
    else:
        spot = rng.uniform(0.22, 0.3) * radius
        spacing = spot * math.sqrt(math.pi / 0.45)
        offset = rng.uniform(0, spacing, 2)
        for gx in np.arange(-spacing, size + spacing, spacing):
            for gy in np.arange(-spacing, size + spacing, spacing):
                x, y = np.array([gx, gy]) + offset + rng.uniform(-0.3, 0.3, 2) * spacing
                draw.ellipse([x - spot, y - spot, x + spot, y + spot], fill=255)
    return coat


def render_creature(label: int, size: int, rng: np.random.Generator) -> Image.Image:
    """One demo image of class `label` (0 cat, 1 dog), drawn from `rng` alone.

    Example:

    >>> render_creature(0, 48, np.random.default_rng(0)).size
    (48, 48)
    """
    image, mean_bg = _background(rng, size)
    colour = _far_colour(rng, mean_bg)
    radius = rng.uniform(0.18, 0.23) * size
    angle = rng.uniform(0, 2 * math.pi)
    up = np.array([math.cos(angle - math.pi / 2), math.sin(angle - math.pi / 2)])
    middle = rng.uniform(0.4, 0.6, 2) * size
    centre = tuple(middle + up * 0.9 * radius)  # the head; the body hangs below it
    body_centre = tuple(middle - up * 0.9 * radius)
    spread = rng.uniform(0.55, 0.8)  # half the angle between the ears, radians
    silhouette = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(silhouette)
    body = _ellipse(0.85 * radius, 1.35 * radius)
    draw.polygon(_rotate(body, angle, body_centre), fill=255)
    for side in (-1, 1):
        if label == 0:
            # A pointed ear: base on the head's rim, tip well outside it.
            half_base, tip = 0.45 * radius, 2.0 * radius
            ear = np.array([[0.8 * radius, -half_base], [tip, 0.0], [0.8 * radius, half_base]])
        else:
            # A round floppy ear of the same visible area, hanging beside the head.
            ear = _ellipse(0.55 * radius, 0.313 * radius) + np.array([1.2 * radius, 0.0])
        draw.polygon(_rotate(ear, angle + side * spread - math.pi / 2, centre), fill=255)
    draw.ellipse(
        [centre[0] - radius, centre[1] - radius, centre[0] + radius, centre[1] + radius],
        fill=255,
    )
    # The coat's second colour is darker or lighter at random, whatever the class.
    base = np.array(colour, dtype=np.float64)
    shade = base * 0.35 if rng.random() < 0.5 else base + (255 - base) * 0.65
    pattern = Image.composite(
        Image.new("RGB", (size, size), tuple(int(v) for v in shade)),
        Image.new("RGB", (size, size), colour),
        _coat(rng, label, size, radius),
    )
    image.paste(pattern, (0, 0), silhouette)
    draw = ImageDraw.Draw(image)
    eye_colour = _far_colour(rng, base)
    eyes = np.array([[0.4 * radius, -0.35 * radius], [0.4 * radius, 0.35 * radius]])
    for x, y in _rotate(eyes, angle - math.pi / 2, centre):
        r = 0.12 * radius
        draw.ellipse([x - r, y - r, x + r, y + r], fill=eye_colour)
    pixels = np.asarray(image.filter(ImageFilter.SMOOTH), dtype=np.float32)
    pixels = pixels + rng.normal(0.0, rng.uniform(3, 8), pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode="RGB")
