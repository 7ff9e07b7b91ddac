"""Recipe -> optimizer, learning-rate schedule, the schedule's callbacks and the compiled model.

Keras's own schedules do power-free decays; `keras_recipes.schedules` adds the power and
inverse square-root forms; 1cycle and performance scheduling are callbacks from
`keras_recipes.callbacks`.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import tensorflow as tf

from keras_recipes import _compat
from keras_recipes import optimizers as recipe_optimizers
from keras_recipes.callbacks import OneCycleScheduler, PerformanceScheduler
from keras_recipes.models import alexnet
from keras_recipes.recipes import Recipe
from keras_recipes.schedules import InverseSqrtDecay, PowerDecay


def learning_rate(recipe: Recipe, steps_per_epoch: int):
    """A float, or a Keras `LearningRateSchedule` for the step-based schedules.

    Recipe durations are in epochs; Keras schedules count optimizer steps.
    """
    sched = recipe.schedule
    lr0 = recipe.optimizer.learning_rate
    decay_steps = max(1.0, sched.decay_epochs * steps_per_epoch)
    if sched.name == "power":
        return PowerDecay(lr0, decay_steps, power=sched.power)
    if sched.name == "exponential":
        return keras.optimizers.schedules.ExponentialDecay(lr0, decay_steps, sched.decay_rate)
    if sched.name == "inverse_time":
        return keras.optimizers.schedules.InverseTimeDecay(lr0, decay_steps, sched.decay_rate)
    if sched.name == "inverse_sqrt":
        # Per epoch, as the k / sqrt(epoch) * lr0 decay is written; k * lr0 is one number.
        return InverseSqrtDecay(lr0, steps_per_epoch=steps_per_epoch)
    if sched.name == "piecewise":
        # values[i] holds through epoch boundaries[i]; step t uses values[i] while
        # t <= boundary, so the last step of that epoch is the boundary.
        boundaries = [int(b * steps_per_epoch) - 1 for b in sched.boundaries]
        return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, list(sched.values))
    return lr0


def build_optimizer(recipe: Recipe, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The recipe's optimizer. Momentum-family optimizers come from `keras_recipes.optimizers`,
    whose momentum / beta_1 lives in a variable that a 1cycle schedule can really cycle."""
    opt = recipe.optimizer
    reg = recipe.regularization
    common = {"learning_rate": learning_rate(recipe, steps_per_epoch)}
    if reg.weight_decay_mode == "decoupled" and reg.weight_decay > 0:
        common["weight_decay"] = reg.weight_decay
    if opt.clipvalue:
        common["clipvalue"] = opt.clipvalue
    if opt.clipnorm:
        common["clipnorm"] = opt.clipnorm
    adam_args = {"beta_1": opt.beta_1, "beta_2": opt.beta_2, "epsilon": opt.epsilon}
    name = opt.name
    if name == "sgd":
        return keras.optimizers.SGD(**common)
    if name in ("momentum", "nesterov"):
        return recipe_optimizers.SGD(momentum=opt.momentum, nesterov=name == "nesterov", **common)
    if name == "adagrad":
        return keras.optimizers.Adagrad(epsilon=opt.epsilon, **common)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(rho=opt.rho, epsilon=opt.epsilon, **common)
    if name == "adam":
        return recipe_optimizers.Adam(**adam_args, **common)
    if name == "nadam":
        return recipe_optimizers.Nadam(**adam_args, **common)
    if name == "adamax":
        return keras.optimizers.Adamax(**adam_args, **common)
    if name == "adamw":
        # AdamW's decay is always decoupled; under the l2 mode the decay term is in the loss.
        common.setdefault("weight_decay", 0.0)
        return recipe_optimizers.AdamW(**adam_args, **common)
    raise AssertionError(f"unhandled optimizer {name!r}")  # validation lists every name


def schedule_callbacks(recipe: Recipe, steps_per_epoch: int) -> list[keras.callbacks.Callback]:
    """The callbacks that run 1cycle or performance scheduling (none for the others).

    The 1cycle spans the recipe's epochs, not fit()'s: a run that stops at an earlier epoch
    (`train(until_epoch=...)`) trains the start of the same cycle."""
    sched = recipe.schedule
    if sched.name == "1cycle":
        return [
            OneCycleScheduler(
                recipe.optimizer.learning_rate,
                total_steps=recipe.training.epochs * steps_per_epoch,
                pct_start=sched.pct_start,
                div_factor=sched.div_factor,
                final_div_factor=sched.final_div_factor,
                anneal=sched.anneal,
                three_phase=sched.three_phase,
                cycle_momentum=sched.cycle_momentum,
                base_momentum=sched.base_momentum,
                max_momentum=sched.max_momentum,
            )
        ]
    if sched.name == "performance":
        return [
            PerformanceScheduler(
                monitor=sched.monitor,
                factor=sched.factor,
                patience=sched.patience,
                threshold=sched.threshold,
                threshold_mode=sched.threshold_mode,
                min_lr=sched.min_lr,
            )
        ]
    return []


ModelBuilder = Callable[[Recipe, tuple[int, int, int], int], keras.Model]


def alexnet_builder(width: float, seed: int | None = None) -> ModelBuilder:
    """The default model of `train()`: AlexNet at `width`, its dropout seeded by `seed`."""

    def build(recipe: Recipe, input_shape, num_classes):
        return alexnet(recipe, input_shape, num_classes, width=width, seed=seed)

    return build


def mixed_precision_policy() -> str:
    """mixed_float16 where a GPU is visible (tensor cores), else mixed_bfloat16."""
    return "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"


def compile_model(
    recipe: Recipe,
    input_shape: tuple[int, int, int],
    num_classes: int,
    steps_per_epoch: int,
    *,
    builder: ModelBuilder | None = None,
    mixed_precision: bool = False,
    jit_compile: bool = False,
) -> keras.Model:
    """The model `train()` fits, compiled as `train()` compiles it (in the caller's scope).

    The recipe's optimizer, sparse categorical cross-entropy and accuracy. A mixed_float16
    model gets its LossScaleOptimizer from `compile()` itself.

    Example:

    >>> from keras_recipes.recipes import get_recipe
    >>> model = compile_model(get_recipe("relu"), (64, 64, 3), 2, 10, jit_compile=True)
    >>> model.jit_compile, model.dtype_policy.name
    (True, 'float32')
    """
    if jit_compile:
        # Keras quietly compiles without XLA while op determinism is on.
        _compat.disable_op_determinism()
    builder = builder or alexnet_builder(1.0)
    policy = mixed_precision_policy() if mixed_precision else "float32"
    # Layers take the global policy when they are built; set it for the build only, so a
    # mixed-precision model leaves the next one in the same process at float32.
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        model = builder(recipe, input_shape, num_classes)
    finally:
        keras.config.set_dtype_policy(previous)
    model.compile(
        optimizer=build_optimizer(recipe, steps_per_epoch),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=jit_compile,
    )
    return model
