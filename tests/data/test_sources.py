"""Source resolution: Kaggle and sub-folder layouts, arrays, TFDS, and the errors."""

import sys
import types
from pathlib import Path

import numpy as np
import pytest

from keras_recipes.data import resolve_source
from keras_recipes.errors import DataError, KerasRecipesError


def test_kaggle_layout_lists_files_in_numeric_order_and_counts_other_names(messy_kaggle):
    source = resolve_source(str(messy_kaggle))
    assert source.kind == "kaggle"
    assert source.class_names == ("cat", "dog")
    names = [path.name for path, _ in source.files]
    assert names[:3] == ["cat.0.jpg", "cat.1.jpg", "cat.2.jpg"]
    assert {label for path, label in source.files if path.name.startswith("dog")} == {1}
    assert len(source.files) == 10 + 9  # cat.0-9, dog.0-8
    # .DS_Store is hidden, so neither listed nor counted.
    assert source.skipped == {"name_outside_pattern": 2}
    examples = source.skipped_examples["name_outside_pattern"]
    assert sorted(Path(p).name for p in examples) == ["cat_10.jpg", "notes.txt"]


def test_kaggle_numeric_order_puts_cat_2_before_cat_10(tmp_path, write_jpeg):
    for i in (10, 2, 1):
        write_jpeg(tmp_path / f"cat.{i}.jpg")
    write_jpeg(tmp_path / "dog.0.jpg")
    names = [p.name for p, _ in resolve_source(tmp_path).files]
    assert names == ["cat.1.jpg", "cat.2.jpg", "cat.10.jpg", "dog.0.jpg"]


def test_subfolder_layout_sorts_classes_and_skips_non_images(tmp_path, write_jpeg):
    for name in ("zebra", "ant"):
        for i in range(2):
            write_jpeg(tmp_path / name / f"{i}.jpg", seed=i)
    write_jpeg(tmp_path / "ant" / "nested" / "deep.jpeg")
    (tmp_path / "ant" / "labels.csv").write_text("x\n")
    (tmp_path / "README.md").write_text("x\n")
    (tmp_path / "empty").mkdir()
    source = resolve_source(tmp_path)
    assert source.kind == "subfolders"
    assert source.class_names == ("ant", "zebra")
    assert [(p.relative_to(tmp_path).as_posix(), y) for p, y in source.files] == [
        ("ant/0.jpg", 0),
        ("ant/1.jpg", 0),
        ("ant/nested/deep.jpeg", 0),
        ("zebra/0.jpg", 1),
        ("zebra/1.jpg", 1),
    ]
    assert source.skipped == {"not_an_image_extension": 1, "outside_class_folder": 1}


def test_missing_path_is_named(tmp_path):
    missing = tmp_path / "no" / "such"
    with pytest.raises(DataError, match=r"Data folder .*no/such does not exist"):
        resolve_source(str(missing))


def test_file_instead_of_folder(tmp_path):
    path = tmp_path / "cat.1.jpg"
    path.write_bytes(b"x")
    with pytest.raises(DataError, match=r"is a file, not a folder"):
        resolve_source(path)


def test_empty_folder(tmp_path):
    with pytest.raises(
        DataError, match=r"No images found in .*: .*cat.<n>.jpg.* the folder is empty"
    ):
        resolve_source(tmp_path)


def test_folder_without_images_lists_what_it_found(tmp_path):
    for name in ("a.txt", "b.csv", "c.json"):
        (tmp_path / name).write_text("x")
    with pytest.raises(DataError, match=r"found 3 entries: a.txt, b.csv, c.json"):
        resolve_source(tmp_path)


def test_parent_of_kaggle_folder_points_at_the_right_one(tmp_path, write_jpeg):
    write_jpeg(tmp_path / "train" / "cat.0.jpg")
    write_jpeg(tmp_path / "train" / "dog.0.jpg")
    write_jpeg(tmp_path / "test1" / "1.jpg")
    with pytest.raises(DataError, match=r"folder above a Kaggle training folder.*Pass .*train"):
        resolve_source(tmp_path)


