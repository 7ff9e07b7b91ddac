"""keras-recipes: named training recipes, schedule callbacks and Bayesian tuning for Keras 3."""

__version__ = "0.1.0"

# Imported on first use, so that `import keras_recipes` does not load TensorFlow.
_LAZY = {
    "apply_recipe": "keras_recipes.models.apply",
    "RecipeReport": "keras_recipes.models.apply",
    "RecipeLayers": "keras_recipes.models.blocks",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'keras_recipes' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
