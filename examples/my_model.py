"""A model of your own for `train.py --model examples/my_model.py:build --recipe selu`.

A plain stack of conv and dense layers: no skip connections and no batch norm, so every
recipe applies, SELU's self-normalising one included (the recipe replaces the ReLUs, the
init and the dropout).
"""

import keras


def build(input_shape, num_classes):
    """A small CNN for `input_shape` images (the crop `--image-size` sets) and `num_classes`."""
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu", name="conv1")(inputs)
    x = keras.layers.Conv2D(32, 3, strides=2, activation="relu", name="conv2")(x)
    x = keras.layers.Conv2D(32, 3, strides=2, activation="relu", name="conv3")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dense(32, activation="relu", name="fc")(x)
    x = keras.layers.Dropout(0.2, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="classifier")(x)
    return keras.Model(inputs, outputs, name="my_model")