def test_errors_are_toolkit_errors(tmp_path):
    with pytest.raises(KerasRecipesError, match="does not exist"):
        resolve_source(tmp_path / "nope")


def test_arrays_source_defaults_class_names():
    x = np.zeros((4, 8, 8, 3), np.uint8)
    source = resolve_source((x, np.array([0, 1, 2, 1])))
    assert source.kind == "arrays"
    assert source.class_names == ("0", "1", "2")
    assert source.labels.dtype == np.int32


def test_arrays_source_accepts_grayscale_and_column_labels():
    source = resolve_source((np.zeros((2, 8, 8)), np.array([[0], [1]])), class_names=["a", "b"])
    assert source.images.shape == (2, 8, 8, 1)
    assert source.labels.tolist() == [0, 1]


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        (np.zeros((2, 8, 8, 4)), np.array([0, 1]), r"shape \(N, H, W, 3\).*got \(2, 8, 8, 4\)"),
        (np.zeros((2, 8, 8, 3)), np.array([0, 1, 0]), r"one per image\); got \(3,\)"),
        (np.zeros((2, 8, 8, 3)), np.array([0.5, 1.0]), r"Labels must be integers"),
        (np.zeros((2, 8, 8, 3)), np.array([-1, 1]), r"found -1"),
        (np.zeros((2, 8, 8, 3), dtype=bool), np.array([0, 1]), r"uint8 or float; got dtype bool"),
    ],
)
def test_bad_arrays(x, y, message):
    with pytest.raises(DataError, match=message):
        resolve_source((x, y))


def test_too_few_class_names():
    with pytest.raises(DataError, match=r"up to 2, but only 2 class names"):
        resolve_source((np.zeros((3, 4, 4, 3)), np.array([0, 1, 2])), class_names=["a", "b"])


def test_unknown_spec_type():
    with pytest.raises(DataError, match=r"Unknown data source of type int"):
        resolve_source(3)


def test_tfds_not_installed(monkeypatch):
    # None in sys.modules makes `import tensorflow_datasets` raise ImportError.
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)
    with pytest.raises(
        DataError, match=r"needs the tensorflow-datasets package.*keras-recipes\[tfds\]"
    ):
        resolve_source("tfds:cats_vs_dogs")


def _fake_tfds(images, labels, *, prepare_error=None):
    """A stand-in for tensorflow_datasets with just what `from_tfds` calls."""

    class Builder:
        info = types.SimpleNamespace(
            features={"label": types.SimpleNamespace(names=["cat", "dog"])}
        )

        def download_and_prepare(self):
            if prepare_error is not None:
                raise prepare_error

        def as_dataset(self, split, as_supervised):
            assert (split, as_supervised) == ("train", True)
            return list(zip(images, labels, strict=True))

    module = types.ModuleType("tensorflow_datasets")
    module.builder = lambda name, data_dir=None: Builder()
    module.as_numpy = lambda dataset: iter(dataset)
    return module


def test_tfds_source_reads_images_of_different_sizes(monkeypatch):
    images = [np.zeros((5, 7, 3), np.uint8), np.full((9, 4, 3), 255, np.uint8)]
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", _fake_tfds(images, [0, 1]))
    source = resolve_source("tfds:cats_vs_dogs")
    assert (source.kind, source.description, source.class_names) == (
        "tfds",
        "tfds:cats_vs_dogs",
        ("cat", "dog"),
    )
    assert [image.shape for image in source.images] == [(5, 7, 3), (9, 4, 3)]
    assert source.labels.tolist() == [0, 1]


def test_tfds_offline_says_how_to_fix(monkeypatch):
    module = _fake_tfds([], [], prepare_error=ConnectionError("no network"))
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", module)
    monkeypatch.delenv("TFDS_DATA_DIR", raising=False)
    with pytest.raises(
        DataError, match=r"Cannot load TFDS data set 'cats_vs_dogs'.*no network.*TFDS_DATA_DIR"
    ):
        resolve_source("tfds:cats_vs_dogs")
