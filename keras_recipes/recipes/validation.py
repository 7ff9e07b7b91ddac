"""Checks that span fields: value ranges and the self-normalising conditions of SELU."""

from __future__ import annotations

from typing import TYPE_CHECKING

from keras_recipes.errors import ConfigError
from keras_recipes.recipes.fields import closest
from keras_recipes.recipes.sections import ALEXNET_INIT_TABLE

if TYPE_CHECKING:
    from keras_recipes.recipes.recipe import Recipe

# Optimizers whose momentum (or Adam's beta_1) keras_recipes.optimizers holds in a variable,
# so a 1cycle schedule can cycle it inside the compiled train step.
CYCLABLE_OPTIMIZERS = ("momentum", "nesterov", "adam", "nadam", "adamw")

KERAS_INITIALIZERS = (
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "lecun_uniform",
    "orthogonal",
    "random_normal",
    "random_uniform",
    "truncated_normal",
    "variance_scaling",
    "zeros",
    "ones",
)


def _require(ok: bool, field: str, value: object, rule: str) -> None:
    if not ok:
        raise ConfigError(f"Invalid value for `{field}`: {value!r}; it must be {rule}.")


def self_normalizing_violations(recipe: Recipe) -> list[str]:
    """The SELU self-normalising conditions that `recipe` breaks (empty when all hold).

    SELU keeps activations at mean 0 / std 1 only with standardised inputs, LeCun-normal
    weights in every hidden layer, no batch norm, and AlphaDropout instead of Dropout.
    `init.kernel` sets the hidden conv and dense layers only: the softmax classifier
    takes Glorot init, the init-by-activation rule for softmax, and feeds no SELU.
    """
    broken = []
    if recipe.normalization.kind != "none":
        broken.append(
            f"normalization.kind={recipe.normalization.kind!r}: batch norm must be off "
            '(set normalization.kind="none")'
        )
    if recipe.init.kernel != "lecun_normal":
        broken.append(
            f"init.kernel={recipe.init.kernel!r}: every hidden conv and dense layer must "
            'be lecun_normal (set init.kernel="lecun_normal"; the softmax classifier keeps '
            "Glorot init, the rule for softmax)"
        )
    if recipe.regularization.dropout_rate > 0 and recipe.regularization.dropout_kind != "alpha":
        broken.append(
            f"regularization.dropout_kind={recipe.regularization.dropout_kind!r}: plain dropout "
            'breaks the fixed point (set regularization.dropout_kind="alpha")'
        )
    if recipe.training.preprocessing != "standardize":
        broken.append(
            f"training.preprocessing={recipe.training.preprocessing!r}: inputs must be "
            'standardised to mean 0, std 1 (set training.preprocessing="standardize")'
        )
    return broken


