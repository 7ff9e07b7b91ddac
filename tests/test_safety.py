"""Nothing is loaded with pickle or eval; models load in safe mode; TOML is data."""

import re
from pathlib import Path

import pytest

from keras_recipes import cli

PACKAGE = Path(__file__).resolve().parents[1] / "keras_recipes"
UNSAFE = re.compile(
    r"\bimport pickle\b|\bpickle\.|\bcloudpickle\b|\bdill\b|(?<![\w.])eval\(|(?<![\w.])exec\("
    r"|safe_mode\s*=\s*False|yaml\.load\(|allow_pickle\s*=\s*True"
)


def test_no_unsafe_loading_in_the_package():
    hits = [
        f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
        for path in PACKAGE.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if UNSAFE.search(line)
    ]
    assert hits == []


def test_the_pattern_catches_what_it_should():
    for line in ("x = eval(text)", "import pickle", "load_model(p, safe_mode=False)"):
        assert UNSAFE.search(line), line
    for line in ("model.evaluate(x)", "tf.executing_eagerly()"):
        assert not UNSAFE.search(line), line


def test_toml_with_code_is_only_data(tmp_path, capsys):
    recipe = tmp_path / "evil.toml"
    recipe.write_text("description = \"__import__('os').system('touch pwned')\"\n")
    from keras_recipes.recipes import get_recipe

    assert get_recipe(str(recipe)).description.startswith("__import__")
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    "data, message",
    [
        ("/no/such/folder", "/no/such/folder"),
        ("tfds:", "tfds:"),
    ],
)
def test_bad_data_flag_is_a_clear_error(capsys, tmp_path, data, message):
    code = cli.main(["train", "--data", data, "--image-size", "32", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
