"""`TrainSetup`: what one `train()` run is made of (recipe, data, image size, width, seed, your
model if any, and the device options), as one value that every command saves, checks on resume and
describes the same way.

`train.py` keeps it in `command.json`, `train-with-bo` in `tuning.json`, `keras-recipes
tune` in `tune.json` and `keras-recipes compare` in `comparison.json`; each reads it back
with `TrainSetup.from_json`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keras_recipes.errors import ConfigError
from keras_recipes.recipes import Recipe, get_recipe
from keras_recipes.seeds import check_seed

#: train() keyword arguments of the device flags (`--distribute`, ...), with their defaults.
DEVICE_DEFAULTS = {
    "distribute": "none",
    "batch_per_replica": False,
    "mixed_precision": False,
    "jit_compile": False,
}


@dataclass(frozen=True, eq=False)
class TrainSetup:
    """The set-up of a training run: everything `train()` needs but the run folder.

    Example:

    >>> setup = TrainSetup("relu", "demo", image_size=64, width=0.25)
    >>> setup.describe()
    'recipe relu (300 epochs, batch 256), data demo, 64 px, width 0.25'
    >>> TrainSetup.from_json(setup.to_json()) == setup
    True
    >>> sorted(setup.train_kwargs())[:4]
    ['batch_per_replica', 'cache', 'data', 'distribute']
    >>> mine = setup.replace(model="examples/my_model.py:build")
    >>> mine.describe()
    'recipe relu (300 epochs, batch 256), data demo, 64 px, model examples/my_model.py:build'
    >>> TrainSetup.from_json(mine.to_json()).model
    'examples/my_model.py:build'

    Args:
        recipe: Recipe or str. The recipe, a registered name or a `.toml` path.
        data: the data spec ("demo", a folder, "tfds:NAME"), arrays `(x, y)` or a loaded
            DataBundle (these two are kept in memory only: they are saved as "arrays" or
            their source).
        image_size: int. Crop size fed to the model.
        width: float. AlexNet width multiplier (unused with `model`).
        seed: int. Seeds weights, split, shuffling, augmentation and dropout masks.
        distribute: str. "none", "auto", "mirrored" or "multi-worker".
        batch_per_replica: bool. The recipe's batch is each replica's (linear LR scaling).
        mixed_precision: bool. float16 (GPU) or bfloat16 (CPU) compute.
        jit_compile: bool. XLA-compiled train step.
        model: None (AlexNet), a spec "MODULE:FUNCTION" or "path/to/file.py:FUNCTION" of a
            function (input_shape, num_classes) -> keras.Model (`--model`; saved, so a
            resumed run builds the same model), or a keras.Model / callable (in memory
            only: saved as a description that cannot be read back).
        cache: bool or None. The decoded-image store (None: unless
            `$KERAS_RECIPES_NO_CACHE`); how images are held, not what is trained, so it is
            neither saved nor compared.
    """

    recipe: Recipe
    data: Any = "demo"
    image_size: int = 227
    width: float = 1.0
    seed: int = 0
    distribute: str = DEVICE_DEFAULTS["distribute"]
    batch_per_replica: bool = DEVICE_DEFAULTS["batch_per_replica"]
    mixed_precision: bool = DEVICE_DEFAULTS["mixed_precision"]
    jit_compile: bool = DEVICE_DEFAULTS["jit_compile"]
    model: Any = None
    cache: bool | None = field(default=None)

    def __post_init__(self) -> None:
        if isinstance(self.recipe, str | Path):
            object.__setattr__(self, "recipe", get_recipe(self.recipe))
        check_seed(self.seed)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TrainSetup):
            return NotImplemented
        return self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(repr(self.to_json()))

    @property
    def epochs(self) -> int:
        """The recipe's epochs."""
        return self.recipe.training.epochs

    @property
    def device(self) -> dict[str, Any]:
        """The device options, as `train()` keyword arguments."""
        return {name: getattr(self, name) for name in DEVICE_DEFAULTS}

    def replace(self, **changes: Any) -> TrainSetup:
        """A copy with `changes` (any field)."""
        return dataclasses.replace(self, **changes)

    def train_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of `train()`: `train(**setup.train_kwargs(), run_dir=...)`."""
        return {
            "recipe": self.recipe,
            "data": self.data,
            "image_size": self.image_size,
            "width": self.width,
            "seed": self.seed,
            **self.device,
            "cache": self.cache,
            "model": self.model,
        }

    def to_json(self) -> dict[str, Any]:
        """The set-up as JSON; the device options only where they differ from the defaults,
        so a plain run's file reads as before; the model only when there is one."""
        doc: dict[str, Any] = {
            "recipe": self.recipe.to_dict(),
            "data": data_name(self.data),
            "image_size": self.image_size,
            "width": self.width,
            "seed": self.seed,
        }
        if self.model is not None:
            from keras_recipes.training.user_model import model_spec_name

            doc["model"] = model_spec_name(self.model)
        doc.update({k: v for k, v in self.device.items() if v != DEVICE_DEFAULTS[k]})
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any], *, source: str = "JSON", seed: int = 0) -> TrainSetup:
        """The set-up `to_json` wrote (`seed`: for files written before the set-up had one).

        Raises:
            ConfigError: a missing or bad field, naming `source`.
        """
        try:
            return cls(
                recipe=Recipe.from_dict(doc["recipe"], source=source),
                data=doc["data"],
                image_size=int(doc["image_size"]),
                width=float(doc["width"]),
                seed=int(doc.get("seed", seed)),
                model=doc.get("model"),
                **{k: doc.get(k, default) for k, default in DEVICE_DEFAULTS.items()},
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"{source}: no valid training set-up ({err}).") from None

    def load_data(self):
        """The data as a DataBundle with the recipe's batch and preprocessing (an ArrayBundle
        or DatasetBundle for data that are not images): decoded (or read from the store)
        and split now, so bad data fail before anything is trained;
        a bundle already loaded is returned as it is."""
        from keras_recipes.data import DataBundle, load_data
        from keras_recipes.data.arrays import ArrayBundle, DatasetBundle, non_image_bundle

        if isinstance(self.data, DataBundle | ArrayBundle | DatasetBundle):
            return self.data
        training = self.recipe.training
        other = non_image_bundle(
            self.data, own_model=self.model is not None, batch_size=training.batch_size,
            seed=self.seed,
        )  # fmt: skip
        if other is not None:  # not images: for your own model
            return other
        return load_data(
            self.data,
            image_size=self.image_size,
            batch_size=training.batch_size,
            preprocessing=training.preprocessing,
            seed=self.seed,
            cache=self.cache,
        )

    def describe(self) -> str:
        """One line for messages: recipe, epochs, batch, data, size, width or model."""
        return describe_json(self.to_json())


def describe_json(doc: dict[str, Any]) -> str:
    """`TrainSetup.describe()` of a saved set-up (for messages that compare two of them)."""
    recipe = doc["recipe"]
    training = recipe["training"]
    text = (
        f"recipe {recipe['name']} ({training['epochs']} epochs, batch {training['batch_size']}), "
        f"data {doc['data']}, {doc['image_size']} px, "
        + (f"model {doc['model']}" if doc.get("model") else f"width {doc['width']:g}")
    )
    device = [f"{k}={doc[k]}" for k in DEVICE_DEFAULTS if k in doc]
    return f"{text}, {' '.join(device)}" if device else text


def data_name(data: Any) -> str:
    """How a data argument is saved: its spec, "arrays", "tf.data" or a bundle's source."""
    if isinstance(data, str | Path):
        return str(data)
    if isinstance(data, tuple) and data and hasattr(data[0], "element_spec"):
        return "tf.data"  # a (train_ds, val_ds) pair, without importing TensorFlow here
    describe = getattr(data, "describe", None)  # a DataBundle
    if describe is not None:
        return str(describe()["source"])
    return "arrays"
