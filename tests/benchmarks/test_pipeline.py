"""benchmarks/pipeline.py on a tiny setting: the three feeds train, the table and the goal
verdicts agree with each other, the naive feed really crops, and bad flags are clear errors."""

import math
import re
from types import SimpleNamespace

import numpy as np
import pytest

from keras_recipes.data import load_data, make_demo, resolve_source

TINY = ["--image-size", "32", "--width", "0.0625", "--batch-size", "8", "--rounds", "2"]


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("pipeline")


@pytest.fixture(scope="module")
def jpeg_folder(tmp_path_factory):
    """A Kaggle-layout folder of 2 x 20 generated JPEGs (48 px)."""
    return make_demo(tmp_path_factory.mktemp("data") / "demo", n_per_class=20, size=48)


def table_rows(out: str) -> dict[str, list[float]]:
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows]
    assert cells[0] == [
        "feed",
        "epoch 1 (cold) img/s",
        "later epochs: fastest img/s",
        "median img/s",
        "x model-only",
        "x naive",
        "CPU ms/step",
    ]
    return {row[0].split(":")[0]: [float(c.replace(",", "")) for c in row[1:]] for row in cells[1:]}


@pytest.mark.slow
def test_tiny_run_prints_the_three_feeds_and_consistent_verdicts(bench, jpeg_folder, capsys):
    assert bench.main(["--data", str(jpeg_folder), *TINY]) == 0
    out = capsys.readouterr().out
    rows = table_rows(out)
    assert list(rows) == ["end-to-end", "model-only", "naive"]
    for cold, fastest, median, _, _, cpu in rows.values():
        assert cold > 0 and fastest >= median > 0 and cpu > 0
    # Each ratio is this feed's fastest throughput over another feed's: two different
    # timings, so positive and finite, and what the img/s column (rounded) gives.
    for name, values in rows.items():
        for column, other in ((3, "model-only"), (4, "naive")):
            assert 0 < values[column] < math.inf
            expected = values[1] / rows[other][1]
            assert values[column] == pytest.approx(expected, rel=0.02, abs=0.01), (name, other)
    assert "(28 training images of 40, stored 36 px, cropped 32 px)" in out

    cpu = {name: values[5] for name, values in rows.items()}
    for label, column, goal in (("model-only", 3, 0.95), ("naive", 4, 3.0)):
        found = re.search(
            rf"x {label} \(later epochs\): wall clock ([\d.]+) -> (met|NOT met); "
            r"CPU time per step ([\d.]+) -> (met|NOT met)",
            out,
        )
        wall, wall_verdict, by_cpu, cpu_verdict = found.groups()
        assert float(wall) == rows["end-to-end"][column]
        assert wall_verdict == ("met" if float(wall) >= goal else "NOT met")
        assert float(by_cpu) == pytest.approx(cpu[label] / cpu["end-to-end"], abs=0.02)
        assert cpu_verdict == ("met" if float(by_cpu) >= goal else "NOT met")


def _feed(bench, seconds, cpu_seconds):
    return bench.Feed(
        run_steps=None, cold_seconds=2 * seconds, seconds=[seconds, 1.5 * seconds],
        cpu_seconds=[cpu_seconds] * 2,
    )  # fmt: skip


@pytest.mark.parametrize(("naive_seconds", "naive_verdict"), [(4.0, "met"), (2.0, "NOT met")])
def test_report_figures_and_verdicts_follow_from_the_timings(bench, naive_seconds, naive_verdict):
    # 100 images an epoch; end-to-end 1.0 s, model-only 0.98 s (0.98x: met, goal 0.95).
    feeds = {
        "end-to-end": _feed(bench, 1.0, 0.5),
        "model-only": _feed(bench, 0.98, 0.49),
        "naive": _feed(bench, naive_seconds, naive_seconds / 2),
    }
    bundle = SimpleNamespace(
        num_train=100, decoded=range(120), resize_size=36, image_size=32, batch_size=10,
        steps_per_epoch=10,
    )  # fmt: skip
    args = SimpleNamespace(data="demo", recipe="default", width=0.0625, rounds=2)
    out = bench.report(args, feeds, bundle)
    rows = table_rows(out)
    assert rows["end-to-end"] == pytest.approx([50, 100, 80, 0.98, naive_seconds, 50.0], abs=1e-3)
    assert rows["naive"][3] == pytest.approx(round(0.98 / naive_seconds, 3))
    assert "x model-only (later epochs): wall clock 0.980 -> met" in out
    assert f"x naive (later epochs): wall clock {naive_seconds:.2f} -> {naive_verdict}" in out
    assert f"CPU time per step {naive_seconds:.2f} -> {naive_verdict}" in out
    assert ("the model step, not the feed, bounds the throughput" in out) == (
        naive_verdict == "NOT met"
    )


def test_naive_feed_yields_random_crops_and_flips_of_the_training_images(bench, jpeg_folder):
    bundle = load_data(str(jpeg_folder), image_size=32, batch_size=8, preprocessing="none")
    paths = [path for path, _ in resolve_source(str(jpeg_folder)).files]  # the loader's order
    naive = bench.NaiveFeed(model=None, bundle=bundle, paths=paths, seed=0)
    naive.load()
    stored = bundle.decoded.images[bundle.split.train].astype(np.float32) / 255
    seen = set()
    stream = naive.batches()
    for _ in range(2 * bundle.steps_per_epoch):  # two epochs
        images, labels = next(stream)
        assert images.shape[1:] == (32, 32, 3)
        for crop, label in zip(images, labels, strict=True):
            found = [
                (top, left, flip)
                for i in np.flatnonzero(bundle.decoded.labels[bundle.split.train] == label)
                for top in range(5)
                for left in range(5)
                for flip in (False, True)
                if np.allclose(
                    crop[:, ::-1] if flip else crop,
                    stored[i, top : top + 32, left : left + 32],
                    atol=1e-6,
                )
            ]
            assert found, "a naive batch image is not a crop of a training image of its class"
            seen.update(found)
    assert {flip for *_, flip in seen} == {False, True}
    assert len({(top, left) for top, left, _ in seen}) > 5


def test_unknown_recipe_is_a_clear_error(bench, jpeg_folder, capsys):
    assert bench.main(["--data", str(jpeg_folder), "--recipe", "defualt", *TINY]) == 2
    err = capsys.readouterr().err
    assert "defualt" in err and "default" in err and "Traceback" not in err


def test_missing_data_folder_is_a_clear_error(bench, tmp_path, capsys):
    assert bench.main(["--data", str(tmp_path / "nowhere"), *TINY]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--batch-size", "0", "--batch-size must be >= 1; got 0"),
        ("--width", "-1", "--width must be > 0"),
        ("--data", "tfds:cats_vs_dogs", "'demo' or a folder of image files"),
    ],
)
def test_invalid_flags_exit_2_naming_the_value(bench, capsys, flag, value, message):
    with pytest.raises(SystemExit, match="2"):
        bench.main([flag, value])
    assert message in capsys.readouterr().err


def test_image_size_too_small_for_alexnet(bench, jpeg_folder, capsys):
    assert bench.main(["--data", str(jpeg_folder), *TINY, "--image-size", "4"]) == 2
    assert "Image size 4 is too small" in capsys.readouterr().err
