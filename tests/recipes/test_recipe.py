"""Recipe: TOML round trip, overrides, validation messages, the registry."""

import tomllib

import pytest

from keras_recipes.errors import ConfigError
from keras_recipes.recipes import (
    Recipe,
    get_recipe,
    list_recipes,
    recipe_fields,
    register,
    self_normalizing_violations,
)

BUILTINS = list_recipes()


def test_builtins_include_the_required_set():
    required = {"alexnet2012", "default", "selu", "relu", "leaky-relu", "prelu", "elu"}
    assert required | {"bn-before", "bn-after"} <= set(BUILTINS)


@pytest.mark.parametrize("name", BUILTINS)
def test_toml_round_trip_of_every_builtin(name, tmp_path):
    recipe = get_recipe(name)
    path = tmp_path / f"{name}.toml"
    recipe.to_toml(path)
    assert Recipe.from_toml(path) == recipe
    # The file is plain TOML data that any parser reads.
    assert tomllib.loads(path.read_text())["name"] == name


def test_alexnet2012_is_the_original_setup():
    r = get_recipe("alexnet2012")
    assert r.init.kernel == "alexnet2012"
    assert r.activation.name == "relu"
    assert r.normalization.kind == "none"
    assert (r.optimizer.name, r.optimizer.learning_rate, r.optimizer.momentum) == (
        "momentum",
        0.01,
        0.9,
    )
    assert (r.regularization.weight_decay, r.regularization.weight_decay_mode) == (5e-4, "l2")
    assert (r.regularization.dropout_rate, r.regularization.dropout_kind) == (0.5, "dropout")
    s = r.schedule
    assert (s.name, s.patience, s.factor, s.threshold, s.threshold_mode) == (
        "performance",
        30,
        0.1,
        1e-4,
        "rel",
    )
    assert r.training.preprocessing == "mean"
    assert (r.training.batch_size, r.training.epochs, r.training.evaluation) == (256, 300, "tta10")


def test_selu_recipe_meets_every_self_normalising_condition():
    assert self_normalizing_violations(get_recipe("selu")) == []


@pytest.mark.parametrize(
    "override, broken",
    [
        ("normalization.kind=batch", "normalization.kind='batch'"),
        ("init.kernel=he_normal", "init.kernel='he_normal'"),
        ("regularization.dropout_kind=dropout", "regularization.dropout_kind='dropout'"),
        ("training.preprocessing=mean", "training.preprocessing='mean'"),
    ],
)
def test_selu_names_the_condition_an_override_breaks(override, broken):
    with pytest.raises(ConfigError, match=f"self-normalising conditions: {broken}"):
        get_recipe("selu").with_overrides([override])


def test_override_parses_typed_values():
    r = get_recipe("default").with_overrides(
        [
            "optimizer.learning_rate=0.02",
            "training.batch_size=32",
            "activation.name=gelu",
            "schedule.three_phase=true",
            "schedule.name=piecewise",
            "schedule.boundaries=[10, 20]",
            "schedule.values=[0.1, 0.01, 0.001]",
        ]
    )
    assert r.optimizer.learning_rate == 0.02
    assert r.training.batch_size == 32
    assert r.activation.name == "gelu"
    assert r.schedule.three_phase is True
    assert r.schedule.boundaries == (10, 20)
    assert r.schedule.values == (0.1, 0.01, 0.001)


def test_an_integer_is_accepted_for_a_float_field():
    r = get_recipe("default").with_overrides(["optimizer.learning_rate=1"])
    assert r.optimizer.learning_rate == 1.0
    assert isinstance(r.optimizer.learning_rate, float)


@pytest.mark.parametrize(
    "override, message",
    [
        (
            "optimizer.learning_rat=0.1",
            r"Unknown override key `optimizer.learning_rat`.*"
            r"Did you mean 'learning_rate'\?",
        ),
        ("optimiser.learning_rate=0.1", r"Unknown section .*Did you mean 'optimizer'\?"),
        (
            "optimizer.learning_rate=fast",
            r"`optimizer.learning_rate`: 'fast' \(str\); "
            r"expected a number",
        ),
        ("training.batch_size=1.5", r"`training.batch_size`: 1.5 \(float\); expected an integer"),
        ("optimizer.learning_rate=0", r"`optimizer.learning_rate`: 0.0; it must be > 0"),
        ("optimizer.learning_rate=-0.1", r"it must be > 0"),
        (
            "regularization.dropout_rate=1.0",
            r"`regularization.dropout_rate`: 1.0; "
            r"it must be in \[0, 1\)",
        ),
        ("regularization.dropout_rate=-0.1", r"in \[0, 1\)"),
        ("activation.name=sigmod", r"Valid values: 'relu'.*Did you mean 'sigmoid'\?"),
        ("optimizer.name=adamm", r"Did you mean 'adam'"),
        ("init.kernel=he_norml", r"`init.kernel`: 'he_norml'.*Did you mean 'he_normal'\?"),
        ("learning_rate", r"must look like section.key=value"),
        ("schedule.three_phase=yes", r"expected true or false"),
    ],
)
def test_bad_overrides_name_the_value_and_the_valid_choices(override, message):
    with pytest.raises(ConfigError, match=message):
        get_recipe("default").with_overrides([override])


