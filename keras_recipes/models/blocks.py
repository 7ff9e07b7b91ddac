"""Recipe -> Keras layers: `RecipeLayers`, the one place that turns a recipe's initializer,
activation, normalisation, regulariser and dropout into layers. AlexNet, the MLP and
`apply_recipe` all build from it, and so can your own models.

Where each part goes:
- init, activation and batch norm: every hidden conv and dense layer (`conv_block`,
  `dense_block`);
- dropout: after the hidden dense layers the model chooses (AlexNet: fc6 and fc7; the
  MLP: the last one) (`dropout`);
- weight decay: every trainable variable, the classifier and batch norm's included;
  max-norm: every conv and dense kernel, the classifier's included;
- the classifier (`output_dense`) takes the init that the init-by-activation rule gives
  its own activation (`output_initializer`: Glorot for softmax), not the hidden layers'
  (He for ReLU and ELU, LeCun for SELU); only the original `alexnet2012` table sets it
  (normal(0, 0.01)).

The random layers (dropout, RReLU) take seeds derived from the run's seed and their
names (`layer_seed`), so `--seed` changes their masks and a seed repeats them.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from keras_recipes.errors import ConfigError
from keras_recipes.models.mc_dropout import MCAverage, MCDropout, MCRepeat
from keras_recipes.models.rrelu import RReLU
from keras_recipes.recipes import ALEXNET_INIT_TABLE, Recipe, get_recipe, validate

# The init-by-activation rule (Glorot for none, tanh, logistic and softmax; He for the
# ReLU family and ELU; LeCun for SELU); anything else falls back to Glorot, Keras's default.
HE_ACTIVATIONS = ("relu", "relu6", "leaky_relu", "prelu", "rrelu", "elu", "gelu", "silu", "swish")
LECUN_ACTIVATIONS = ("selu",)


def layer_seed(seed: int | None, name: str) -> int | None:
    """The seed of the random layer `name` in a model built with the run's `seed`.

    A Keras `SeedGenerator` given a seed ignores the global one
    (`keras.utils.set_random_seed`), so each layer's seed is drawn from the run's seed and
    the layer's name (NumPy's `SeedSequence`): other seeds give other masks, the same seed
    the same ones, and no two layers of a model share a stream. `None` stays None: Keras
    then draws the seed from its global random state.

    Example:

    >>> layer_seed(0, "fc6_dropout") == layer_seed(0, "fc6_dropout")
    True
    >>> layer_seed(0, "fc6_dropout") != layer_seed(1, "fc6_dropout")
    True
    >>> layer_seed(0, "fc6_dropout") != layer_seed(0, "fc7_dropout")
    True
    """
    if seed is None:
        return None
    entropy = [int(seed), *name.encode()]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def resolve_recipe(recipe: Recipe | str | Path) -> Recipe:
    """A `Recipe` as given (validated), or the registry's recipe for a name or `.toml` path."""
    if isinstance(recipe, Recipe):
        validate(recipe)  # a Recipe built directly skips from_dict's checks
        return recipe
    if isinstance(recipe, str | Path):
        return get_recipe(recipe)
    raise ConfigError(
        f"Invalid recipe {recipe!r} ({type(recipe).__name__}); expected a Recipe, a "
        "registered recipe name (see keras_recipes.recipes.list_recipes()) or a .toml path."
    )


def output_initializer(activation: str | None) -> keras.initializers.Initializer:
    """The init-by-activation rule for a layer followed by `activation` (None: linear).

    Example:

    >>> type(output_initializer("softmax")).__name__, type(output_initializer("relu")).__name__
    ('GlorotUniform', 'HeNormal')
    """
    if activation in HE_ACTIVATIONS:
        return keras.initializers.HeNormal()
    if activation in LECUN_ACTIVATIONS:
        return keras.initializers.LecunNormal()
    return keras.initializers.GlorotUniform()


