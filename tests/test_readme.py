"""The README's code examples run as written."""

import ast
import json
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


def test_own_project_examples_run_and_print_what_the_readme_shows(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the tabular example writes runs/tabular-selu
    namespace = {}
    blocks = blocks_after("Use it in your own project")
    for block in blocks:
        exec(compile(block, "README", "exec"), namespace)
    printed = capsys.readouterr().out.strip().splitlines()
    shown = blocks_after("Use it in your own project", "")[0].strip().splitlines()
    assert printed[: len(shown)] == shown
    assert printed[-2] == "['conv1', 'conv1_elu', 'conv1_bn']"
    assert namespace["model"].get_layer("res_out").__class__.__name__ == "ELU"
    # The tabular example prints what its last comment says, and writes its run folder.
    assert printed[-1] == blocks[-1].strip().splitlines()[-1].removeprefix("# ")
    assert (tmp_path / "runs" / "tabular-selu" / "history.csv").exists()


def test_own_model_command_runs(tiny_folder, tmp_path, capsys):
    """The README's `--model` command, on the tiny set for one epoch."""
    import shlex

    from keras_recipes import cli

    root = README.parent
    lines = blocks_after("Use it in your own project", "bash")[0].strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("python train.py --model ")
    argv = shlex.split(lines[0])[2:]
    model = argv.index("--model") + 1
    argv[model] = str(root / argv[model])  # the README runs from the repository root
    out = tmp_path / "run"
    tiny = ["--data", str(tiny_folder), "--image-size", "32", "--epochs", "1"]
    code = cli.main(["train", *argv, *tiny, "--batch-size", "16", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    saved = json.loads((out / "command.json").read_text())["setup"]
    assert saved["model"].endswith("examples/my_model.py:build")
    assert saved["recipe"]["name"] == "selu"
