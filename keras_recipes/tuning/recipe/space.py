"""`RecipeSpace`: the recipe choices `keras-recipes tune` searches, as keras-tuner
hyperparameters, and the way a point of it becomes a `Recipe`."""

from __future__ import annotations

import math
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from keras_recipes.errors import ConfigError
from keras_recipes.recipes import (
    ActivationSection,
    OptimizerSection,
    Recipe,
    RegularizationSection,
    ScheduleSection,
)
from keras_recipes.recipes.fields import closest
from keras_recipes.recipes.sections import ALEXNET_INIT_TABLE
from keras_recipes.recipes.validation import KERAS_INITIALIZERS

#: Where batch norm goes; "none" turns it off.
NORMALIZATIONS = ("none", "before", "after")
#: The continuous parameters, searched on a log scale (`1 - momentum` too, see the class).
CONTINUOUS = ("learning_rate", "weight_decay", "one_minus_momentum")


def _literal_choices(section: type, name: str) -> tuple[str, ...]:
    hint = typing.get_type_hints(section)[name]
    return typing.get_args(hint)


#: The valid values of each categorical parameter, from the recipe schema itself.
VALID_CHOICES: dict[str, tuple[str, ...]] = {
    "activation": _literal_choices(ActivationSection, "name"),
    "init": (ALEXNET_INIT_TABLE, *KERAS_INITIALIZERS),
    "normalization": NORMALIZATIONS,
    "optimizer": _literal_choices(OptimizerSection, "name"),
    "schedule": _literal_choices(ScheduleSection, "name"),
    "dropout_kind": _literal_choices(RegularizationSection, "dropout_kind"),
}


