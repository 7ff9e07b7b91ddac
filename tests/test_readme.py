"""The README's code examples run as written."""

import ast
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def section(heading: str) -> str:
    return README.read_text().split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]


def python_block_after(heading: str) -> str:
    return re.search(r"```python\n(.*?)```", section(heading), re.S).group(1)


def blocks_after(heading: str, language: str = "python") -> list[str]:
    """Every fenced block of `language` ("" for a plain one) in the section, in order."""
    fenced = re.findall(r"^```(\w*)\n(.*?)^```$", section(heading), re.S | re.M)
    return [body for lang, body in fenced if lang == language]


def test_callbacks_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(
        compile(
            python_block_after("Use the callbacks in your own Keras project"), "README", "exec"
        ),
        {},
    )
    assert (tmp_path / "one_cycle.png").stat().st_size > 0
    lrs = ast.literal_eval(capsys.readouterr().out.strip().splitlines()[-1])
    assert len(lrs) == 5 and all(lr > 0 for lr in lrs)


def test_own_project_examples_run_and_print_what_the_readme_shows(capsys):
    namespace = {}
    for block in blocks_after("Use it in your own project"):
        exec(compile(block, "README", "exec"), namespace)
    printed = capsys.readouterr().out.strip().splitlines()
    shown = blocks_after("Use it in your own project", "")[0].strip().splitlines()
    assert printed[: len(shown)] == shown
    assert printed[-1] == "['conv1', 'conv1_elu', 'conv1_bn']"
    assert namespace["model"].get_layer("res_out").__class__.__name__ == "ELU"
