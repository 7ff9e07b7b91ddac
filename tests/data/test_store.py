"""The decoded-image store: decoded once, reused, rebuilt when the files change, safe under
kills and concurrent starts, and equal to decoding in memory."""

import errno
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from keras_recipes.cli import cache as cache_cli
from keras_recipes.data import Source, load_data, resolve_source
from keras_recipes.data import store as store_module
from keras_recipes.data.decode import decode_files, decode_source
from keras_recipes.data.split import channel_stats, pixel_moments
from keras_recipes.data.store import (
    HEADER_NAME,
    IMAGES_NAME,
    list_stores,
    load_decoded,
    stores_dir,
)
from keras_recipes.errors import DataError

SIZE = 16


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """A fresh KERAS_RECIPES_CACHE for every test, with the store switched on."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("KERAS_RECIPES_CACHE", str(folder))
    monkeypatch.delenv("KERAS_RECIPES_NO_CACHE", raising=False)
    return folder


@pytest.fixture
def kaggle(tmp_path, write_jpeg):
    folder = tmp_path / "train"
    for i in range(10):
        write_jpeg(folder / f"cat.{i}.jpg", seed=i)
        write_jpeg(folder / f"dog.{i}.jpg", seed=50 + i)
    return folder


def count_decodes(monkeypatch) -> list:
    """Counts the files the store decodes (in this process)."""
    calls = []
    real = store_module.decode_image

    def counted(path, size):
        calls.append(path)
        return real(path, size)

    monkeypatch.setattr(store_module, "decode_image", counted)
    return calls


def test_the_store_equals_decoding_in_memory_skips_included(messy_kaggle):
    source = resolve_source(messy_kaggle)
    stored = load_decoded(source, SIZE)
    memory = decode_source(source, SIZE)
    assert isinstance(stored.images, np.memmap) and stored.store.parent == stores_dir()
    assert np.array_equal(stored.images, memory.images)
    assert np.array_equal(stored.labels, memory.labels)
    assert stored.skipped == memory.skipped and stored.skipped["corrupt"] == 1
    assert stored.skipped_examples == memory.skipped_examples
    # The statistics from the stored moments are exactly those from the pixels.
    bundle = load_data(messy_kaggle, image_size=14, batch_size=4, val_fraction=0.3)
    memory_bundle = load_data(
        messy_kaggle, image_size=14, batch_size=4, val_fraction=0.3, cache=False
    )
    assert bundle.decoded.store is not None and memory_bundle.decoded.store is None
    expected = channel_stats(memory_bundle.decoded.images, memory_bundle.split.train)
    assert np.array_equal(bundle.mean, expected[0]) and np.array_equal(bundle.std, expected[1])
    assert bundle.describe()["skipped"] == memory_bundle.describe()["skipped"]
    assert bundle.describe()["store"] == str(bundle.decoded.store)


def test_the_decoding_threads_write_every_row_and_its_moments(messy_kaggle):
    source = resolve_source(messy_kaggle)
    stored = load_decoded(source, SIZE, workers=3)
    images, keep, reasons = decode_files([p for p, _ in source.files], SIZE, workers=1)
    assert np.array_equal(stored.images, images)
    assert len(stored) == len(keep) and reasons.count("corrupt") == 1
    expected = [pixel_moments(image) for image in images]
    assert np.array_equal(stored.moments, np.stack(expected))


def test_a_second_load_reuses_the_store_without_decoding(kaggle, monkeypatch, capsys):
    calls = count_decodes(monkeypatch)
    first = load_data(kaggle, image_size=SIZE, batch_size=4)
    assert len(calls) == 20
    assert "decoding 20 images" in capsys.readouterr().err
    second = load_data(kaggle, image_size=SIZE, batch_size=4)
    assert len(calls) == 20  # nothing decoded again
    err = capsys.readouterr().err
    assert f"reusing the decoded-image store {first.decoded.store} (20 images at 18 px" in err
    assert np.array_equal(second.decoded.images, first.decoded.images)
    batch_first = next(iter(first.train))[0].numpy()
    assert np.array_equal(next(iter(second.train))[0].numpy(), batch_first)


@pytest.mark.parametrize("change", ["edit", "add", "remove"])
def test_a_changed_added_or_removed_file_rebuilds(kaggle, write_jpeg, change, monkeypatch):
    before = load_decoded(resolve_source(kaggle), SIZE)
    calls = count_decodes(monkeypatch)
    if change == "edit":
        write_jpeg(kaggle / "cat.3.jpg", seed=99)
        os.utime(kaggle / "cat.3.jpg", ns=(1, 1))  # a new mtime even on a coarse clock
    elif change == "add":
        write_jpeg(kaggle / "dog.10.jpg", seed=98)
    else:
        (kaggle / "dog.9.jpg").unlink()
    after = load_decoded(resolve_source(kaggle), SIZE)
    assert after.store != before.store and len(calls) == len(after)
    assert len(after) == {"edit": 20, "add": 21, "remove": 19}[change]
    if change == "edit":
        assert not np.array_equal(after.images[3], before.images[3])
        assert np.array_equal(after.images[4], before.images[4])


def test_a_build_interrupted_at_its_last_write_leaves_no_store(kaggle, monkeypatch):
    def killed(path, data):
        raise KeyboardInterrupt

    monkeypatch.setattr(store_module, "_write_json", killed)
    with pytest.raises(KeyboardInterrupt):
        load_decoded(resolve_source(kaggle), SIZE)
    assert [p for p in stores_dir().iterdir() if not p.name.endswith(".lock")] == []


_KILLED_BUILD = """
import sys, time
from keras_recipes.data import store, resolve_source
real = store.decode_image
def slow(path, size):
    time.sleep(0.05)
    return real(path, size)
