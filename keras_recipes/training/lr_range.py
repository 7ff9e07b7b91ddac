"""`find_learning_rate`: the LR range test on a recipe's own model, optimizer and data."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from keras_recipes.callbacks.lr_finder import LRFinder
from keras_recipes.data import DataBundle
from keras_recipes.recipes import Recipe, get_recipe
from keras_recipes.seeds import check_seed
from keras_recipes.training.distribution import resolve_strategy, scale_for_replicas
from keras_recipes.training.fit import bundle_for, train


def find_learning_rate(
    recipe: Recipe | str,
    data: DataBundle | str | tuple = "demo",
    *,
    image_size: int = 227,
    width: float = 1.0,
    seed: int = 0,
    num_steps: int = 100,
    min_lr: float = 1e-6,
    max_lr: float = 10.0,
    plot_path: str | Path | None = None,
    verbose: int | str = 0,
    cache: bool | None = None,
    model: Any = None,
    **device: Any,
) -> LRFinder:
    """Runs the LR range test on the recipe's model, optimizer and data, through `train()`.

    The recipe's schedule is replaced by a constant rate (the finder drives the rate) and
    enough epochs are given to cover `num_steps` batches; the finder stops the run itself.
    Each epoch's last batch may be smaller than the others: the finder is told the global
    batch and the epoch's size, and recovers that batch's loss weighted by its size.

    `model` is train()'s (your model, the recipe applied); `device` takes train()'s
    `distribute`, `batch_per_replica`, `mixed_precision` and `jit_compile`.

    Example:

    >>> import numpy as np
    >>> x = np.random.default_rng(0).integers(0, 255, (40, 40, 40, 3), dtype=np.uint8)
    >>> finder = find_learning_rate("relu", (x, np.arange(40) % 2), image_size=32, width=0.1,
    ...                             num_steps=6, max_lr=1.0)
    >>> len(finder.history["lr"])
    6

    Returns:
        The `LRFinder`: `suggestion()` is a max_lr for 1cycle, `history` the sweep.
    """
    if isinstance(recipe, str):
        recipe = get_recipe(recipe)
    check_seed(seed)
    # The global batch, as train() will scale it; the strategy is made once per process.
    strategy = resolve_strategy(device.pop("distribute", "none"))
    batch = scale_for_replicas(
        recipe, strategy.num_replicas_in_sync, device.get("batch_per_replica", False)
    )[0].training.batch_size
    if isinstance(data, DataBundle):
        bundle = data
    else:
        if model is None:
            from keras_recipes.models import check_image_size

            check_image_size(image_size)  # before the data are loaded
        bundle = bundle_for(
            data, recipe.training, image_size, seed, cache, own_model=model is not None
        )
    steps_per_epoch = math.ceil(bundle.num_train / batch)
    sweep = recipe.replace(
        schedule={"name": "constant"},
        training={"epochs": math.ceil(num_steps / steps_per_epoch), "early_stopping_patience": 0},
    )
    finder = LRFinder(
        min_lr=min_lr,
        max_lr=max_lr,
        num_steps=num_steps,
        batch_size=batch,
        samples_per_epoch=bundle.num_train,
    )
    train(
        sweep,
        bundle,
        image_size=image_size,
        width=width,
        seed=seed,
        tta=False,
        callbacks=[finder],
        model=model,
        verbose=verbose,
        distribute=strategy,
        **device,
    )
    if plot_path is not None:
        finder.plot(plot_path)
    return finder