class RecipeLayers:
    """Builds the layers a recipe asks for: what AlexNet, the MLP and `apply_recipe` use.

    Hidden weight layers (`conv2d`, `dense`) take the recipe's init, bias, weight decay and
    max-norm; `activation` is its hidden activation; `normalization` and `dropout` its batch
    norm and dropout (None where the recipe has none); `conv_block` and `dense_block` put
    them together as weights -> [BN] -> activation -> [BN]. With batch norm before the
    activation a block's weight layer has no bias: BN's beta replaces it. The random layers
    (dropout, RReLU) are seeded from `seed` and their names (`layer_seed`).

    Example:

    >>> import keras
    >>> layers = RecipeLayers("default", seed=0)
    >>> inputs = keras.Input((32, 32, 3))
    >>> x = layers.conv_block(inputs, 16, 3, name="conv1")
    >>> x = keras.layers.GlobalAveragePooling2D()(x)
    >>> outputs = layers.output_dense(10, activation="softmax", name="classifier")(x)
    >>> model = keras.Model(inputs, outputs)
    >>> [layer.name for layer in model.layers[1:4]]
    ['conv1', 'conv1_bn', 'conv1_elu']
    >>> model.get_layer("conv1").use_bias
    False

    Args:
        recipe: Recipe, or a registered recipe name, or a path to a `.toml` recipe.
        seed: int or None. The run's seed for the dropout and RReLU layers; None: Keras's
            global seed picks them.
    """

    def __init__(self, recipe: Recipe | str | Path, seed: int | None = None):
        self.recipe = resolve_recipe(recipe)
        self.seed = seed
        self._unnamed = itertools.count(1)

    # -- what the recipe says --------------------------------------------------------------

    @property
    def uses_init_table(self) -> bool:
        """True when the recipe asks for the original per-layer normal(0, std) table."""
        return self.recipe.init.kernel == ALEXNET_INIT_TABLE

    @property
    def bn_before(self) -> bool:
        """Batch norm between each hidden weight layer and its activation."""
        norm = self.recipe.normalization
        return norm.kind == "batch" and norm.placement == "before"

    @property
    def bn_after(self) -> bool:
        """Batch norm after each hidden activation."""
        norm = self.recipe.normalization
        return norm.kind == "batch" and norm.placement == "after"

    @property
    def mc_passes(self) -> int:
        """Passes averaged per prediction: `regularization.mc_passes` under MC dropout, else 1."""
        reg = self.recipe.regularization
        if reg.dropout_kind == "mc" and reg.dropout_rate > 0:
            return reg.mc_passes
        return 1

    def _seed(self, name: str | None) -> int | None:
        # An unnamed layer still needs its own stream: number it within this factory.
        return layer_seed(self.seed, name or f"#{next(self._unnamed)}")

    # -- weights ---------------------------------------------------------------------------

    def l2_regularizer(self) -> keras.regularizers.Regularizer | None:
        """wd * sum(w**2) / 2, the original's decay term, for every trainable variable.

        Keras's L2(l) computes l * sum(w**2), so l = wd / 2 gives the original's term
        exactly. None under decoupled (optimizer-side, AdamW-style) decay or wd = 0.
        """
        reg = self.recipe.regularization
        if reg.weight_decay_mode != "l2" or reg.weight_decay == 0:
            return None
        return keras.regularizers.L2(reg.weight_decay / 2.0)

    def max_norm(self, axis: int | list[int] = 0) -> keras.constraints.Constraint | None:
        """`regularization.max_norm` as a kernel constraint; None when it is 0.

        `axis`: the kernel's axes that hold one unit's incoming weights, whose norm is
        bounded (`unit_axes`): 0 for a Dense kernel, [0, 1, 2] for a Conv2D one (Keras's
        MaxNorm defaults to 0, which on a conv kernel bounds columns of a filter's rows).
        """
        value = self.recipe.regularization.max_norm
        return keras.constraints.MaxNorm(value, axis=axis) if value else None

    def _table(self, table_std: float | None, table_bias: float | None, name: str | None):
        if table_std is None:
            raise ConfigError(
                f"Recipe {self.recipe.name!r} uses init.kernel={ALEXNET_INIT_TABLE!r}, "
                f"AlexNet's own per-layer normal(0, std) table, which has no entry for layer "
                f"{name!r}; pass its table_std (and table_bias), or use a recipe whose "
                'init.kernel is a Keras initializer (e.g. recipe.replace(init={"kernel": '
                '"he_normal"})).'
            )
        return keras.initializers.RandomNormal(0.0, table_std), table_bias or 0.0

    def weight_kwargs(
        self,
        use_bias: bool | None = None,
        *,
        table_std: float | None = None,
        table_bias: float | None = None,
        name: str | None = None,
    ) -> dict:
        """Keyword arguments of a hidden Conv or Dense layer: init, bias, decay, max-norm.

        `use_bias` None: a bias unless batch norm comes before the activation.
        `table_std` / `table_bias`: the layer's entry under the `alexnet2012` table.
        """
        if use_bias is None:
            use_bias = not self.bn_before
        if self.uses_init_table:
            kernel, bias = self._table(table_std, table_bias, name)
        else:
            kernel, bias = keras.initializers.get(self.recipe.init.kernel), self.recipe.init.bias
        return {
            "use_bias": use_bias,
            "kernel_initializer": kernel,
            "bias_initializer": keras.initializers.Constant(bias),
            "kernel_regularizer": self.l2_regularizer(),
            "bias_regularizer": self.l2_regularizer() if use_bias else None,
            "kernel_constraint": self.max_norm(),
        }

    def output_kwargs(self, activation: str | None = None, *, table_std: float = 0.01) -> dict:
        """Keyword arguments of the output layer: the init-by-activation rule for its
        `activation` with zero bias (the table's normal(0, `table_std`) under `alexnet2012`),
        and decay and max-norm as the hidden layers."""
        # The hidden init is drawn first even where it is replaced: the order in which
        # initializers are created decides the weights under a global seed.
        kwargs = self.weight_kwargs(True, table_std=table_std, table_bias=0.0)
        if not self.uses_init_table:
            kwargs["kernel_initializer"] = output_initializer(activation)
            kwargs["bias_initializer"] = keras.initializers.Zeros()
        return kwargs

    def conv2d(
        self,
        filters: int,
        kernel_size,
        strides=1,
        padding: str = "valid",
        *,
        name: str | None = None,
        use_bias: bool | None = None,
        table_std: float | None = None,
        table_bias: float | None = None,
        **kwargs,
    ) -> keras.layers.Conv2D:
        """A hidden Conv2D with the recipe's weights (see `weight_kwargs`); no activation."""
        weights = self.weight_kwargs(
            use_bias, table_std=table_std, table_bias=table_bias, name=name
        )
        weights["kernel_constraint"] = self.max_norm(axis=[0, 1, 2])  # each filter
        return keras.layers.Conv2D(
            filters, kernel_size, strides, padding=padding, name=name, **weights, **kwargs
        )

    def dense(
        self,
        units: int,
        *,
        name: str | None = None,
        use_bias: bool | None = None,
        table_std: float | None = None,
        table_bias: float | None = None,
        **kwargs,
    ) -> keras.layers.Dense:
        """A hidden Dense with the recipe's weights (see `weight_kwargs`); no activation."""
        weights = self.weight_kwargs(
            use_bias, table_std=table_std, table_bias=table_bias, name=name
        )
        return keras.layers.Dense(units, name=name, **weights, **kwargs)

    def output_dense(
        self,
        units: int,
        activation: str | None = None,
        *,
        name: str | None = None,
        table_std: float = 0.01,
    ) -> keras.layers.Dense:
        """The classifier: a Dense whose init follows its `activation` (`output_kwargs`)."""
        kwargs = self.output_kwargs(activation, table_std=table_std)
        return keras.layers.Dense(units, activation=activation, name=name, **kwargs)

    # -- activation, normalisation, dropout ------------------------------------------------

    def activation(self, name: str | None = None, shared_axes=None) -> keras.layers.Layer:
        """The recipe's hidden activation as a layer (PReLU shares its slope over
        `shared_axes`, e.g. [1, 2] for conv maps; RReLU draws its slopes from its seed)."""
        act = self.recipe.activation
        if act.name == "leaky_relu":
            return keras.layers.LeakyReLU(negative_slope=act.negative_slope, name=name)
        if act.name == "prelu":
            return keras.layers.PReLU(
                alpha_initializer=keras.initializers.Constant(0.25),
                alpha_regularizer=self.l2_regularizer(),
                shared_axes=shared_axes,
                name=name,
            )
        if act.name == "rrelu":
            return RReLU(act.rrelu_lower, act.rrelu_upper, seed=self._seed(name), name=name)
        if act.name == "elu":
            return keras.layers.ELU(alpha=act.elu_alpha, name=name)
        return keras.layers.Activation(act.name, name=name)

    def normalization(self, name: str | None = None, **kwargs) -> keras.layers.Layer | None:
        """BatchNormalization with the recipe's momentum and the decay term on gamma and
        beta; None when the recipe has no batch norm. `kwargs` (axis, epsilon, ...) go to it.

        Built under a strategy with several replicas, the batch statistics are synchronised
        across them, so a step on a split global batch is the step on the whole batch.
        """
        if self.recipe.normalization.kind != "batch":
            return None
        return keras.layers.BatchNormalization(
            momentum=self.recipe.normalization.momentum,
            synchronized=tf.distribute.get_strategy().num_replicas_in_sync > 1,
            gamma_regularizer=self.l2_regularizer(),
            beta_regularizer=self.l2_regularizer(),
            name=name,
            **kwargs,
        )

    def dropout(
        self, name: str | None = None, rate: float | None = None
    ) -> keras.layers.Layer | None:
        """The recipe's dropout kind (plain, alpha or MC) at its rate (or `rate`); None when
        the rate is 0."""
        reg = self.recipe.regularization
        rate = reg.dropout_rate if rate is None else rate
        if rate == 0:
            return None
        layer_cls = {
            "dropout": keras.layers.Dropout,
            "alpha": keras.layers.AlphaDropout,
            "mc": MCDropout,
        }[reg.dropout_kind]
        return layer_cls(rate, seed=self._seed(name), name=name)

    # -- blocks ----------------------------------------------------------------------------

    def _block(self, x, weight_layer, *, name: str | None, shared_axes=None):
        x = weight_layer(x)
        if self.bn_before:
            x = self.normalization(f"{name}_bn" if name else None)(x)
        act_name = f"{name}_{self.recipe.activation.name}" if name else None
        x = self.activation(act_name, shared_axes)(x)
        if self.bn_after:
            x = self.normalization(f"{name}_bn" if name else None)(x)
        return x

    def conv_block(
        self,
        x: keras.KerasTensor,
        filters: int,
        kernel_size,
        strides=1,
        padding: str = "same",
        *,
        name: str | None = None,
        table_std: float | None = None,
        table_bias: float | None = None,
    ) -> keras.KerasTensor:
        """conv -> [BN] -> activation -> [BN], batch norm placed as the recipe says.

        The layers are named `name`, `name_bn` and `name_<activation>`; PReLU shares its
        slope over the two spatial axes.
        """
        conv = self.conv2d(
            filters,
            kernel_size,
            strides,
            padding,
            name=name,
            table_std=table_std,
            table_bias=table_bias,
        )
        return self._block(x, conv, name=name, shared_axes=[1, 2])

    def dense_block(
        self,
        x: keras.KerasTensor,
        units: int,
        *,
        name: str | None = None,
        table_std: float | None = None,
        table_bias: float | None = None,
    ) -> keras.KerasTensor:
        """dense -> [BN] -> activation -> [BN], as `conv_block`."""
        dense = self.dense(units, name=name, table_std=table_std, table_bias=table_bias)
        return self._block(x, dense, name=name)

    # -- Monte Carlo dropout ---------------------------------------------------------------

    def mc_repeat(self, x: keras.KerasTensor) -> keras.KerasTensor:
        """Before the first MC dropout: T copies of the batch at inference (see `MCRepeat`)."""
        passes = self.mc_passes
        return MCRepeat(passes, name="mc_repeat")(x) if passes > 1 else x

    def mc_average(self, probabilities: keras.KerasTensor) -> keras.KerasTensor:
        """After the softmax: the mean of the T copies at inference (see `MCAverage`)."""
        passes = self.mc_passes
        return MCAverage(passes, name="mc_average")(probabilities) if passes > 1 else probabilities
