"""The sections of a recipe: one frozen dataclass per TOML table.

They form one schema, so they live together; `Recipe` in `recipe.py` bundles them.
Optional numbers use 0 for "off" because TOML has no null.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ALEXNET_INIT_TABLE = "alexnet2012"
"""`init.kernel` value that selects the original per-layer normal(0, std) table."""

ActivationName = Literal[
    "relu", "leaky_relu", "prelu", "rrelu", "elu", "selu", "gelu", "swish", "tanh", "sigmoid"
]
OptimizerName = Literal[
    "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "nadam", "adamax", "adamw"
]
ScheduleName = Literal[
    "constant",
    "power",
    "exponential",
    "piecewise",
    "inverse_time",
    "inverse_sqrt",
    "performance",
    "1cycle",
]


@dataclass(frozen=True)
class InitSection:
    """Weight initialisation.

    `kernel` is any Keras initializer name (`he_normal`, `lecun_normal`, `glorot_uniform`, ...)
    or `alexnet2012` for the original per-layer normal(0, std) table with its bias constants.
    """

    kernel: str = "he_normal"
    bias: float = 0.0


@dataclass(frozen=True)
class ActivationSection:
    """Hidden-layer activation and its parameters."""

    name: ActivationName = "relu"
    negative_slope: float = 0.3  # leaky_relu; Keras's LeakyReLU default
    elu_alpha: float = 1.0
    rrelu_lower: float = 1.0 / 8.0  # rrelu samples its slope in [lower, upper] while training
    rrelu_upper: float = 1.0 / 3.0


@dataclass(frozen=True)
class NormalizationSection:
    """Batch normalisation: off, or placed before / after each hidden activation."""

    kind: Literal["none", "batch"] = "none"
    placement: Literal["before", "after"] = "before"
    momentum: float = 0.99


@dataclass(frozen=True)
class RegularizationSection:
    """Weight decay, dropout and max-norm.

    `weight_decay_mode = "l2"` adds wd * sum(w**2) / 2 over every trainable variable to the
    loss (the original); `"decoupled"` hands wd to the optimizer (AdamW-style decay).
    `dropout_kind = "mc"` keeps dropout on at inference and makes every prediction
    (validation, test, each 10-crop view) the mean of the softmax of `mc_passes`
    stochastic passes; the other kinds ignore `mc_passes`.
    """

    weight_decay: float = 0.0
    weight_decay_mode: Literal["l2", "decoupled"] = "l2"
    dropout_rate: float = 0.5
    dropout_kind: Literal["dropout", "alpha", "mc"] = "dropout"
    mc_passes: int = 10
    max_norm: float = 0.0


@dataclass(frozen=True)
class OptimizerSection:
    """Optimizer and its parameters; `clipvalue` / `clipnorm` of 0 mean no clipping."""

    name: OptimizerName = "momentum"
    learning_rate: float = 0.01
    momentum: float = 0.9
    beta_1: float = 0.9
    beta_2: float = 0.999
    rho: float = 0.9
    epsilon: float = 1e-7
    clipvalue: float = 0.0
    clipnorm: float = 0.0


@dataclass(frozen=True)
class ScheduleSection:
    """Learning-rate schedule. Durations are in epochs; training converts them to steps.

    - `power`: lr0 / (1 + t / decay_epochs) ** power
    - `exponential`: lr0 * decay_rate ** (t / decay_epochs)
    - `inverse_time`: lr0 / (1 + decay_rate * t / decay_epochs)
    - `inverse_sqrt`: lr0 / sqrt(epoch), epochs counted from 1 and the rate constant within
      one (`keras_recipes.schedules.InverseSqrtDecay`; its k is folded into lr0)
    - `piecewise`: `values[i]` until epoch `boundaries[i]`
    - `performance`: lr *= factor after more than `patience` epochs without improvement
    - `1cycle`: `optimizer.learning_rate` is the peak (max_lr) of the cycle
    """

    name: ScheduleName = "constant"
    decay_epochs: float = 10.0
    decay_rate: float = 0.5
    power: float = 1.0
    boundaries: tuple[int, ...] = ()
    values: tuple[float, ...] = ()
    monitor: str = "val_accuracy"
    patience: int = 30
    factor: float = 0.1
    threshold: float = 1e-4
    threshold_mode: Literal["rel", "abs"] = "rel"
    min_lr: float = 0.0
    pct_start: float = 0.3
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    anneal: Literal["cos", "linear"] = "cos"
    three_phase: bool = False
    cycle_momentum: bool = True
    base_momentum: float = 0.85
    max_momentum: float = 0.95


@dataclass(frozen=True)
class TrainingSection:
    """Input preprocessing, batch size, epochs, evaluation and early stopping (0 = off)."""

    preprocessing: Literal["mean", "standardize", "none"] = "mean"
    batch_size: int = 256
    epochs: int = 300
    evaluation: Literal["tta10", "center"] = "center"
    early_stopping_patience: int = 0