def validate(recipe: Recipe) -> None:
    """Raises ConfigError naming the first invalid field, its value and the valid range."""
    opt, reg = recipe.optimizer, recipe.regularization
    norm, train = recipe.normalization, recipe.training

    kernel = recipe.init.kernel
    if kernel != ALEXNET_INIT_TABLE and kernel not in KERAS_INITIALIZERS:
        valid = [ALEXNET_INIT_TABLE, *KERAS_INITIALIZERS]
        raise ConfigError(
            f"Invalid value for `init.kernel`: {kernel!r}. Valid values: "
            f"{', '.join(valid)}.{closest(kernel, valid)}"
        )

    _require(opt.learning_rate > 0, "optimizer.learning_rate", opt.learning_rate, "> 0")
    _require(0 <= opt.momentum < 1, "optimizer.momentum", opt.momentum, "in [0, 1)")
    _require(0 <= opt.beta_1 < 1, "optimizer.beta_1", opt.beta_1, "in [0, 1)")
    _require(0 <= opt.beta_2 < 1, "optimizer.beta_2", opt.beta_2, "in [0, 1)")
    _require(0 <= opt.rho < 1, "optimizer.rho", opt.rho, "in [0, 1)")
    _require(opt.epsilon > 0, "optimizer.epsilon", opt.epsilon, "> 0")
    _require(opt.clipvalue >= 0, "optimizer.clipvalue", opt.clipvalue, ">= 0 (0 = off)")
    _require(opt.clipnorm >= 0, "optimizer.clipnorm", opt.clipnorm, ">= 0 (0 = off)")
    if opt.clipvalue and opt.clipnorm:
        raise ConfigError(
            "Set only one of `optimizer.clipvalue` and `optimizer.clipnorm`; got "
            f"clipvalue={opt.clipvalue!r}, clipnorm={opt.clipnorm!r}."
        )

    rate = reg.dropout_rate
    _require(0 <= rate < 1, "regularization.dropout_rate", rate, "in [0, 1)")
    _require(reg.mc_passes >= 1, "regularization.mc_passes", reg.mc_passes, ">= 1")
    wd = reg.weight_decay
    _require(wd >= 0, "regularization.weight_decay", wd, ">= 0")
    _require(reg.max_norm >= 0, "regularization.max_norm", reg.max_norm, ">= 0 (0 = off)")
    _require(0 < norm.momentum < 1, "normalization.momentum", norm.momentum, "in (0, 1)")
    act = recipe.activation
    _require(act.negative_slope >= 0, "activation.negative_slope", act.negative_slope, ">= 0")
    _require(act.elu_alpha > 0, "activation.elu_alpha", act.elu_alpha, "> 0")
    _require(
        0 <= act.rrelu_lower <= act.rrelu_upper,
        "activation.rrelu_lower",
        act.rrelu_lower,
        f"in [0, activation.rrelu_upper={act.rrelu_upper}]",
    )

    _require(train.batch_size >= 1, "training.batch_size", train.batch_size, ">= 1")
    _require(train.epochs >= 1, "training.epochs", train.epochs, ">= 1")
    _require(
        train.early_stopping_patience >= 0,
        "training.early_stopping_patience",
        train.early_stopping_patience,
        ">= 0 (0 = off)",
    )

    _validate_schedule(recipe)

    if act.name == "selu":
        broken = self_normalizing_violations(recipe)
        if broken:
            raise ConfigError(
                f"Recipe {recipe.name!r} uses SELU but breaks its self-normalising conditions: "
                + "; ".join(broken)
                + '. Change these, or use another activation (e.g. activation.name="elu").'
            )


def _validate_schedule(recipe: Recipe) -> None:
    sched, opt = recipe.schedule, recipe.optimizer
    if sched.name in ("power", "exponential", "inverse_time"):
        _require(sched.decay_epochs > 0, "schedule.decay_epochs", sched.decay_epochs, "> 0")
    if sched.name in ("exponential", "inverse_time"):
        _require(sched.decay_rate > 0, "schedule.decay_rate", sched.decay_rate, "> 0")
    if sched.name == "power":
        _require(sched.power > 0, "schedule.power", sched.power, "> 0")
    if sched.name == "piecewise":
        if len(sched.values) != len(sched.boundaries) + 1:
            raise ConfigError(
                "A piecewise schedule needs one more value than boundaries: got "
                f"schedule.boundaries={list(sched.boundaries)} and "
                f"schedule.values={list(sched.values)}."
            )
        if list(sched.boundaries) != sorted(set(sched.boundaries)) or any(
            b <= 0 for b in sched.boundaries
        ):
            raise ConfigError(
                "`schedule.boundaries` must be strictly increasing positive epochs; got "
                f"{list(sched.boundaries)}."
            )
        if any(v <= 0 for v in sched.values):
            raise ConfigError(f"`schedule.values` must all be > 0; got {list(sched.values)}.")
    if sched.name == "performance":
        _require(sched.patience >= 0, "schedule.patience", sched.patience, ">= 0")
        _require(0 < sched.factor < 1, "schedule.factor", sched.factor, "in (0, 1)")
        _require(sched.threshold >= 0, "schedule.threshold", sched.threshold, ">= 0")
        _require(sched.min_lr >= 0, "schedule.min_lr", sched.min_lr, ">= 0")
    if sched.name == "1cycle":
        _require(0 < sched.pct_start < 1, "schedule.pct_start", sched.pct_start, "in (0, 1)")
        _require(sched.div_factor > 0, "schedule.div_factor", sched.div_factor, "> 0")
        _require(
            sched.final_div_factor > 0,
            "schedule.final_div_factor",
            sched.final_div_factor,
            "> 0",
        )
        _require(
            0 <= sched.base_momentum <= sched.max_momentum < 1,
            "schedule.base_momentum",
            sched.base_momentum,
            f"in [0, schedule.max_momentum={sched.max_momentum}] with max_momentum < 1",
        )
        if sched.cycle_momentum and opt.name not in CYCLABLE_OPTIMIZERS:
            raise ConfigError(
                f"schedule.cycle_momentum=true needs an optimizer with momentum "
                f"({', '.join(CYCLABLE_OPTIMIZERS)}); got optimizer.name={opt.name!r}. "
                "Choose one of those, or set schedule.cycle_momentum=false."
            )
