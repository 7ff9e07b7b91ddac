"""keras-recipes: named training recipes, schedule callbacks and Bayesian tuning for Keras 3."""

__version__ = "0.1.0"