def test_unknown_toml_key_is_an_error(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('[optimizer]\nname = "adam"\nlearnig_rate = 0.1\n')
    with pytest.raises(ConfigError, match=r"Unknown key `optimizer.learnig_rate`.*learning_rate"):
        Recipe.from_toml(path)


def test_unknown_toml_table_is_an_error(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text("[optimiser]\nname = 'adam'\n")
    with pytest.raises(ConfigError, match=r"unknown key `optimiser`.*Did you mean 'optimizer'"):
        Recipe.from_toml(path)


def test_invalid_toml_and_missing_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[optimizer\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        Recipe.from_toml(path)
    with pytest.raises(ConfigError, match="Recipe file not found"):
        Recipe.from_toml(tmp_path / "missing.toml")


def test_user_toml_works_like_a_builtin(tmp_path):
    path = tmp_path / "fast.toml"
    path.write_text('[optimizer]\nname = "adam"\nlearning_rate = 0.001\n')
    recipe = get_recipe(str(path))
    assert recipe.name == "fast"
    assert recipe.optimizer.name == "adam"
    assert recipe.activation == Recipe().activation  # unlisted fields keep their defaults


def test_unknown_recipe_suggests_the_closest():
    with pytest.raises(
        ConfigError, match=r"Unknown recipe 'alexnet2021'.*Did you mean 'alexnet2012'"
    ):
        get_recipe("alexnet2021")


def test_underscore_and_hyphen_names_both_work():
    assert get_recipe("leaky_relu") == get_recipe("leaky-relu")


def test_register_refuses_to_replace_silently():
    mine = Recipe.from_dict({"name": "test-register-mine"})
    register(mine)
    assert get_recipe("test-register-mine") == mine
    with pytest.raises(ConfigError, match="already registered"):
        register(mine)


def test_piecewise_needs_one_more_value_than_boundaries():
    with pytest.raises(ConfigError, match="one more value than boundaries"):
        get_recipe("default").with_overrides(
            ["schedule.name=piecewise", "schedule.boundaries=[5]", "schedule.values=[0.1]"]
        )


def test_cycle_momentum_needs_an_optimizer_with_momentum():
    with pytest.raises(ConfigError, match=r"cycle_momentum=true needs an optimizer.*rmsprop"):
        get_recipe("default").with_overrides(["optimizer.name=rmsprop"])
    recipe = get_recipe("default").with_overrides(
        ["optimizer.name=rmsprop", "schedule.cycle_momentum=false"]
    )
    assert recipe.optimizer.name == "rmsprop"


def test_every_field_is_overridable():
    fields = recipe_fields()
    assert "optimizer.learning_rate" in fields
    assert "regularization.weight_decay" in fields
    assert len(fields) == len(set(fields))


def test_inverse_sqrt_schedule_is_a_recipe_choice_in_toml_and_set(tmp_path):
    path = tmp_path / "sqrt.toml"
    path.write_text('name = "sqrt"\n[schedule]\nname = "inverse_sqrt"\n')
    from_toml = Recipe.from_toml(path)
    from_set = get_recipe("relu").with_overrides(["schedule.name=inverse_sqrt"])
    assert from_toml.schedule.name == from_set.schedule.name == "inverse_sqrt"
    from_set.to_toml(tmp_path / "back.toml")
    assert Recipe.from_toml(tmp_path / "back.toml") == from_set


def test_selu_init_message_says_which_layers_and_why_the_classifier_differs():
    with pytest.raises(
        ConfigError,
        match=r"init.kernel='he_normal': every hidden conv and dense layer must be "
        r"lecun_normal \(.*the softmax classifier keeps Glorot init, the rule for softmax\)",
    ):
        get_recipe("selu").with_overrides(["init.kernel=he_normal"])
