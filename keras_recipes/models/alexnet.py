"""AlexNet with any recipe applied: the original 227-px geometry, and a scaled one for
small inputs and CPU runs (conv1 stride adapted, width multiplier)."""

from __future__ import annotations

from dataclasses import dataclass

import keras

import keras_recipes.models.blocks as blocks
from keras_recipes.errors import ConfigError
from keras_recipes.recipes import Recipe


@dataclass(frozen=True)
class _Conv:
    name: str
    filters: int
    kernel: int
    stride: int
    padding: str
    std: float
    bias: float
    pool: bool


# The original layer table: init normal(0, std), bias constant, 3x3/2 max-pool after 1, 2, 5.
CONV_LAYERS = (
    _Conv("conv1", 96, 11, 4, "valid", 0.01, 0.0, True),
    _Conv("conv2", 256, 5, 1, "same", 0.01, 0.1, True),
    _Conv("conv3", 384, 3, 1, "same", 0.01, 0.0, False),
    _Conv("conv4", 384, 3, 1, "same", 0.01, 0.1, False),
    _Conv("conv5", 256, 3, 1, "same", 0.01, 0.1, True),
)
DENSE_LAYERS = (("fc6", 4096, 0.005, 0.1), ("fc7", 4096, 0.005, 0.1))
OUTPUT_STD = 0.01
POOL_SIZE, POOL_STRIDE = 3, 2
FULL_SIZE = 227


def conv1_geometry(image_size: int) -> tuple[int, int]:
    """(kernel, stride) of conv1: the original 11/4 from 160 px up, smaller below.

    Keeping 11/4 on a 64-px input would leave no spatial map after three pools, so small
    inputs get a smaller kernel and stride (5/2 from 64 px, 3/1 below).
    """
    if image_size >= 160:
        return 11, 4
    if image_size >= 64:
        return 5, 2
    return 3, 1


def _valid(size: int, kernel: int, stride: int) -> int:
    return (size - kernel) // stride + 1


def feature_map_sizes(image_size: int) -> list[int]:
    """Spatial size after conv1, pool1, pool2 and pool5 (the last one feeds fc6)."""
    kernel, stride = conv1_geometry(image_size)
    size = _valid(image_size, kernel, stride)
    sizes = [size]
    for _ in range(3):  # conv2..conv5 keep the size ("same"); only the pools shrink it
        size = _valid(size, POOL_SIZE, POOL_STRIDE)
        sizes.append(size)
    return sizes


def min_image_size() -> int:
    """Smallest input whose last pooled map is at least 1x1."""
    size = 1
    while feature_map_sizes(size)[-1] < 1:
        size += 1
    return size


def check_image_size(image_size: int) -> None:
    """Raises ConfigError when `image_size` leaves no feature map for fc6."""
    if image_size < 1 or feature_map_sizes(image_size)[-1] < 1:
        raise ConfigError(
            f"Image size {image_size} is too small for the AlexNet geometry: it needs at least "
            f"{min_image_size()} px (32-128 px for the CPU-sized net, 227 for the original)."
        )


def alexnet(
    recipe: Recipe,
    input_shape: tuple[int, int, int] = (FULL_SIZE, FULL_SIZE, 3),
    num_classes: int = 2,
    width: float = 1.0,
    name: str = "alexnet",
    seed: int | None = None,
) -> keras.Model:
    """Builds AlexNet with `recipe`'s init, activation, normalisation, dropout and decay.

    At 227 px and width 1 this is the original geometry (58.3M parameters for 2 classes):
    conv1 11x11/4 valid -> pool -> conv2 5x5 -> pool -> conv3-5 3x3 -> pool (6x6x256)
    -> fc6 4096 -> fc7 4096 -> fc8. Both fc dropouts are applied.

    The hidden layers (conv1-5, fc6, fc7) take the recipe's init, activation and batch
    norm, and dropout follows fc6 and fc7. The classifier fc8 takes Glorot init, the
    init-by-activation rule for its softmax, unless the recipe uses the original
    `alexnet2012` table (fc8 normal(0, 0.01)). Weight decay covers every trainable
    variable. Under MC dropout (`regularization.dropout_kind = "mc"`) the model's
    prediction is the mean of `regularization.mc_passes` stochastic passes of fc6's
    output through the dropout layers, fc7 and fc8 (see `keras_recipes.models.mc_dropout`).

    Args:
        recipe: Recipe. Init, activation, normalisation, dropout and decay, as above.
        input_shape: tuple. (height, width, channels); height == width.
        num_classes: int. Outputs of the softmax layer.
        width: float. Multiplier on every layer's filters and units (CPU demo: 0.25).
        name: str. The model's name.
        seed: int or None. The run's seed; the dropout (and RReLU) layers' seeds are
            derived from it (`layer_seed`). None: Keras's global seed picks them.

    Example:

    >>> from keras_recipes.recipes import get_recipe
    >>> model = alexnet(get_recipe("alexnet2012"), (64, 64, 3), width=0.25)
    >>> model.output_shape
    (None, 2)
    """
    size = input_shape[0]
    if input_shape[0] != input_shape[1] or len(input_shape) != 3:
        raise ConfigError(
            f"AlexNet needs a square (size, size, channels) input; got {input_shape}."
        )
    check_image_size(size)
    if not width > 0:
        raise ConfigError(f"Invalid width multiplier {width!r}; it must be > 0 (e.g. 0.25 or 1).")
    if num_classes < 2:
        raise ConfigError(f"num_classes must be >= 2; got {num_classes}.")

    layers = blocks.RecipeLayers(recipe, seed)
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    kernel1, stride1 = conv1_geometry(size)
    for spec in CONV_LAYERS:
        kernel, stride = (kernel1, stride1) if spec.name == "conv1" else (spec.kernel, spec.stride)
        filters = max(1, round(spec.filters * width))
        x = layers.conv_block(
            x,
            filters,
            kernel,
            stride,
            spec.padding,
            name=spec.name,
            table_std=spec.std,
            table_bias=spec.bias,
        )
        if spec.pool:
            pool_name = f"pool{spec.name[-1]}"
            x = keras.layers.MaxPooling2D(POOL_SIZE, POOL_STRIDE, name=pool_name)(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for index, (layer_name, units, std, bias) in enumerate(DENSE_LAYERS):
        units = max(1, round(units * width))
        x = layers.dense_block(x, units, name=layer_name, table_std=std, table_bias=bias)
        if index == 0:
            # MC passes start at the first dropout: the layers below are deterministic at
            # inference, so each image goes through them once, not T times.
            x = layers.mc_repeat(x)
        dropout = layers.dropout(f"{layer_name}_dropout")
        if dropout is not None:
            x = dropout(x)
    x = layers.output_dense(num_classes, name="fc8", table_std=OUTPUT_STD)(x)
    # float32 softmax keeps the loss stable under mixed precision.
    outputs = keras.layers.Activation("softmax", dtype="float32", name="softmax")(x)
    outputs = layers.mc_average(outputs)
    return keras.Model(inputs, outputs, name=name)
