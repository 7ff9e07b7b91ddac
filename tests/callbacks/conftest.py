"""XLA really on where a test asks for it."""

import pytest
from tensorflow.python.framework import config as tf_config


@pytest.fixture(autouse=True)
def _no_op_determinism():
    # Other tests' train() calls turn TensorFlow's global op determinism on, and while it is
    # on Keras quietly compiles `jit_compile=True` models without XLA. train() sets it again
    # each call, so turning it off here affects only these tests.
    tf_config.disable_op_determinism()
