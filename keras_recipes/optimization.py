"""Recipe -> optimizer, learning-rate schedule and the schedule's callbacks.

Keras's own schedules do power-free decays; `keras_recipes.schedules` adds the power and
inverse square-root forms; 1cycle and performance scheduling are callbacks from
`keras_recipes.callbacks`.
"""

from __future__ import annotations

import keras

from keras_recipes import optimizers as recipe_optimizers
from keras_recipes.callbacks import OneCycleScheduler, PerformanceScheduler
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


def schedule_callbacks(recipe: Recipe) -> list[keras.callbacks.Callback]:
    """The callbacks that run 1cycle or performance scheduling (none for the others)."""
    sched = recipe.schedule
    if sched.name == "1cycle":
        return [
            OneCycleScheduler(
                recipe.optimizer.learning_rate,
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
