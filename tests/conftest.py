"""Test-wide settings: quiet TensorFlow, the TF backend, deterministic ops, a private cache."""

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory):
    """A small demo set in the Kaggle layout (40 images per class, 40 px), made once."""
    from keras_recipes.data import make_demo

    return make_demo(tmp_path_factory.mktemp("demo") / "demo", n_per_class=40, size=40)


@pytest.fixture
def tiny_demo(monkeypatch, tiny_folder):
    """`--data demo` (and no --data) reads `tiny_folder`, so a demo run takes seconds."""
    from keras_recipes.data import sources

    monkeypatch.setattr(sources, "make_demo", lambda directory=None, **_: tiny_folder)
    return tiny_folder


@pytest.fixture
def saved_figures(monkeypatch):
    """The matplotlib Figures the code under test saves, in order, as (figure, path).

    Plot functions return the path they wrote; this is how a test reaches the figure
    itself, to check what it holds (axes, labels, the plotted data) rather than the bytes.
    """
    from matplotlib.figure import Figure

    saved = []
    original = Figure.savefig

    def savefig(figure, path, *args, **kwargs):
        saved.append((figure, path))
        return original(figure, path, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    return saved


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
