"""Decoding once: good files load, bad ones are skipped and counted by reason."""

import warnings

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_recipes.data import decode as decode_module
from keras_recipes.data import decode_files, decode_source, resize_size_for, resolve_source
from keras_recipes.data.decode import decode_image, resize_arrays
from keras_recipes.errors import DataError


def test_resize_size_keeps_the_256_to_227_ratio():
    assert [resize_size_for(s) for s in (227, 224, 64, 32)] == [256, 253, 72, 36]


def test_messy_kaggle_folder_loads_the_good_files_and_counts_the_bad(messy_kaggle):
    decoded = decode_source(resolve_source(messy_kaggle), 16)
    assert decoded.images.shape == (15, 16, 16, 3)
    assert decoded.images.dtype == np.uint8
    assert decoded.labels.dtype == np.int32
    assert decoded.class_counts() == {"cat": 7, "dog": 8}
    assert decoded.skipped == {
        "corrupt": 1,
        "empty_file": 1,
        "name_outside_pattern": 2,
        "not_an_image": 1,
        "truncated": 1,
    }
    assert {k: [p.rsplit("/", 1)[-1] for p in v] for k, v in decoded.skipped_examples.items()} == {
        "name_outside_pattern": ["cat_10.jpg", "notes.txt"],
        "corrupt": ["cat.7.jpg"],
        "empty_file": ["cat.8.jpg"],
        "not_an_image": ["cat.9.jpg"],
        "truncated": ["dog.8.jpg"],
    }
    assert (decoded.source, decoded.layout) == (str(messy_kaggle), "kaggle")


def test_grayscale_cmyk_and_png_named_jpg_become_rgb(messy_kaggle):
    decoded = decode_source(resolve_source(messy_kaggle), 16)
    files = [p.name for p, _ in resolve_source(messy_kaggle).files]
    usable = [n for n in files if n not in {"cat.7.jpg", "cat.8.jpg", "cat.9.jpg", "dog.8.jpg"}]
    image = dict(zip(usable, decoded.images, strict=True))
    gray = image["cat.6.jpg"].astype(int)
    assert np.array_equal(gray[..., 0], gray[..., 1])
    assert np.array_equal(gray[..., 0], gray[..., 2])
    assert image["dog.6.jpg"].std() > 0  # the CMYK JPEG decoded to a real picture
    # The PNG is lossless, so its pixels are the fast path's bilinear resize of the original:
    # what image_dataset_from_directory computes (tf.image.resize), to within one level.
    original = np.asarray(Image.open(messy_kaggle / "dog.7.jpg").convert("RGB"))
    keras_like = tf.image.resize(original, (16, 16), "bilinear", antialias=False)
    keras_like = tf.cast(tf.clip_by_value(tf.round(keras_like), 0, 255), tf.uint8).numpy()
    difference = np.abs(image["dog.7.jpg"].astype(int) - keras_like)
    assert difference.max() == 1 and (difference == 0).mean() > 0.5
    # The CMYK JPEG is Pillow's, exactly (libjpeg-turbo cannot convert Adobe CMYK).
    pillow = decode_image(messy_kaggle / "dog.6.jpg", 16, fast=False)
    assert np.array_equal(image["dog.6.jpg"], pillow)


