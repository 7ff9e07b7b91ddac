"""The README's code examples run as written."""

import ast
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_block_after(heading: str) -> str:
    text = README.read_text()
    section = text.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


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
