"""Every reach into a private part of TensorFlow, Keras, keras-tuner and bayes_opt.

Each reach is something the public API of the version named in `pyproject.toml` does not
offer. `PRIVATE_REACHES` names them all: where the toolkit uses each, why, and which
public API would replace it. `tests/test_compat.py` resolves every one, so an upgrade
that moves or removes one fails that test, by name, instead of a user's run; the upper
bounds in `pyproject.toml` keep an untested version from being installed in the first
place.

Module-level reaches (private modules and registries) are imported only through the
functions below. Attributes that a subclass reads from its own base class (an
optimizer's slot lists, a grid oracle's walk) stay where they are used, with a pointer
here, and are listed and checked all the same.

Example:

>>> sorted({reach.package for reach in PRIVATE_REACHES})
['bayesian-optimization', 'keras', 'keras-tuner', 'tensorflow']
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PrivateReach:
    """One private name the toolkit depends on.

    Attributes:
        name: str. The dotted name in the dependency.
        package: str. The distribution that owns it (as in `pyproject.toml`).
        used_in: str. The toolkit module(s) that use it.
        why: str. What breaks without it.
        public: str. The public API that would replace it (or why there is none).
        resolve: callable. Returns the private object; raises if it is gone.
    """

    name: str
    package: str
    used_in: str
    why: str
    public: str
    resolve: Callable[[], Any]


# -- TensorFlow ---------------------------------------------------------------------------


def gradient_registry() -> dict | None:
    """TF's global gradient registry (name -> function), or None where TF has moved it.

    Example:

    >>> isinstance(gradient_registry(), dict)
    True
    """
    try:
        from tensorflow.python.framework import ops

        return ops._gradient_registry._registry
    except (ImportError, AttributeError):
        return None


def disable_op_determinism() -> None:
    """Turns TF's op determinism off again (the public API only turns it on)."""
    from tensorflow.python.framework import config

    config.disable_op_determinism()


def op_determinism_enabled() -> bool:
    """Whether TF's op determinism is on (the public API can only turn it on)."""
    from tensorflow.python.framework import config

    return bool(config.is_op_determinism_enabled())


# -- Keras ---------------------------------------------------------------------------------


def keras_tf_trainer():
    """Keras's TensorFlow trainer module (`keras.src.backend.tensorflow.trainer`)."""
    from keras.src.backend.tensorflow import trainer

    return trainer


def build_from_batch(model, batch) -> None:
    """Builds `model` (and its metrics and optimizer) from `batch` the way `fit()` does,
    and stops `fit()` from building it again from a per-replica batch."""
    model._symbolic_build(data_batch=batch)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None


def learning_rate_slot(optimizer) -> Any:
    """What the optimizer keeps as its learning rate: a variable, a schedule or a callable.

    `optimizer.learning_rate` evaluates a schedule instead of returning it, so it cannot
    tell a variable (which a callback may assign) from a schedule (which it may not).
    """
    return getattr(optimizer, "_learning_rate", None)


# -- keras-tuner -----------------------------------------------------------------------------


def keras_tuner_protos():
    """keras-tuner's gRPC protocol module (`keras_tuner.src.protos`)."""
    from keras_tuner.src import protos

    return protos


def oracle_chief():
    """keras-tuner's chief module (`OracleServicer`, `exit_chief`)."""
    from keras_tuner.src.distribute import oracle_chief as module

    return module


def retry_queue(oracle) -> list[str]:
    """The oracle's retry queue (trial ids run again by the next worker that asks); a list
    the caller may change in place."""
    return oracle._retry_queue


def save_trial(oracle, trial) -> None:
    """Writes `trial.json` of one trial, as the oracle does when a trial ends."""
    oracle._save_trial(trial)


def set_project_dir(oracle, directory: str, project_name: str) -> None:
    """Gives a stand-alone oracle (no tuner) a folder for its files."""
    oracle._set_project_dir(directory, project_name)


