"""Property tests: any TOML document or `--set` string gives a Recipe or a ConfigError."""

import string
import tomllib

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keras_recipes import cli
from keras_recipes.errors import ConfigError
from keras_recipes.recipes import Recipe, get_recipe, list_recipes, recipe_fields

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
values = st.one_of(scalars, st.lists(scalars, max_size=4))
keys = st.one_of(
    st.sampled_from([f.split(".")[1] for f in recipe_fields()]),
    st.text(string.ascii_lowercase + "_", min_size=1, max_size=12),
)
sections = st.one_of(
    st.sampled_from(["init", "activation", "normalization", "regularization", "optimizer",
                     "schedule", "training", "name", "description"]),
    st.text(string.ascii_lowercase, min_size=1, max_size=10),
)  # fmt: skip


def outcome(build):
    """Runs `build`; only a Recipe or the toolkit's own error may come out."""
    try:
        recipe = build()
    except ConfigError as err:
        assert str(err), "a ConfigError must carry a message"
        return None
    assert isinstance(recipe, Recipe)
    return recipe


@st.composite
def mutated_recipes(draw):
    """A built-in recipe's dict with some fields changed, added, retyped or removed."""
    data = get_recipe(draw(st.sampled_from(list_recipes()))).to_dict()
    for _ in range(draw(st.integers(1, 4))):
        section = draw(sections)
        table = data.setdefault(section, {}) if section not in ("name", "description") else None
        if table is None or not isinstance(table, dict) or draw(st.booleans()) is False:
            data[section] = draw(st.one_of(values, st.dictionaries(keys, values, max_size=3)))
        else:
            table[draw(keys)] = draw(values)
    return data


@SETTINGS
@given(mutated_recipes())
def test_mutated_recipe_dicts(data):
    outcome(lambda: Recipe.from_dict(data))


@SETTINGS
@given(mutated_recipes())
def test_mutated_recipe_toml_files(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "r.toml"
    try:
        path.write_text(tomli_w.dumps(data))
    except (TypeError, ValueError):
        return  # not representable in TOML (e.g. a mixed-type list): nothing to load
    recipe = outcome(lambda: Recipe.from_toml(path))
    if recipe is not None:  # what loads, saves and loads back the same
        assert Recipe.from_dict(tomllib.loads(recipe.to_toml())) == recipe


@SETTINGS
@given(st.text(max_size=200))
def test_arbitrary_toml_text(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "r.toml"
    path.write_text(text, encoding="utf-8")
    outcome(lambda: Recipe.from_toml(path))


override_values = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["nan", "inf", "-inf", "1e309", "true", "[1, 2]", "{}", "'x'", "0", "-1"]),
)


@SETTINGS
@given(
    st.lists(
        st.one_of(
            st.builds(lambda k, v: f"{k}={v}", st.sampled_from(recipe_fields()), override_values),
            st.text(max_size=40),
        ),
        max_size=4,
    )
)
def test_arbitrary_overrides(overrides):
    outcome(lambda: get_recipe("default").with_overrides(overrides))


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_numbers_are_rejected(value):
    with pytest.raises(ConfigError, match=r"`optimizer.learning_rate`: .*expected a finite number"):
        get_recipe("default").with_overrides([f"optimizer.learning_rate={value}"])


def _recipe_error(overrides: list[str]) -> str | None:
    """The message `--set overrides` must fail with, or None when they make a valid recipe."""
    try:
        get_recipe("default").with_overrides(overrides)
    except ConfigError as err:
        return str(err)
    return None


# capsys is read and cleared on every example, so sharing it across examples is safe.
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(override_values, min_size=1, max_size=3), st.sampled_from(recipe_fields()))
def test_cli_reports_the_override_error_or_trains_with_the_overrides(capsys, raw_values, field):
    # A bad --set must be the error the CLI reports (exit 2), not a later one; a good one
    # gets past the recipe to the next check, --image-size 8 (so no draw starts a training).
    # An exception other than the toolkit's own would propagate out of main() and fail here.
    overrides = [f"{field}={raw}" for raw in raw_values]
    argv = ["train", "--image-size", "8"]
    for override in overrides:
        argv += ["--set", override]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    expected = _recipe_error(overrides)
    if expected is not None:
        assert err == f"error: {expected}\n"
    else:
        assert err.startswith("error: Image size 8 is too small for the AlexNet geometry")


def test_cli_fuzz_sees_both_outcomes(capsys):
    # The property above must be able to tell a bad override from a good one.
    assert _recipe_error(["training.epochs=x"]) is not None
    assert _recipe_error(["training.epochs=3"]) is None
    assert cli.main(["train", "--image-size", "8", "--set", "training.epochs=x"]) == 2
    assert "`training.epochs`" in capsys.readouterr().err
