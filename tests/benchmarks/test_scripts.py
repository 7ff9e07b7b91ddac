"""Every benchmark script's `--help`: its docstring, through the shared `docparser`."""

import doctest
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"

HELPERS = {"docparser", "machine"}
SCRIPTS = sorted(p.stem for p in BENCHMARKS.glob("*.py") if p.stem not in HELPERS)


def test_the_helpers_examples(load_benchmark):
    assert doctest.testmod(load_benchmark("docparser")).failed == 0


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_is_the_scripts_docstring(load_benchmark, capsys, script):
    module = load_benchmark(script)
    with pytest.raises(SystemExit, match="0"):
        module.main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    first, _, rest = module.__doc__.partition("\n\n")
    assert " ".join(first.split()) in out  # the description, reflowed
    for line in rest.splitlines():  # the epilog: commands and notes as written
        assert " ".join(line.split()) in out
    assert sys.modules[f"{script}_benchmark"] is module
