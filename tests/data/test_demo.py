"""The generated demo set: deterministic bytes, the Kaggle layout, the cache."""

import os

import pytest
from PIL import Image

from keras_recipes.data import load_data, make_demo, resolve_source
from keras_recipes.data.demo import MANIFEST_NAME, demo_dir_name
from keras_recipes.errors import DataError


def _contents(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.jpg"))}


def test_same_bytes_every_time(tmp_path):
    first = _contents(make_demo(tmp_path / "a", n_per_class=3, size=48))
    second = _contents(make_demo(tmp_path / "b", n_per_class=3, size=48))
    assert first == second
    other_seed = _contents(make_demo(tmp_path / "c", n_per_class=3, size=48, seed=1))
    assert other_seed.keys() == first.keys() and other_seed != first


def test_kaggle_layout_read_by_the_kaggle_loader(tmp_path):
    folder = make_demo(tmp_path / "demo", n_per_class=3, size=48)
    names = sorted(os.listdir(folder))
    assert names == [MANIFEST_NAME] + [f"{c}.{i}.jpg" for c in ("cat", "dog") for i in range(3)]
    with Image.open(folder / "dog.2.jpg") as image:
        assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (48, 48))
    source = resolve_source(folder)
    assert source.kind == "kaggle" and source.skipped == {}
    assert [label for _, label in source.files] == [0, 0, 0, 1, 1, 1]


def test_a_complete_set_is_reused(tmp_path):
    folder = make_demo(tmp_path / "demo", n_per_class=2, size=40)
    stamp = (folder / "cat.0.jpg").stat().st_mtime_ns
    assert make_demo(folder, n_per_class=2, size=40) == folder
    assert (folder / "cat.0.jpg").stat().st_mtime_ns == stamp


def test_an_incomplete_set_is_regenerated(tmp_path):
    folder = make_demo(tmp_path / "demo", n_per_class=2, size=40)
    before = _contents(folder)
    (folder / "dog.1.jpg").unlink()
    make_demo(folder, n_per_class=2, size=40)
    assert _contents(folder) == before
    # Other settings in the same folder replace the set rather than mix with it.
    make_demo(folder, n_per_class=1, size=40)
    assert sorted(_contents(folder)) == ["cat.0.jpg", "dog.0.jpg"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left


def test_a_set_from_another_generator_version_is_rebuilt(tmp_path):
    folder = make_demo(tmp_path / "demo", n_per_class=1, size=40)
    before = _contents(folder)
    manifest = folder / MANIFEST_NAME
    manifest.write_text(manifest.read_text().replace('"fingerprint": "', '"fingerprint": "x'))
    (folder / "cat.0.jpg").write_bytes(b"old generator")
    make_demo(folder, n_per_class=1, size=40)
    assert _contents(folder) == before


def test_default_folder_is_under_the_cache(demo_cache):
    assert make_demo(n_per_class=2, size=40) == demo_cache / "demo-v1-2x40px-seed0"
    assert demo_dir_name(1000, 96, 0) == "demo-v1"


def test_unwritable_cache_is_a_clear_error(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("KERAS_RECIPES_CACHE", str(blocker / "cache"))
    with pytest.raises(DataError, match=r"Cannot write the demo data set.*KERAS_RECIPES_CACHE"):
        make_demo(n_per_class=1, size=40)


def test_a_folder_with_other_files_is_never_replaced(tmp_path):
    (tmp_path / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(DataError, match=r"the folder exists and holds other files"):
        make_demo(tmp_path, n_per_class=1, size=40)
    assert (tmp_path / "holiday.jpg").read_bytes() == b"precious"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"n_per_class": 0}, "n_per_class must be a positive integer"), ({"size": 16}, ">= 32")],
)
def test_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(DataError, match=message):
        make_demo(tmp_path / "demo", **kwargs)


@pytest.mark.slow
def test_load_demo_end_to_end(demo_cache):
    bundle = load_data("demo", image_size=64, batch_size=64)
    described = bundle.describe()
    assert (described["source"], described["layout"], described["resize_size"]) == (
        "demo",
        "kaggle",
        72,
    )
    assert described["counts"]["train"] == {"cat": 700, "dog": 700}
    assert described["counts"]["val"] == {"cat": 200, "dog": 200}
    assert described["skipped"] == {}
    assert (demo_cache / "demo-v1" / "cat.999.jpg").is_file()
