"""Loads a script of `benchmarks/` as a module, so a test can call its functions and main()."""

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
# The scripts import their shared helpers (docparser, machine) as `python benchmarks/x.py`
# finds them: from the scripts' folder.
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))


@pytest.fixture(scope="module")
def load_benchmark():
    """`load_benchmark("pipeline")` -> the module of benchmarks/pipeline.py."""
    names = []

    def load(script: str):
        spec = importlib.util.spec_from_file_location(
            f"{script}_benchmark", BENCHMARKS / f"{script}.py"
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        names.append(spec.name)
        spec.loader.exec_module(module)
        return module

    yield load
    for name in names:
        sys.modules.pop(name, None)