def test_gif_named_jpg_decodes_its_first_frame_as_rgb(tmp_path):
    frames = [Image.new("RGB", (20, 20), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    path = tmp_path / "cat.1.jpg"
    frames[0].save(path, "GIF", save_all=True, append_images=frames[1:])
    images, keep, reasons = decode_files([path], 8)
    assert keep.tolist() == [0] and reasons == [None]
    assert images.shape == (1, 8, 8, 3)
    assert images[0, ..., 0].min() > 200 and images[0, ..., 2].max() < 50  # frame 1 is red


def test_decode_files_keeps_order_and_reports_each_reason(tmp_path, write_jpeg):
    paths = [write_jpeg(tmp_path / "a.jpg", seed=1), tmp_path / "missing.jpg"]
    paths.append(write_jpeg(tmp_path / "b.jpg", seed=2))
    images, keep, reasons = decode_files(paths, 8, workers=2)
    assert keep.tolist() == [0, 2]
    assert reasons == [None, "unreadable", None]
    assert np.array_equal(images[1], decode_image(paths[2], 8))


def test_the_fast_path_gives_keras_s_loader_s_pixels_to_within_one_level(tmp_path):
    # image_dataset_from_directory's decode and bilinear resize, per file (its load_image).
    rng = np.random.default_rng(3)
    for i, (width, height) in enumerate([(500, 375), (333, 500), (300, 260)]):
        smooth = rng.integers(0, 256, (height // 16 + 1, width // 16 + 1, 3), np.uint8)
        photo = Image.fromarray(smooth).resize((width, height), Image.Resampling.BICUBIC)
        path = tmp_path / f"cat.{i}.jpg"
        photo.save(path, quality=90)
        image = tf.io.decode_image(tf.io.read_file(str(path)), 3, expand_animations=False)
        keras_pixels = tf.round(tf.image.resize(image, (256, 256), "bilinear")).numpy()
        difference = np.abs(decode_image(path, 256) - keras_pixels)
        assert difference.max() <= 1 and difference.mean() < 0.5


def test_a_plain_jpeg_takes_the_fast_path_and_a_big_one_is_scaled_while_decoding(
    tmp_path, monkeypatch
):
    path = tmp_path / "big.jpg"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (1100, 2100, 3), np.uint8)).save(path, quality=90)
    decoded_shapes = []
    real = decode_module._resize_bilinear

    def spy(pixels, size):
        decoded_shapes.append(pixels.shape)
        return real(pixels, size)

    monkeypatch.setattr(decode_module, "_resize_bilinear", spy)
    fast = decode_image(path, 256)
    # min(1100 // 256, 2100 // 256) = 4: libjpeg decodes at 1/4 (ceil(1100 / 4) = 275).
    assert decoded_shapes == [(275, 525, 3)] and fast.shape == (256, 256, 3)
    pillow = decode_image(path, 256, fast=False)  # draft at 1/4, antialiased resize
    assert decoded_shapes == [(275, 525, 3)]  # Pillow's path does not call it
    assert not np.array_equal(fast, pillow)
    assert np.abs(fast.astype(int) - pillow).mean() < 40  # the same picture, resampled


def test_folder_path_is_unreadable(tmp_path):
    assert decode_image(tmp_path, 8) == "unreadable"


def test_decompression_bomb_is_skipped_as_too_large(tmp_path, write_jpeg, monkeypatch):
    path = write_jpeg(tmp_path / "cat.0.jpg", size=(40, 30))
    # Over twice MAX_IMAGE_PIXELS Pillow raises DecompressionBombError.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)
    assert decode_image(path, 8) == "too_large"


def test_a_10000_px_jpeg_decodes_quickly_via_draft_without_warnings(tmp_path):
    path = tmp_path / "huge.jpg"
    Image.new("L", (10_000, 10_000), 200).save(path, "JPEG", quality=50)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning escapes
        images, _, reasons = decode_files([path], 16)
    assert reasons == [None]
    assert images.shape == (1, 16, 16, 3)
    assert abs(int(images[0, 8, 8, 0]) - 200) <= 2


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    path = tmp_path / "deep.png"
    Image.fromarray(np.full((4, 4), 32896, np.uint16)).save(path)  # 32896 / 257 = 128
    assert decode_image(path, 4)[0, 0].tolist() == [128, 128, 128]


def test_palette_png_with_transparency_decodes_without_warnings(tmp_path):
    path = tmp_path / "palette.png"
    image = Image.new("P", (6, 6), 1)
    image.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    image.info["transparency"] = b"\x00\xff"
    image.save(path, transparency=b"\x00\xff")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert decode_image(path, 3)[0, 0].tolist() == [10, 20, 30]


def test_every_file_bad_is_an_error_naming_the_reasons(tmp_path):
    (tmp_path / "cat.0.jpg").write_bytes(b"")
    (tmp_path / "dog.0.jpg").write_text("text")
    with pytest.raises(
        DataError,
        match=r"No usable images in .*: every file was skipped \(1 empty_file, 1 not_an_image\)",
    ):
        decode_source(resolve_source(tmp_path), 8)


def test_one_class_only_is_an_error_naming_it(tmp_path, write_jpeg):
    for i in range(3):
        write_jpeg(tmp_path / f"cat.{i}.jpg", seed=i)
    with pytest.raises(
        DataError, match=r"Only one class found in .*: 3 images of 'cat' and none of \['dog'\]"
    ):
        decode_source(resolve_source(tmp_path), 8)


def test_one_class_of_arrays_is_an_error():
    with pytest.raises(DataError, match=r"Only one class found in arrays.*4 images of '0'"):
        decode_source(resolve_source((np.zeros((4, 4, 4, 3), np.uint8), np.zeros(4, int))), 4)


def test_heavy_imbalance_warns_with_the_counts():
    x = np.zeros((20, 4, 4, 3), np.uint8)
    y = np.array([0] * 19 + [1])
    with pytest.warns(
        UserWarning, match=r"heavily unbalanced.*\{'0': 19, '1': 1\}; '1' is only 5.0%"
    ):
        decode_source(resolve_source((x, y)), 4)


def test_ten_percent_minority_does_not_warn():
    x = np.zeros((10, 4, 4, 3), np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        decode_source(resolve_source((x, np.array([0] * 9 + [1]))), 4)


def test_float_arrays_in_unit_range_are_scaled():
    assert resize_arrays(np.full((1, 2, 2, 3), 0.5), 2)[0, 0, 0].tolist() == [128, 128, 128]
    assert resize_arrays(np.full((1, 2, 2, 3), 100.0), 2)[0, 0, 0].tolist() == [100, 100, 100]


def test_uint8_arrays_at_the_right_size_are_not_copied():
    x = np.zeros((2, 4, 4, 3), np.uint8)
    assert resize_arrays(x, 4) is x


def test_non_finite_float_arrays_are_an_error():
    with pytest.raises(DataError, match="NaN or infinite"):
        resize_arrays(np.full((1, 2, 2, 3), np.nan), 2)


def test_a_bug_while_decoding_surfaces_instead_of_counting_the_file_as_corrupt(
    tmp_path, write_jpeg, monkeypatch
):
    # A TypeError or IndexError is the toolkit's (or Pillow's) bug, not a bad file: before
    # #11 item 9 both were swallowed and the file counted as "corrupt".
    path = write_jpeg(tmp_path / "cat.0.jpg")

    def broken(image, size):
        raise TypeError("bug in the resize code")

    for resize, fast in (("_resize_bilinear", True), ("_resize", False)):
        monkeypatch.setattr(f"keras_recipes.data.decode.{resize}", broken)
        with pytest.raises(TypeError, match="bug in the resize code"):
            decode_image(path, 8, fast=fast)
        monkeypatch.setattr(f"keras_recipes.data.decode.{resize}", lambda image, size: [][1])
        with pytest.raises(IndexError):
            decode_image(path, 8, fast=fast)