def restart_brackets(oracle, min_epochs: int) -> None:
    """Sets a new `HyperbandOracle`'s `min_epochs` and lays its first bracket out again.

    keras-tuner's `HyperbandOracle.__init__` fixes `min_epochs = 1` and starts its most
    aggressive bracket at once; `min_epochs` itself is a public attribute, saved in and
    restored from the oracle's state, but the bracket count it sets is only read when a
    bracket is laid out. Call before the first trial.
    """
    oracle.min_epochs = int(min_epochs)
    oracle._current_bracket = oracle._get_num_brackets() - 1
    oracle._brackets = []
    oracle._start_new_bracket()


def hparams_domains(hyperparameters) -> list:
    """TensorBoard HParams for keras-tuner `HyperParameters` (keras-tuner's own conversion).

    keras-tuner's `Tuner` turns its search space into the HParams plugin's domains with
    `keras_tuner.src.engine.tuner_utils.convert_hyperparams_to_hparams`; reusing it keeps
    our dashboard's domains the same as keras-tuner's.
    """
    from keras_tuner.src.engine import tuner_utils
    from tensorboard.plugins.hparams import api as hp

    return tuner_utils.convert_hyperparams_to_hparams(hyperparameters, hp)


def install_atomic_keras_tuner_saves() -> None:
    """Makes keras-tuner write `oracle.json`, `trial.json` and the tuner's state atomically.

    keras-tuner writes them in place (`keras_tuner.src.utils.save_json`), so a kill
    during a save leaves half a JSON document and `--resume` fails on it. Every one of
    its state writes goes through that function, looked up at call time; it is replaced
    here by one that writes through `keras_recipes.atomic` (local paths only; a remote
    path such as gs:// keeps keras-tuner's own writer). Safe to call more than once.
    """
    from keras_tuner.src import utils

    original = utils.save_json
    if getattr(original, "_keras_recipes_atomic", False):
        return

    def save_json(path, obj):
        if "://" in str(path):
            return original(path, obj)
        from keras_recipes import atomic

        text = json.dumps(obj)
        atomic.write_text(os.fspath(path), text)
        return text

    save_json._keras_recipes_atomic = True
    utils.save_json = save_json


# -- bayes_opt -------------------------------------------------------------------------------


def bayes_opt_gp(optimizer):
    """The GP a `bayes_opt.BayesianOptimization` fits (kernel wrapped for its typed
    parameters, its noise, restarts and random state), for a suggestion on another space.

    Example:

    >>> from bayes_opt import BayesianOptimization
    >>> type(bayes_opt_gp(BayesianOptimization(None, {"x": (0, 1)}, verbose=0))).__name__
    'GaussianProcessRegressor'
    """
    return optimizer._gp


# -- resolvers for the test: each returns the private object or raises -------------------------


def _attr(obj, *names):
    for name in names:
        obj = getattr(obj, name)
    return obj


def _built_optimizer(cls_name: str, **kwargs):
    import keras

    optimizer = getattr(keras.optimizers, cls_name)(**kwargs)
    optimizer.build([keras.Variable([1.0])])
    return optimizer


def _oracle():
    import keras_tuner

    return keras_tuner.oracles.RandomSearchOracle(
        objective=keras_tuner.Objective("score", "max"), max_trials=1
    )


def _hyperband_oracle():
    import keras_tuner

    return keras_tuner.oracles.HyperbandOracle(
        objective=keras_tuner.Objective("score", "max"), max_epochs=9
    )


def _grid_oracle():
    import keras_tuner

    return keras_tuner.oracles.GridSearchOracle(
        objective=keras_tuner.Objective("score", "max"), max_trials=1
    )


def _module_attr(module: str, *names: str) -> Callable[[], Any]:
    def resolve():
        import importlib

        return _attr(importlib.import_module(module), *names)

    return resolve


def _seed_generator_state():
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dropout(0.5, seed=1)])
    return next(v for v in model.variables if "seed_generator_state" in v.path)


def _backup_metadata_path():
    import tempfile

    import keras

    callback = keras.callbacks.BackupAndRestore(tempfile.mkdtemp())
    path = callback._training_metadata_path
    if not path.endswith("training_metadata.json"):
        raise AttributeError(f"BackupAndRestore writes its epoch to {path}")
    return path


