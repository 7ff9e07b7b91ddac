"""Your own model in `train()`: a `--model MODULE:FUNCTION` spec resolved to a function, and
a model or model function turned into the builder `train()` calls, the recipe applied.

`train(model=...)` takes a `keras.Model`, a callable `(input_shape, num_classes) ->
keras.Model`, or a spec string: `"package.module:function"` (an import path) or
`"path/to/file.py:function"`. The recipe goes onto the model with `apply_recipe`.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras

from keras_recipes.errors import ConfigError

#: What `train(model=...)` takes.
ModelSpec = keras.Model | Callable[..., keras.Model] | str

_SPEC_HELP = (
    'Give "MODULE:FUNCTION" (e.g. mypackage.models:build) or "path/to/file.py:FUNCTION", '
    "where FUNCTION(input_shape, num_classes) returns a keras.Model."
)


def resolve_model(spec: str) -> Callable[..., Any]:
    """The function a `"MODULE:FUNCTION"` or `"path/to/file.py:FUNCTION"` spec names.

    Example:

    >>> resolve_model("keras_recipes.training.user_model:resolve_model").__name__
    'resolve_model'
    >>> try:
    ...     resolve_model("no_such_module_xyz:build")
    ... except ConfigError as err:
    ...     print(str(err).split(". ")[0])
    --model no_such_module_xyz:build: cannot import module 'no_such_module_xyz' (ModuleNotFound...)

    Raises:
        ConfigError: no ":" in the spec, a file or module that cannot be imported (with
            the underlying error), a missing function, or a name that is not callable.
    """
    where, sep, name = str(spec).rpartition(":")
    if not sep or not where or not name.isidentifier():
        raise ConfigError(f"--model {spec}: expected MODULE:FUNCTION. {_SPEC_HELP}")
    module = _load_module(spec, where)
    if not hasattr(module, name):
        public = sorted(n for n, v in vars(module).items() if callable(v) and n[0] != "_")
        raise ConfigError(
            f"--model {spec}: {where} has no function {name!r}; its callables: "
            f"{', '.join(public) or 'none'}."
        )
    function = getattr(module, name)
    if not callable(function):
        raise ConfigError(
            f"--model {spec}: {where}:{name} is a {type(function).__name__}, not a function. "
            + _SPEC_HELP
        )
    return function


def _load_module(spec: str, where: str):
    is_file = where.endswith(".py") or "/" in where or "\\" in where
    try:
        if not is_file:
            return importlib.import_module(where)
        path = Path(where)
        if not path.is_file():
            raise ConfigError(
                f"--model {spec}: no file {where} (relative paths are read from "
                f"{Path.cwd()}). {_SPEC_HELP}"
            )
        name = f"keras_recipes_user_model_{abs(hash(str(path.resolve())))}"
        loader = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(loader)
        sys.modules[name] = module  # dataclasses and pickling look the module up by name
        loader.loader.exec_module(module)
        return module
    except ConfigError:
        raise
    except Exception as err:  # the user's module failed to import: say which and why
        what = "file" if is_file else "module"
        raise ConfigError(
            f"--model {spec}: cannot import {what} {where!r} "
            f"({type(err).__name__}: {err}). {_SPEC_HELP}"
        ) from err


def model_spec_name(model: Any) -> str | None:
    """How `TrainSetup.to_json` records a model: the spec string, a function's import path,
    or a description of a model object (which cannot be read back)."""
    if model is None or isinstance(model, str):
        return model
    if isinstance(model, keras.Model):
        return f"<keras.Model {model.name!r}>"
    qualname = getattr(model, "__qualname__", type(model).__name__)
    return f"{getattr(model, '__module__', '?')}:{qualname}"


def user_model_builder(model: ModelSpec, seed: int):
    """A `train()` model builder `(recipe, input_shape, num_classes) -> keras.Model` from
    your model or model function, with the recipe applied (`apply_recipe`, seeded by
    `seed`) and the model's input checked against the data's shape.

    Example:

    >>> import keras
    >>> def build(input_shape, num_classes):
    ...     inputs = keras.Input(input_shape)
    ...     x = keras.layers.Dense(8, activation="relu")(inputs)
    ...     outputs = keras.layers.Dense(num_classes, activation="softmax")(x)
    ...     return keras.Model(inputs, outputs, name="mine")
    >>> model = user_model_builder(build, seed=0)("selu", (4,), 2)
    >>> model.layers[2].name, model.output_shape
    ('dense_selu', (None, 2))
    >>> try:
    ...     user_model_builder(model, seed=0)("selu", (5,), 2)
    ... except ConfigError as err:
    ...     print(str(err).split(". ")[0])
    Model 'mine' takes inputs of shape (4,), but the data's are (5,)
    """
    from keras_recipes.models.apply import apply_recipe

    if isinstance(model, str):
        model = resolve_model(model)
    if not isinstance(model, keras.Model) and not callable(model):
        raise ConfigError(
            f"model must be a keras.Model, a function (input_shape, num_classes) -> "
            f"keras.Model or a 'MODULE:FUNCTION' spec; got {type(model).__name__}."
        )

    def build(recipe, input_shape, num_classes):
        built = model
        if not isinstance(model, keras.Model):
            built = model(tuple(input_shape), num_classes)
            if not isinstance(built, keras.Model):
                raise ConfigError(
                    f"Model function {_name_of(model)} returned {type(built).__name__} "
                    f"({built!r:.80}), not a keras.Model."
                )
        check_input_shape(built, input_shape)
        return apply_recipe(built, recipe, seed=seed)

    return build


def check_input_shape(model: keras.Model, input_shape) -> None:
    """Raises ConfigError unless `model` takes one input of `input_shape` (None matches any
    size)."""
    try:
        shape = tuple(model.input_shape[1:]) if len(model.inputs) == 1 else None
    except (AttributeError, ValueError, TypeError):
        return  # no input yet (a subclassed model): apply_recipe refuses it by name
    expected = tuple(int(n) for n in input_shape)
    if shape is None:
        raise ConfigError(
            f"Model {model.name!r} takes {len(model.inputs)} inputs; train() feeds one "
            f"of shape {expected}."
        )
    fits = len(shape) == len(expected) and all(
        have is None or have == want for have, want in zip(shape, expected, strict=True)
    )
    if not fits:
        raise ConfigError(
            f"Model {model.name!r} takes inputs of shape {shape}, but the data's are "
            f"{expected}. Make the model's keras.Input match the data (with --model, "
            "--image-size sets the images' side)."
        )


def _name_of(function: Any) -> str:
    return f"{getattr(function, '__module__', '?')}:{getattr(function, '__qualname__', function)}"
