"""benchmarks/gpu_throughput.py on a tiny CPU setting: three set-ups timed, each set-up really
is what its row says (policy, XLA), the speed-ups are relative to float32."""

import math

import keras
import pytest

TINY = ["--image-size", "64", "--width", "0.0625", "--batch-size", "4", "--steps", "2"]


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("gpu_throughput")


@pytest.mark.slow
def test_tiny_run_prints_every_set_up_against_float32(bench, capsys):
    speedups = bench.main([*TINY, "--rounds", "1"])
    out = capsys.readouterr().out
    assert list(speedups) == ["float32", "mixed precision", "mixed precision + XLA"]
    lines = out.splitlines()
    rows = {
        name: [float(c.rstrip("x")) for c in line[len(name) :].split()]
        for name in speedups
        for line in lines
        if line.startswith(f"{name} ") and line[len(name) :].split()[0][0].isdigit()
    }
    assert list(rows) == list(speedups)
    for name, (ms, median, images, ratio) in rows.items():
        assert 0 < ms <= median < math.inf
        assert images == pytest.approx(4 / (ms / 1000), rel=5e-3, abs=0.06)  # batch 4
        # The speed-up is float32's step time over this set-up's: two different timings,
        # positive and finite, and the printed step times give it (to their rounding).
        assert 0 < speedups[name] < math.inf
        assert ratio == pytest.approx(speedups[name], abs=0.006)
        assert speedups[name] == pytest.approx(rows["float32"][0] / ms, rel=5e-3)
    assert "mixed policy: mixed_bfloat16" in out  # no GPU here
    verdict = "met" if speedups["mixed precision + XLA"] >= bench.GOAL else "not met"
    assert lines[-1] == f"goal: mixed precision + XLA >= 2x float32: {verdict}"
    assert keras.config.dtype_policy().name == "float32"


def test_each_set_up_builds_what_its_row_names(bench):
    mixed = bench.build(64, 0.0625, 4, "mixed_bfloat16", jit=True)
    conv = next(layer for layer in mixed.layers if isinstance(layer, keras.layers.Conv2D))
    assert conv.compute_dtype == "bfloat16" and mixed.jit_compile is True
    plain = bench.build(64, 0.0625, 4, "float32", jit=False)
    assert plain.layers[1].compute_dtype == "float32" and plain.jit_compile is False