@dataclass(frozen=True)
class RecipeSpace:
    """Six recipe choices and three continuous parameters, searched by keras-tuner.

    A point (`{"activation": "elu", ..., "learning_rate": 0.01, ...}`) becomes a recipe
    with `recipe_for`: the base recipe with these fields replaced, validated as any recipe
    is. A combination the validation forbids (SELU with batch norm or without LeCun init,
    1cycle's momentum cycling with RMSProp, ...) raises `ConfigError` there, before
    anything is trained.

    The learning rate and weight decay are sampled log-uniformly. Momentum is sampled as
    `1 - momentum`, log-uniformly in `one_minus_momentum` ((1e-3, 1e-1): momentum 0.9 to
    0.999, with 0.9-0.99 and 0.99-0.999 equally likely). keras-tuner's
    `sampling="reverse_log"` is not the same thing: it makes `max + min - value`
    log-uniform, which is `1 - value` only when `min + max == 1`. The sampled value is
    used as `optimizer.momentum` (momentum, nesterov), `optimizer.beta_1` (the Adam
    family) and, under 1cycle (which drives the momentum itself), as the cycle's top,
    `schedule.max_momentum`. RMSProp uses none of them.

    The default schedules leave out "performance": its patience (30 epochs by default)
    outlasts a tuning trial, so it would be "constant" under another name.

    Example:

    >>> from keras_recipes.recipes import get_recipe
    >>> space = RecipeSpace()
    >>> space.names[:3], space.value_names[-1]
    (('activation', 'init', 'normalization'), 'momentum')
    >>> point = {"activation": "elu", "init": "he_normal", "normalization": "after",
    ...          "optimizer": "nadam", "schedule": "1cycle", "dropout_kind": "dropout",
    ...          "learning_rate": 0.002, "weight_decay": 1e-5, "one_minus_momentum": 0.05}
    >>> recipe = space.recipe_for(get_recipe("default"), point)
    >>> recipe.normalization.placement, recipe.optimizer.beta_1, recipe.schedule.max_momentum
    ('after', 0.95, 0.95)
    >>> space.invalid_reason(get_recipe("default"), {**point, "activation": "selu"})[:40]
    "Recipe 'default-tuned' uses SELU but bre"

    Args:
        activation: the activations to try (`activation.name`).
        init: the kernel initialisers to try (`init.kernel`).
        normalization: "none", "before" and/or "after": batch norm off, or before / after
            each hidden activation.
        optimizer: the optimizers to try (`optimizer.name`).
        schedule: the learning-rate schedules to try (`schedule.name`).
        dropout_kind: "dropout", "alpha" and/or "mc" (`regularization.dropout_kind`; the
            rate stays the base recipe's).
        learning_rate: (low, high). `optimizer.learning_rate` (1cycle: the peak).
        weight_decay: (low, high). `regularization.weight_decay`.
        one_minus_momentum: (low, high). `1 - momentum` (see above).
    """

    activation: tuple[str, ...] = ("relu", "leaky_relu", "prelu", "elu", "selu")
    init: tuple[str, ...] = ("he_normal", "lecun_normal", "glorot_uniform")
    normalization: tuple[str, ...] = NORMALIZATIONS
    optimizer: tuple[str, ...] = ("momentum", "nesterov", "rmsprop", "adam", "nadam")
    schedule: tuple[str, ...] = ("constant", "exponential", "power", "inverse_sqrt", "1cycle")
    dropout_kind: tuple[str, ...] = ("dropout", "alpha", "mc")
    # Wide enough for the original's 0.01 and its tuned ~0.016 / 2.5e-5; narrower than
    # train-with-bo's (1e-5, 0.1) because a few-epoch trial learns nothing at lr 1e-5.
    learning_rate: tuple[float, float] = (1e-4, 1e-1)
    weight_decay: tuple[float, float] = (1e-6, 1e-2)
    one_minus_momentum: tuple[float, float] = (1e-3, 1e-1)

    def __post_init__(self) -> None:
        for name, valid in VALID_CHOICES.items():
            values = getattr(self, name)
            if isinstance(values, str) or not isinstance(values, Sequence) or not values:
                raise ConfigError(
                    f"RecipeSpace.{name} must be a non-empty list of choices; got {values!r}."
                )
            object.__setattr__(self, name, tuple(values))
            for value in values:
                if value not in valid:
                    raise ConfigError(
                        f"Invalid choice {value!r} for `{name}`. Valid: "
                        f"{', '.join(valid)}.{closest(str(value), valid)}"
                    )
            if len(set(values)) != len(values):
                raise ConfigError(f"RecipeSpace.{name} lists a choice twice: {list(values)}.")
        for name in CONTINUOUS:
            pair = getattr(self, name)
            try:
                low, high = (float(v) for v in pair)
            except (TypeError, ValueError):
                raise ConfigError(
                    f"RecipeSpace.{name} must be (low, high); got {pair!r}."
                ) from None
            top = 1.0 if name == "one_minus_momentum" else math.inf
            if not (0 < low < high < top and math.isfinite(high)):
                rule = "0 < low < high < 1" if name == "one_minus_momentum" else "0 < low < high"
                raise ConfigError(
                    f"RecipeSpace.{name} must have {rule} (log scale); got ({low:g}, {high:g})."
                )
            object.__setattr__(self, name, (low, high))

    # -- the parameters --------------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        """The hyperparameters, in search order: the six choices, then the three numbers."""
        return (*VALID_CHOICES, *CONTINUOUS)

    @property
    def value_names(self) -> tuple[str, ...]:
        """The values used: as `names`, with `one_minus_momentum` -> `momentum`."""
        return tuple("momentum" if n == "one_minus_momentum" else n for n in self.names)

    def values(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The values used for a point (`momentum = 1 - one_minus_momentum`)."""
        out = {name: params[name] for name in self.names if name != "one_minus_momentum"}
        out["momentum"] = 1.0 - float(params["one_minus_momentum"])
        return {name: out[name] for name in self.value_names}

    def hyperparameters(self):
        """The space as `keras_tuner.HyperParameters` (Choice, and Float on a log scale)."""
        import keras_tuner

        hps = keras_tuner.HyperParameters()
        for name in VALID_CHOICES:
            hps.Choice(name, list(getattr(self, name)))
        for name in CONTINUOUS:
            low, high = getattr(self, name)
            hps.Float(name, low, high, sampling="log")
        return hps

    # -- point -> recipe ---------------------------------------------------------------------

    def recipe_for(
        self,
        base: Recipe,
        params: Mapping[str, Any],
        *,
        epochs: int | None = None,
        name: str | None = None,
        description: str | None = None,
    ) -> Recipe:
        """`base` with the point's fields, validated.

        Args:
            base: Recipe. Supplies every field the space does not set (dropout rate,
                preprocessing, batch size, epochs, schedule details, ...).
            params: mapping. A point: a value for each of `names`.
            epochs: int or None. Replaces `training.epochs` (Hyperband's per-trial budget).
            name: str or None. The recipe's name (default: `<base>-tuned`).
            description: str or None. The recipe's description (default: base's).

        Raises:
            ConfigError: the point is a combination the recipe validation forbids.
        """
        missing = [n for n in self.names if n not in params]
        if missing:
            raise ConfigError(f"The point has no value for {', '.join(missing)}.")
        beta = 1.0 - float(params["one_minus_momentum"])
        norm = str(params["normalization"])
        schedule: dict[str, Any] = {"name": str(params["schedule"])}
        if params["schedule"] == "1cycle":
            # The cycle sets the momentum itself: the sampled value is its top, and the
            # bottom stays below it.
            schedule["max_momentum"] = beta
            schedule["base_momentum"] = min(base.schedule.base_momentum, beta)
        sections: dict[str, Any] = {
            "name": name or f"{base.name}-tuned",
            "description": base.description if description is None else description,
            "init": {"kernel": str(params["init"])},
            "activation": {"name": str(params["activation"])},
            "normalization": {"kind": "none"}
            if norm == "none"
            else {"kind": "batch", "placement": norm},
            "regularization": {
                "dropout_kind": str(params["dropout_kind"]),
                "weight_decay": float(params["weight_decay"]),
            },
            "optimizer": {
                "name": str(params["optimizer"]),
                "learning_rate": float(params["learning_rate"]),
                "momentum": beta,
                "beta_1": beta,
            },
            "schedule": schedule,
        }
        if epochs is not None:
            sections["training"] = {"epochs": int(epochs)}
        return base.replace(**sections)

    def invalid_reason(self, base: Recipe, params: Mapping[str, Any]) -> str | None:
        """Why `recipe_for(base, params)` is refused, or None when it is a valid recipe."""
        try:
            self.recipe_for(base, params)
        except ConfigError as err:
            return str(err)
        return None

    # -- persistence --------------------------------------------------------------------------

    def to_json(self) -> dict[str, list]:
        """`{"activation": [...], ..., "learning_rate": [low, high], ...}`."""
        return {f.name: list(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> RecipeSpace:
        """The inverse of `to_json`; unknown keys are an error naming the valid ones."""
        valid = [f.name for f in fields(cls)]
        for key in doc:
            if key not in valid:
                raise ConfigError(
                    f"Unknown recipe-space key {key!r}. Valid: {', '.join(valid)}."
                    f"{closest(str(key), valid)}"
                )
        return cls(**{key: tuple(value) for key, value in doc.items()})