store.decode_image = slow
store.load_decoded(resolve_source(sys.argv[1]), 16, workers=1)
"""


@pytest.mark.slow  # a child Python importing TensorFlow: 5-15 s
def test_a_kill_during_the_build_leaves_no_complete_looking_store(kaggle, capsys):
    child = subprocess.Popen([sys.executable, "-c", _KILLED_BUILD, str(kaggle)])
    deadline = time.monotonic() + 60
    while not list(stores_dir().glob(".*.tmp-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # a few images into the build
    child.send_signal(signal.SIGKILL)
    child.wait()
    stores = list_stores()
    assert len(stores) == 1 and not stores[0].complete  # the temporary folder, marked so
    decoded = load_decoded(resolve_source(kaggle), SIZE)  # the lock died with the child
    assert len(decoded) == 20 and [s.complete for s in list_stores()] == [True]
    assert np.array_equal(decoded.images, decode_source(resolve_source(kaggle), SIZE).images)


def _load_in_child(folder: str, out: str) -> None:
    decoded = load_decoded(resolve_source(folder), SIZE)
    Path(out).write_text(json.dumps([str(decoded.store), int(decoded.images.sum())]))


def test_two_processes_started_together_decode_once(kaggle, tmp_path, monkeypatch):
    log = tmp_path / "decoded.log"
    real = store_module.decode_image

    def slow_logged(path, size):
        with open(log, "a") as handle:
            handle.write(f"{path}\n")
        time.sleep(0.02)
        return real(path, size)

    monkeypatch.setattr(store_module, "decode_image", slow_logged)
    context = multiprocessing.get_context("fork")  # the children inherit the patch
    children = [
        context.Process(target=_load_in_child, args=(str(kaggle), str(tmp_path / f"{i}.json")))
        for i in range(2)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(60)
    assert [child.exitcode for child in children] == [0, 0]
    assert len(log.read_text().splitlines()) == 20  # not 40
    results = [json.loads((tmp_path / f"{i}.json").read_text()) for i in range(2)]
    assert results[0] == results[1]


@pytest.mark.parametrize("damage", ["truncate", "zeroed", "header", "marker"])
def test_a_damaged_store_is_reported_in_one_line_and_rebuilt(kaggle, damage, capsys):
    path = load_decoded(resolve_source(kaggle), SIZE).store
    if damage == "truncate":
        with open(path / IMAGES_NAME, "r+b") as handle:
            handle.truncate(1000)
    elif damage == "zeroed":  # what a power cut before write-back leaves: the size, no pixels
        offset = np.load(path / IMAGES_NAME, mmap_mode="r").offset
        with open(path / IMAGES_NAME, "r+b") as handle:
            handle.seek(offset)
            handle.write(bytes((path / IMAGES_NAME).stat().st_size - offset))
    elif damage == "header":
        (path / HEADER_NAME).write_text("{not json")
    else:
        header = json.loads((path / HEADER_NAME).read_text())
        (path / HEADER_NAME).write_text(json.dumps({**header, "complete": False}))
    capsys.readouterr()
    decoded = load_decoded(resolve_source(kaggle), SIZE)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "unusable" in line]
    assert len(lines) == 1 and str(path) in lines[0]
    if damage == "zeroed":
        assert "image 0 does not match its stored moments" in lines[0]
    assert "decoding 20 images" in err
    assert np.array_equal(decoded.images, decode_source(resolve_source(kaggle), SIZE).images)


def test_an_unwritable_cache_folder_warns_and_decodes_in_memory(kaggle, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("KERAS_RECIPES_CACHE", str(blocker / "cache"))
    with pytest.warns(
        UserWarning,
        match=r"Cannot write the decoded-image store in .*a-file/cache"
        r"/stores .*KERAS_RECIPES_CACHE.*--no-cache",
    ):
        decoded = load_decoded(resolve_source(kaggle), SIZE)
    assert decoded.store is None and len(decoded) == 20


def test_a_full_disk_warns_and_leaves_no_debris(kaggle, monkeypatch):
    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(store_module.os, "posix_fallocate", full)
    with pytest.warns(UserWarning, match=r"No space left on device.*KERAS_RECIPES_CACHE"):
        decoded = load_decoded(resolve_source(kaggle), SIZE)
    assert decoded.store is None and len(decoded) == 20
    assert list_stores() == []


def test_no_cache_decodes_in_memory_and_writes_nothing(kaggle, monkeypatch):
    assert load_data(kaggle, image_size=SIZE, cache=False).decoded.store is None
    monkeypatch.setenv("KERAS_RECIPES_NO_CACHE", "1")  # what --no-cache sets
    assert load_data(kaggle, image_size=SIZE).decoded.store is None
    assert not stores_dir().exists()


@pytest.mark.parametrize("flags, stores", [([], 1), (["--no-cache"], 0)])
def test_the_no_cache_flag_trains_without_a_store(kaggle, tmp_path, capsys, flags, stores):
    from keras_recipes import cli

    argv = ["train", "--data", str(kaggle), "--image-size", "32", "--width", "0.0625",
            "--epochs", "1", "--batch-size", "8", "--out", str(tmp_path / "run")]  # fmt: skip
    argv += flags
    assert cli.main(argv) == 0, capsys.readouterr().err
    assert len(list_stores()) == stores
    assert "KERAS_RECIPES_NO_CACHE" not in os.environ  # a train() argument, not the process's


def test_cache_list_shows_sizes_and_clear_frees_them(kaggle, capsys):
    path = load_decoded(resolve_source(kaggle), SIZE).store
    size = sum(p.stat().st_size for p in path.iterdir())
    capsys.readouterr()
    assert cache_cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert f"{size / 1e6:.1f} MB" in out and f"20 x 16 px  {path}" in out
    assert f"source: {kaggle}" in out
    assert cache_cli.main(["clear"]) == 0
    assert f"Removed 1 decoded-image store(s) from {stores_dir()}" in capsys.readouterr().out
    assert not path.exists()
    cache_cli.main(["list"])
    assert "No decoded-image stores" in capsys.readouterr().out


def test_cache_with_a_bad_action_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cache_cli.main(["purge"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'purge'" in capsys.readouterr().err


def test_an_array_source_such_as_tfds_is_stored_keyed_by_its_pixels(capsys):
    # TFDS yields images of different sizes; resolve_source turns them into an object array.
    rng = np.random.default_rng(0)
    ragged = np.empty(6, dtype=object)
    ragged[:] = [rng.integers(0, 256, (20 + i, 30, 3), dtype=np.uint8) for i in range(6)]
    labels = np.array([0, 1] * 3, np.int32)
    source = Source("tfds", "tfds:fake", ("a", "b"), (), ragged, labels)
    first = load_decoded(source, SIZE)
    assert first.store.name.startswith("tfds-fake-16px-") and "decoding 6 images" in (
        capsys.readouterr().err
    )
    assert np.array_equal(first.images, decode_source(source, SIZE).images)
    assert load_decoded(source, SIZE).store == first.store
    assert "reusing" in capsys.readouterr().err
    ragged[0] = ragged[0] // 2  # other pixels: another store
    assert load_decoded(source, SIZE).store != first.store


def test_a_folder_of_only_bad_files_is_a_clear_error_every_time(tmp_path):
    folder = tmp_path / "train"
    folder.mkdir()
    (folder / "cat.0.jpg").write_text("not an image")
    (folder / "dog.0.jpg").write_bytes(b"")
    for _ in range(2):  # built once, then read back: the same message
        with pytest.raises(DataError, match=r"No usable images in .*every file was skipped"):
            load_data(folder, image_size=SIZE)
