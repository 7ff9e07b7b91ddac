"""SGD: a hand-computed momentum change under XLA, slots at momentum 0, validation."""

import keras
import pytest
import tensorflow as tf

from keras_recipes.optimizers import SGD, Adam, Nadam


def test_momentum_change_between_xla_steps_hand_computed():
    w = keras.Variable(1.0)
    optimizer = SGD(learning_rate=0.5, momentum=0.9)
    optimizer.build([w])
    step = tf.function(lambda: optimizer.apply([tf.constant(1.0)], [w]), jit_compile=True)
    step()  # v = -0.5, w = 0.5
    optimizer.momentum = 0.5
    step()  # v = 0.5 * -0.5 - 0.5 = -0.75, w = -0.25 (frozen 0.9 would give -0.45)
    assert w.numpy() == -0.25
    assert optimizer.momentums[0].numpy() == -0.75


def test_nesterov_hand_computed():
    w = keras.Variable(1.0)
    optimizer = SGD(learning_rate=0.5, momentum=0.5, nesterov=True)
    optimizer.apply([tf.constant(1.0)], [w])  # v = -0.5; w += 0.5 * -0.5 - 0.5
    assert w.numpy() == 0.25


def test_momentum_zero_keeps_slots_so_it_can_be_raised():
    w = keras.Variable(1.0)
    optimizer = SGD(learning_rate=0.5, momentum=0)  # an int is accepted
    optimizer.apply([tf.constant(1.0)], [w])  # plain SGD: w = 0.5, v = -0.5
    assert w.numpy() == 0.5
    optimizer.momentum = 0.5
    optimizer.apply([tf.constant(1.0)], [w])  # v = -0.25 - 0.5 = -0.75
    assert w.numpy() == -0.25
    assert len(optimizer.momentums) == 1


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (
            lambda: SGD(momentum=1.5),
            r"Argument `momentum` must be a float in \[0, 1\]. Received: momentum=1.5",
        ),
        (lambda: SGD(momentum=-0.1), r"Received: momentum=-0.1"),
        (lambda: SGD(momentum=True), r"Received: momentum=True"),
        (
            lambda: SGD(nesterov="yes"),
            r"Argument `nesterov` must be a bool. Received: nesterov='yes'",
        ),
        (
            lambda: Adam(beta_1=1.0),
            r"Argument `beta_1` must be a float in \[0, 1\). Received: beta_1=1.0",
        ),
        (lambda: Nadam(beta_1="0.9"), r"Received: beta_1='0.9'"),
    ],
)
def test_arguments_are_validated(factory, match):
    with pytest.raises(ValueError, match=match):
        factory()
