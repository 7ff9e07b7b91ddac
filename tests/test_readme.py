"""The README's code examples run as written."""

import ast
import json
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
OWN_MODEL = "Train your own model: `train(..., model=...)` and `--model`"


def section(heading: str) -> str:
    return README.read_text().split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]


def python_block_after(heading: str) -> str:
    return re.search(r"```python\n(.*?)```", section(heading), re.S).group(1)


def blocks_after(heading: str, language: str = "python", sub: str | None = None) -> list[str]:
    """Every fenced block of `language` ("" for a plain one) in the section, in order:
    before its first `### ` sub-heading, or under the sub-heading `sub`."""
    text = section(heading)
    text = text.split(f"### {sub}\n", 1)[1] if sub else text
    text = re.split(r"^### ", text, maxsplit=1, flags=re.M)[0]
    fenced = re.findall(r"^```(\w*)\n(.*?)^```$", text, re.S | re.M)
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
    blocks += blocks_after("Use it in your own project", sub=OWN_MODEL)
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
    lines = blocks_after("Use it in your own project", "bash", sub=OWN_MODEL)[0]
    lines = lines.strip().splitlines()
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


@pytest.mark.slow
def test_bayes_opt_tuner_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (block,) = blocks_after(
        "Use it in your own project", sub="Tune any hypermodel: `BayesOptTuner`"
    )
    namespace = {}
    exec(compile(block, "README", "exec"), namespace)
    tuner = namespace["tuner"]
    assert len(tuner.oracle.end_order) == 3
    assert {t.status for t in tuner.oracle.trials.values()} == {"COMPLETED"}
    best = ast.literal_eval(capsys.readouterr().out.strip().splitlines()[-1])
    assert best["units_0"] in range(32, 513, 32) and best["activation"] in ("relu", "tanh")
    assert namespace["best"].count_params() > 0
    assert (tmp_path / "runs" / "mine" / "oracle.json").is_file()


def test_the_bohb_tuner_example_runs_on_the_bayes_opt_tuner_examples_hypermodel(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)  # both write runs/
    namespace = {}
    for sub in (
        "Tune any hypermodel: `BayesOptTuner`",
        "Multi-fidelity for any hypermodel: `BOHBTuner`",
    ):
        (block,) = blocks_after("Use it in your own project", sub=sub)
        exec(compile(block, "README", "exec"), namespace)
    assert capsys.readouterr().out.strip().splitlines()[-1] == "6 trials"
    epochs = [t.hyperparameters["tuner/epochs"] for t in namespace["tuner"].oracle.trials.values()]
    assert sorted(epochs) == [1, 1, 1, 3, 3, 3]
