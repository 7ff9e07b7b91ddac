"""Test-wide settings: quiet TensorFlow, the TF backend, deterministic ops, a private cache."""

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """KERAS_RECIPES_CACHE in a folder of this session: the decoded-image stores (and the demo
    set) one session writes never serve another, and the user's cache is left alone.
    Subprocesses (train.py, tuning workers) inherit it."""
    saved = os.environ.get("KERAS_RECIPES_CACHE")
    os.environ["KERAS_RECIPES_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if saved is None:
        os.environ.pop("KERAS_RECIPES_CACHE", None)
    else:
        os.environ["KERAS_RECIPES_CACHE"] = saved