def _liar_dummies():
    from bayes_opt import acquisition

    liar = acquisition.ConstantLiar(acquisition.ExpectedImprovement(xi=0.01))
    if not isinstance(liar.dummies, list):
        raise AttributeError("ConstantLiar.dummies is no longer a list")
    return liar.dummies


def _acquisition_y_max():
    from bayes_opt import acquisition

    acq = acquisition.ExpectedImprovement(xi=0.01)
    acq.y_max = 1.0
    return acq.base_acq(mean=0.5, std=1.0)


def _bayes_opt_gp():
    from bayes_opt import BayesianOptimization

    return bayes_opt_gp(BayesianOptimization(None, {"x": (0.0, 1.0)}, verbose=0))


_NO_PUBLIC_KT = "none in keras-tuner 1.4.8"

PRIVATE_REACHES: tuple[PrivateReach, ...] = (
    PrivateReach(
        "tensorflow.python.framework.ops._gradient_registry._registry",
        "tensorflow",
        "training/session.py (free_trial_memory)",
        "each traced train step registers a CustomGradient-N entry that pins its whole "
        "graph; without dropping them every trial keeps ~15-20 MB (tensorflow#97697)",
        "none: TF has no API to unregister a gradient (tf.RegisterGradient only adds)",
        _module_attr("tensorflow.python.framework.ops", "_gradient_registry", "_registry"),
    ),
    PrivateReach(
        "tensorflow.python.framework.config.disable_op_determinism",
        "tensorflow",
        "training/fit.py (train), training/build.py (compile_model)",
        "determinism is process-global: a --jit-compile run after a deterministic one "
        "in the same process (tests, compare) must switch it off, or Keras drops XLA",
        "none: tf.config.experimental.enable_op_determinism has no public inverse",
        _module_attr("tensorflow.python.framework.config", "disable_op_determinism"),
    ),
    PrivateReach(
        "tensorflow.python.framework.config.is_op_determinism_enabled",
        "tensorflow",
        "training/fit.py (train)",
        "train() hands the process back with determinism as it found it; left on, the "
        "caller's own model.compile(jit_compile=True) would quietly run without XLA",
        "none: TensorFlow has no public getter for the setting",
        _module_attr("tensorflow.python.framework.config", "is_op_determinism_enabled"),
    ),
    PrivateReach(
        "keras.src.backend.tensorflow.trainer.reduce_per_replica",
        "keras",
        "training/distribution.py (prepare_multi_worker_fit)",
        "Keras 3.15 averages a multi-worker step's scalar logs over axis 0, which they do "
        "not have (keras-team/keras#20585); wrapped to average with axis=None",
        "none until keras-team/keras#20585 is fixed; then delete the wrapper",
        _module_attr("keras.src.backend.tensorflow.trainer", "reduce_per_replica"),
    ),
    PrivateReach(
        "keras.Model._symbolic_build / _maybe_symbolic_build",
        "keras",
        "training/distribution.py (prepare_multi_worker_fit)",
        "fit() builds the model from a strategy-reduced batch, which fails for a "
        "per-replica one under MultiWorkerMirroredStrategy (keras-team/keras#20585)",
        "model.build(shape) builds the layers but not the compiled metrics and optimizer "
        "variables; none until #20585 is fixed",
        lambda: (
            _attr(_keras_model(), "_symbolic_build"),
            _attr(_keras_model(), "_maybe_symbolic_build"),
        ),
    ),
    PrivateReach(
        "keras.optimizers.Optimizer._learning_rate",
        "keras",
        "callbacks/_common.py (learning_rate_variable)",
        "the schedule callbacks must assign the learning-rate variable, and must refuse "
        "an optimizer that holds a schedule; the public property evaluates the schedule",
        "optimizer.learning_rate (setter) where a schedule need not be told apart",
        lambda: _attr(_built_optimizer("SGD", learning_rate=0.1), "_learning_rate"),
    ),
    PrivateReach(
        "keras.optimizers.Optimizer._get_variable_index",
        "keras",
        "optimizers/sgd.py, adam.py, nadam.py (update_step)",
        "an update step finds a variable's slots by it, as Keras's own optimizers do",
        "none: the documented way to write update_step in Keras 3.15",
        lambda: _attr(_built_optimizer("SGD", momentum=0.9), "_get_variable_index"),
    ),
    PrivateReach(
        "keras.optimizers.Adam._momentums / _velocities / _velocity_hats",
        "keras",
        "optimizers/adam.py (update_step)",
        "the slot variables Keras's Adam.build creates; reusing them keeps checkpoints "
        "of keras_recipes.optimizers.Adam loadable as Keras's and back",
        "none (SGD has public `momentums`; Adam has no public slot lists)",
        lambda: tuple(
            _attr(_built_optimizer("Adam", amsgrad=True), name)
            for name in ("_momentums", "_velocities", "_velocity_hats")
        ),
    ),
    PrivateReach(
        "keras.optimizers.Nadam._u_product / _momentums / _velocities, "
        "Optimizer._backend_update_step",
        "keras",
        "optimizers/nadam.py",
        "Nadam's momentum-cache product is updated in _backend_update_step with beta_1 "
        "as a float; ours overrides it to read beta_1 from a variable (1cycle cycles it)",
        "none: Keras has no hook for per-step optimizer state",
        lambda: (
            _attr(_built_optimizer("Nadam"), "_u_product"),
            _attr(_built_optimizer("Nadam"), "_momentums"),
            _attr(_built_optimizer("Nadam"), "_velocities"),
            _attr(_keras_optimizer_class(), "_backend_update_step"),
        ),
    ),
    PrivateReach(
        "keras SeedGenerator variable path 'seed_generator_state'",
        "keras",
        "training/run_dir.py (seed_states)",
        "save_weights leaves the dropout generators' states out; a resumed run restores "
        "them to draw the masks an uninterrupted run draws",
        "none: SeedGenerator.state is public per generator, but not reachable from a "
        "model without walking private layer attributes",
        _seed_generator_state,
    ),
    PrivateReach(
        "keras.callbacks.BackupAndRestore's backup/training_metadata.json",
        "keras",
        "training/run_dir.py (backup_epoch)",
        "the resume point is the epoch Keras's checkpoint holds, which only this file says",
        "none: BackupAndRestore does not expose the saved epoch",
        _backup_metadata_path,
    ),
    PrivateReach(
        "keras_tuner.src.protos (get_service, get_service_grpc)",
        "keras-tuner",
        "tuning/engine/cluster.py, tuning/engine/faults.py",
        "the chief serves keras-tuner's own gRPC service with its own loop (faster "
        "polling, a trial time-out, late-result handling)",
        _NO_PUBLIC_KT + " (keras_tuner.Tuner's chief mode only, with its 20 s sleep)",
        lambda: (
            _module_attr("keras_tuner.src.protos", "get_service")(),
            _module_attr("keras_tuner.src.protos", "get_service_grpc")(),
        ),
    ),
    PrivateReach(
        "keras_tuner.src.distribute.oracle_chief (OracleServicer, exit_chief, "
        "OracleServicer.stop_triggered)",
        "keras-tuner",
        "tuning/engine/cluster.py, tuning/engine/faults.py",
        "the servicer is reused and wrapped so trials are handed out through WorkerWatch",
        _NO_PUBLIC_KT,
        lambda: (
            _module_attr("keras_tuner.src.distribute.oracle_chief", "exit_chief")(),
            _attr(_oracle_servicer(), "stop_triggered"),
        ),
    ),
    PrivateReach(
        "keras_tuner.Oracle._retry_queue",
        "keras-tuner",
        "tuning/engine/faults.py, tuning/engine/driver.py, tuning/engine/tuner.py",
        "a dead worker's trial is handed to the next worker through keras-tuner's own "
        "retry queue; a reload must not rerun finished trials left in it",
        _NO_PUBLIC_KT,
        lambda: _attr(_oracle(), "_retry_queue"),
    ),
    PrivateReach(
        "keras_tuner.oracles.HyperbandOracle._current_bracket / _brackets / "
        "_get_num_brackets / _start_new_bracket",
        "keras-tuner",
        "tuning/engine/rungs.py (with_min_epochs)",
        "--min-epochs: keras-tuner fixes min_epochs = 1 in __init__ and lays out the first "
        "bracket there, so a larger minimum budget must lay it out again",
        _NO_PUBLIC_KT + " (HyperbandOracle takes no min_epochs argument)",
        lambda: tuple(
            _attr(_hyperband_oracle(), name)
            for name in ("_current_bracket", "_brackets", "_get_num_brackets", "_start_new_bracket")
        ),
    ),
    PrivateReach(
        "keras_tuner.Oracle._save_trial / _set_project_dir",
        "keras-tuner",
        "tuning/engine/faults.py (+ its doctest), benchmarks/search.py",
        "end_trial skips saving the trial when it raises on consecutive failures; a "
        "stand-alone oracle needs a folder",
        _NO_PUBLIC_KT + " (a Tuner sets the folder)",
        lambda: (_attr(_oracle(), "_save_trial"), _attr(_oracle(), "_set_project_dir")),
    ),
    PrivateReach(
        "keras_tuner.oracles.GridSearchOracle._compare / _ordered_ids / _populate_next",
        "keras-tuner",
        "tuning/bo/searches.py (_GridSearchOracle.set_state)",
        "keras-tuner keeps the grid walk in memory only; a resumed grid search rebuilds it",
        _NO_PUBLIC_KT,
        lambda: tuple(
            _attr(_grid_oracle(), name) for name in ("_compare", "_ordered_ids", "_populate_next")
        ),
    ),
    PrivateReach(
        "keras_tuner.src.utils.save_json",
        "keras-tuner",
        "_compat.install_atomic_keras_tuner_saves (tuning/engine/tuner.py)",
        "keras-tuner writes its state files in place; wrapped to write them atomically",
        _NO_PUBLIC_KT,
        _module_attr("keras_tuner.src.utils", "save_json"),
    ),
    PrivateReach(
        "keras_tuner.src.engine.tuner_utils.convert_hyperparams_to_hparams",
        "keras-tuner",
        "_compat.hparams_domains (tuning/engine/hparams.py)",
        "the HParams dashboard's domains, converted as keras-tuner's own Tuner does",
        "none in keras-tuner 1.4.8 (it is called only inside Tuner.on_trial_begin)",
        _module_attr("keras_tuner.src.engine.tuner_utils", "convert_hyperparams_to_hparams"),
    ),
    PrivateReach(
        "bayes_opt.acquisition.ConstantLiar.dummies",
        "bayesian-optimization",
        "tuning/bo/oracle.py (BayesOptOracle._suggest), tuning/bo/bohb.py (BOHBOracle._suggest)",
        "the lies must be the trials running now; ConstantLiar only adds and expires them",
        "none in bayes_opt 3.4 (no API to set or clear the pending points)",
        _liar_dummies,
    ),
    PrivateReach(
        "bayes_opt.BayesianOptimization._gp",
        "bayesian-optimization",
        "tuning/bo/oracle.py (suggest_with_lies, for BayesOptOracle and BOHBOracle; "
        "use_ard_kernel's doctest "
        "and tests/tuning/bo/test_kernel.py read the kernel from it)",
        "bayes_opt 3.4's ConstantLiar copies the target space with float bounds only and "
        "fails on Int and categorical parameters; the lies for trials still running are "
        "told on a typed copy instead, fitted with the optimizer's own GP",
        "none in bayes_opt 3.4 (suggest() takes no target space)",
        _bayes_opt_gp,
    ),
    PrivateReach(
        "bayes_opt.acquisition.AcquisitionFunction.y_max (set by hand) and base_acq",
        "bayesian-optimization",
        "tuning/bo/plots.py (_Posterior.evaluate)",
        "the posterior plot evaluates EI on a grid outside suggest(); bayes_opt's own "
        "message says to set y_max by hand there",
        "none in bayes_opt 3.4",
        _acquisition_y_max,
    ),
)


def _keras_model():
    import keras

    return keras.Model


def _keras_optimizer_class():
    import keras

    return keras.optimizers.Optimizer


def _oracle_servicer():
    return oracle_chief().OracleServicer(_oracle())
