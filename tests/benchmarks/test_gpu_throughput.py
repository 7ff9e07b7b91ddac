"""benchmarks/gpu_throughput.py on a tiny CPU setting: three set-ups timed, each set-up really
is what its row says (policy, XLA), the speed-ups are relative to float32."""

import keras
import pytest

TINY = ["--image-size", "64", "--width", "0.0625", "--batch-size", "4", "--steps", "2"]


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("gpu_throughput")


def test_tiny_run_prints_every_set_up_against_float32(bench, capsys):
    speedups = bench.main([*TINY, "--rounds", "1"])
    out = capsys.readouterr().out
    assert list(speedups) == ["float32", "mixed precision", "mixed precision + XLA"]
    assert speedups["float32"] == 1.0
    for name in speedups:
        assert any(line.startswith(name) for line in out.splitlines())
    assert "mixed policy: mixed_bfloat16" in out  # no GPU here
    assert "goal: mixed precision + XLA >= 2x float32:" in out
    assert keras.config.dtype_policy().name == "float32"


def test_each_set_up_builds_what_its_row_names(bench):
    mixed = bench.build(64, 0.0625, 4, "mixed_bfloat16", jit=True)
    conv = next(layer for layer in mixed.layers if isinstance(layer, keras.layers.Conv2D))
    assert conv.compute_dtype == "bfloat16" and mixed.jit_compile is True
    plain = bench.build(64, 0.0625, 4, "float32", jit=False)
    assert plain.layers[1].compute_dtype == "float32" and plain.jit_compile is False
