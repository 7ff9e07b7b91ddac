"""benchmarks/bohb_tuner.py: the IDX reader, the epoch accounting, and a tiny run of both
tuners on generated Fashion-MNIST-shaped files (the real ones are a Debian package)."""

import contextlib
import gzip
import io
import math
import re

import numpy as np
import pytest


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("bohb_tuner")


def write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


@pytest.fixture
def fake_fashion(tmp_path):
    rng = np.random.default_rng(1)
    for split, n in (("train", 400), ("t10k", 300)):
        labels = rng.integers(0, 10, n)
        # Each class lights its own rows, so the MLP has something to learn.
        images = rng.integers(0, 60, (n, 28, 28))
        for k in range(10):
            images[labels == k, 2 * k : 2 * k + 3, :] += 180
        write_idx(tmp_path / f"{split}-images-idx3-ubyte.gz", images)
        write_idx(tmp_path / f"{split}-labels-idx1-ubyte.gz", labels)
    return tmp_path


def test_read_idx_gives_back_the_array(bench, tmp_path):
    array = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", array)
    assert (bench.read_idx(tmp_path / "a.gz") == array).all()


def test_best_after_counts_each_trials_own_epochs(bench):
    run = bench.Run(epochs=[1, 1, 2, 3], scores=[0.5, math.nan, 0.7, 0.6], seconds=0.0)
    assert [run.best_after(e) for e in (0, 1, 3, 4, 6, 7)] == [None, 0.5, 0.5, 0.7, 0.7, 0.7]


def test_fashion_mnist_subsets_are_fixed_and_scaled(bench, fake_fashion):
    (x, y), (xv, yv) = bench.fashion_mnist(100, 50, fake_fashion)
    (x2, _), _ = bench.fashion_mnist(100, 50, fake_fashion)
    assert x.shape == (100, 28, 28) and xv.shape == (50, 28, 28) and (x == x2).all()
    assert x.min() >= 0.0 and x.max() <= 1.0 and y.dtype == np.int64 and len(yv) == 50


@pytest.mark.slow
def test_tiny_run_tables_both_tuners(bench, fake_fashion, monkeypatch):
    monkeypatch.setattr(bench, "FASHION", fake_fashion)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert bench.main(["--tiny"]) == 0
    text = out.getvalue()
    (row,) = [r for r in text.splitlines() if re.match(r"\| \d+ \|", r)]
    # max 3 epochs: 3 x 1 -> 1 x 3 (continued: 2 more), 2 x 3 = 11 epochs.
    cells = row.strip("|").split("|")
    assert cells[0].strip() == "11" and all(0.0 < float(c) <= 1.0 for c in cells[1:])
    assert "- bohb: best per seed" in text and "- hyperband: best per seed" in text
