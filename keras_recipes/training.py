"""`train()`: the one place that compiles and fits. The CLI, the tuner and the tests call it."""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

import keras_recipes
from keras_recipes import _compat, atomic
from keras_recipes.callbacks.learning_rate_logger import LearningRateLogger
from keras_recipes.callbacks.lr_finder import LRFinder
from keras_recipes.callbacks.resumable_early_stopping import ResumableEarlyStopping
from keras_recipes.callbacks.tensorboard import log_dir_for, resumable_tensorboard
from keras_recipes.callbacks.throughput import ThroughputMeter
from keras_recipes.data import DataBundle, evaluate_tta, load_data
from keras_recipes.distribution import (
    prepare_multi_worker_fit,
    resolve_strategy,
    scale_for_replicas,
    strategy_name,
    worker_role,
    worker_run_dir,
)
from keras_recipes.errors import ConfigError
from keras_recipes.models import alexnet, check_image_size, prediction_passes
from keras_recipes.optimization import build_optimizer, schedule_callbacks
from keras_recipes.plots import plot_learning_curves
from keras_recipes.recipes import Recipe, get_recipe
from keras_recipes.run_recorder import (
    BACKUP_DIR,
    RunRecorder,
    backup_epoch,
    history_frame,
    load_resume_point,
    restore_seed_states,
)
from keras_recipes.seeds import check_seed
from keras_recipes.train_result import TrainResult

ModelBuilder = Callable[[Recipe, tuple[int, int, int], int], keras.Model]


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during `train()`, raised after the run directory was written.

    Attributes:
        result: TrainResult. What was computed, with status "interrupted".
    """

    def __init__(self, result: TrainResult):
        super().__init__("training interrupted")
        self.result = result


def default_run_dir(recipe: Recipe, root: str | Path = "runs") -> Path:
    """`runs/<recipe>-<YYYYmmdd-HHMMSS>`."""
    return Path(root) / f"{recipe.name}-{datetime.now():%Y%m%d-%H%M%S}"


def check_run_dir(run_dir: str | Path) -> Path:
    """Raises a `ConfigError` now when `run_dir` could not be created; creates nothing.

    The nearest folder that exists on the way to `run_dir` must be a writable folder. Bad
    input is found before anything is computed, and leaves no folder behind.
    """
    run_dir = Path(run_dir)
    existing = run_dir.absolute()
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    problem = None
    if not existing.is_dir():
        problem = f"{existing} is not a folder"
    elif not os.access(existing, os.W_OK | os.X_OK):
        problem = f"{existing} is not writable"
    if problem:
        raise ConfigError(
            f"Cannot write the run directory {run_dir}: {problem}. Choose another with --out."
        )
    return run_dir


def prepare_run_dir(run_dir: str | Path) -> Path:
    """Creates `run_dir` and proves it is writable now, not after hours of training."""
    run_dir = Path(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise ConfigError(
            f"Cannot write the run directory {run_dir}: {err.strerror or err}. "
            "Choose another with --out."
        ) from None
    return run_dir


def package_versions() -> dict[str, str]:
    """Versions that decide whether a run can be replayed bit for bit."""
    return {
        "python": platform.python_version(),
        "keras_recipes": keras_recipes.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
    }


def _alexnet_builder(width: float, seed: int | None = None) -> ModelBuilder:
    def build(recipe: Recipe, input_shape, num_classes):
        return alexnet(recipe, input_shape, num_classes, width=width, seed=seed)

    return build


def train(
    recipe: Recipe | str,
    data: DataBundle | str | tuple = "demo",
    *,
    image_size: int = 227,
    width: float = 1.0,
    seed: int = 0,
    run_dir: str | Path | None = None,
    tta: bool | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    model_builder: ModelBuilder | None = None,
    verbose: int | str = "auto",
    save_model: bool = True,
    deterministic: bool = True,
    resume: bool = False,
    distribute: str | tf.distribute.Strategy | None = "none",
    batch_per_replica: bool = False,
    mixed_precision: bool = False,
    jit_compile: bool = False,
    tensorboard: bool | str | Path = True,
) -> TrainResult:
    """Trains `recipe` on `data` and writes the run directory.

    Epochs and batch size come from `recipe.training` (override them with
    `recipe.with_overrides(["training.epochs=5"])`).

    Args:
        recipe: Recipe or str. A recipe, a registered name or a `.toml` path.
        data: DataBundle, str or (x, y). "demo", a folder, "tfds:NAME", arrays, or a bundle
            already loaded (the tuner loads once and passes it to every trial).
        image_size: int. Crop size fed to the model (227 for the original).
        width: float. AlexNet width multiplier.
        seed: int. Seeds weights, split, shuffling, augmentation and the dropout masks; in
            `0..keras_recipes.seeds.MAX_SEED`.
        run_dir: path or None. Where artefacts go; None writes nothing to disk. It is made
            once the recipe, the settings and the data have passed their checks, just
            before the first epoch, so bad input leaves no folder behind.
        tta: bool or None. 10-crop test-time augmentation for the test split; None follows
            `recipe.training.evaluation`.
        callbacks: extra Keras callbacks, run after the toolkit's own.
        model_builder: callable (recipe, input_shape, num_classes) -> keras.Model; default
            AlexNet at `width`.
        verbose: Keras `fit` verbosity.
        save_model: bool. Write `model.keras` into `run_dir`.
        deterministic: bool. Deterministic TF ops, so a seeded CPU run repeats exactly
            (off under `jit_compile`: Keras runs no XLA step with determinism on).
        resume: bool. Continue the unfinished run in `run_dir` from its last completed
            epoch (weights, optimizer, schedule state and history), as if never stopped.
        distribute: str or tf.distribute.Strategy. "none", "auto", "mirrored" or
            "multi-worker" (`TF_CONFIG`); see `keras_recipes.distribution`. Under
            multi-worker the chief writes `run_dir`, worker N writes `run_dir/worker-N`.
        batch_per_replica: bool. The recipe's batch is each replica's, not the global one;
            the learning rate is scaled by the number of replicas (linear scaling rule).
        mixed_precision: bool. float16 compute with loss scaling on GPUs (bfloat16 on
            CPUs); weights and the softmax stay float32.
        jit_compile: bool. Compile the train step with XLA.
        tensorboard: bool or path. TensorBoard logs into `run_dir/tensorboard` (True), a
            folder of their own (a path; `compare` and the searches gather their runs so),
            or none (False). A resumed run appends to them, each step once.

    Returns:
        TrainResult with the history, summary and model.

    Raises:
        TrainingInterrupted: on Ctrl-C, after writing the run directory (status
            "interrupted"); the checkpoint is kept for `resume=True`.

    Example:

    >>> from keras_recipes.recipes import get_recipe
    >>> import numpy as np
    >>> x = np.random.default_rng(0).integers(0, 255, (40, 40, 40, 3), dtype=np.uint8)
    >>> y = np.arange(40) % 2
    >>> recipe = get_recipe("relu").with_overrides(["training.epochs=1", "training.batch_size=8"])
    >>> result = train(recipe, (x, y), image_size=32, width=0.1, verbose=0)
    >>> list(result.history.columns)
    ['epoch', 'loss', 'accuracy', 'val_loss', 'val_accuracy', 'learning_rate']
    """
    # First: MultiWorkerMirroredStrategy must exist before TensorFlow runs any op.
    strategy = resolve_strategy(distribute)
    check_seed(seed)
    run_dir = worker_run_dir(run_dir, worker_role(strategy))
    if not isinstance(tensorboard, bool):  # a folder of its own: each worker its sub-folder
        tensorboard = worker_run_dir(tensorboard, worker_role(strategy))
    if isinstance(recipe, str):
        recipe = get_recipe(recipe)
    if model_builder is None:
        check_image_size(image_size)  # before the data is loaded, not after
    # `recipe` stays the user's (it is what recipe.toml records); `trained` is what runs.
    trained, replicas = scale_for_replicas(recipe, strategy.num_replicas_in_sync, batch_per_replica)
    initial_epoch, records, states = _resume_point(run_dir, resume)
    cfg = trained.training
    keras.utils.set_random_seed(seed)
    deterministic = _set_determinism(deterministic and not jit_compile)
    bundle = _bundle_for(data, cfg, image_size, seed)
    with strategy.scope():
        model = compile_model(
            trained,
            bundle.input_shape,
            len(bundle.class_names),
            bundle.steps_per_epoch,
            builder=model_builder or _alexnet_builder(width, seed),
            mixed_precision=mixed_precision,
            jit_compile=jit_compile,
        )
        if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            prepare_multi_worker_fit(model, bundle.train.element_spec)
    if run_dir is not None:
        run_dir = prepare_run_dir(run_dir)
        recipe.to_toml(run_dir / "recipe.toml")  # before the first epoch: a killed run replays
    own = _own_callbacks(
        trained, model, bundle, run_dir, initial_epoch, records, states, tensorboard
    )
    all_callbacks = [*own.all, *callbacks]

    start = time.perf_counter()
    interrupted = _fit(model, bundle, initial_epoch, cfg.epochs, all_callbacks, own.board, verbose)
    history = history_frame(own.recorder.records)
    summary = _summary(trained, bundle, model, history, seed, image_size, width)
    summary["train_images_per_second"] = round(own.meter.images_per_second, 2)
    summary["distribution"] = {"strategy": strategy_name(strategy), **replicas}
    summary["dtype_policy"] = model.dtype_policy.name
    summary["jit_compile"] = bool(model.jit_compile)
    summary["deterministic"] = deterministic
    summary["status"] = "interrupted" if interrupted else _status(history, cfg.epochs)
    if initial_epoch:
        summary["resumed_at_epoch"] = initial_epoch
    if summary["status"] not in ("diverged", "interrupted"):
        summary.update(
            _test_accuracy(model, bundle, (cfg.evaluation == "tta10") if tta is None else tta)
        )
    summary["wall_seconds"] = round(time.perf_counter() - start, 2)

    result = TrainResult(history, summary, model, run_dir, all_callbacks)
    if run_dir is not None:
        write_run_dir(result, recipe, save_model=save_model)
    if interrupted:
        raise TrainingInterrupted(result)
    return result


def _resume_point(run_dir: Path | None, resume: bool) -> tuple[int, list, dict]:
    """(initial epoch, history records, callback and seed states) to start from.

    Refuses to start afresh over an unfinished run, and checks (without creating) that the
    run folder can be made: it is created once the data and the model are known good.
    """
    initial_epoch, records, states = 0, [], {}
    if resume:
        if run_dir is None:
            raise ConfigError("resume=True needs the run_dir of the run to continue.")
        initial_epoch, records, states = load_resume_point(run_dir)
    elif run_dir is not None and backup_epoch(run_dir) is not None:
        raise ConfigError(
            f"{run_dir} holds an unfinished run (checkpoint at epoch {backup_epoch(run_dir)}). "
            "Continue it with --resume, or choose another --out."
        )
    if run_dir is not None:
        check_run_dir(run_dir)
    return initial_epoch, records, states


def _set_determinism(deterministic: bool) -> bool:
    """Turns TensorFlow's op determinism on or off, process-wide, and returns the setting.

    Set both ways, since the setting is global: Keras quietly drops XLA while determinism
    is on, so train() asks for it off under --jit-compile (an XLA run repeats only up to
    rounding).
    """
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    else:
        _compat.disable_op_determinism()
    return deterministic


def _bundle_for(data, cfg, image_size: int, seed: int) -> DataBundle:
    """The data as a DataBundle with the recipe's batch and preprocessing, loaded if need be."""
    if isinstance(data, DataBundle):
        bundle = data.with_settings(
            batch_size=cfg.batch_size, preprocessing=cfg.preprocessing, seed=seed
        )
        if bundle.input_shape[0] != image_size:
            raise ConfigError(
                f"The data bundle was built for image_size={bundle.input_shape[0]}, "
                f"but train() was asked for image_size={image_size}."
            )
        return bundle
    return load_data(
        data,
        image_size=image_size,
        batch_size=cfg.batch_size,
        preprocessing=cfg.preprocessing,
        seed=seed,
    )


class _OwnCallbacks(NamedTuple):
    """The toolkit's callbacks in fit() order, and the ones train() reads back."""

    all: list
    recorder: RunRecorder
    meter: ThroughputMeter
    board: keras.callbacks.Callback | None


def _own_callbacks(trained, model, bundle, run_dir, initial_epoch, records, states, tensorboard):
    """Schedules, logging, early stopping, the run recorder, TensorBoard and the checkpoint,
    with the states of a resumed run put back."""
    cfg = trained.training
    schedulers = schedule_callbacks(trained)
    stateful = {type(cb).__name__: cb for cb in schedulers}
    stopper = None
    if cfg.early_stopping_patience:
        # Its best weights are kept beside the checkpoint, so a resumed run ends with the
        # best epoch's weights, as an uninterrupted one does.
        stopper = ResumableEarlyStopping(
            weights_dir=None if run_dir is None else run_dir / BACKUP_DIR,
            monitor="val_accuracy",
            mode="max",
            patience=cfg.early_stopping_patience,
            restore_best_weights=True,
        )
        stateful["EarlyStopping"] = stopper
    for name, state in states.get("callbacks", {}).items():
        stateful[name].set_state(state)
    if states:
        restore_seed_states(model, states["seed_states"])
    meter = ThroughputMeter(cfg.batch_size, bundle.num_train)
    recorder = RunRecorder(run_dir, records, stateful)
    own = [*schedulers, LearningRateLogger(), meter, keras.callbacks.TerminateOnNaN()]
    if stopper is not None:
        own.append(stopper)
    own.append(recorder)  # after the callbacks that add to the logs
    log_dir = log_dir_for(run_dir, tensorboard)
    board = None
    if log_dir is not None:
        board = resumable_tensorboard(
            log_dir,
            epochs_done=initial_epoch,
            steps_per_epoch=bundle.steps_per_epoch,
            meter=meter,
            callbacks=schedulers,
        )
        own.append(board)  # its epoch is on disk before the checkpoint commits it
    if run_dir is not None:
        # Weights, optimizer state and epoch after every epoch; removed when fit() ends.
        # Keras writes the weights in place: with the previous epoch's copy kept beside
        # them, a kill mid-write resumes from that one (its run state is kept too).
        own.append(
            keras.callbacks.BackupAndRestore(str(run_dir / BACKUP_DIR), double_checkpoint=True)
        )
    return _OwnCallbacks(own, recorder, meter, board)


def _fit(model, bundle, initial_epoch: int, epochs: int, callbacks: list, board, verbose) -> bool:
    """model.fit from `initial_epoch`; True when Ctrl-C stopped it (what was computed stays,
    and the checkpoint stays for --resume)."""
    try:
        model.fit(
            bundle.train_from(initial_epoch),
            steps_per_epoch=bundle.steps_per_epoch,
            initial_epoch=initial_epoch,
            validation_data=bundle.val,
            epochs=epochs,
            callbacks=callbacks,
            verbose=verbose,
            shuffle=False,  # the tf.data pipeline shuffles (seeded) itself
        )
    except KeyboardInterrupt:
        if board is not None:
            board.close()
        return True
    return False


def _test_accuracy(model, bundle, use_tta: bool) -> dict[str, float]:
    """Centre-crop test accuracy, and 10-crop's when asked; empty without a test split."""
    if bundle.test is None:
        return {}
    scores = {
        "test_accuracy": float(model.evaluate(bundle.test, verbose=0, return_dict=True)["accuracy"])
    }
    if use_tta:
        scores["test_accuracy_tta"] = float(
            evaluate_tta(model, bundle.test_full, bundle.input_shape[0])
        )
    return scores


def mixed_precision_policy() -> str:
    """mixed_float16 where a GPU is visible (tensor cores), else mixed_bfloat16."""
    return "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"


def compile_model(
    recipe: Recipe,
    input_shape: tuple[int, int, int],
    num_classes: int,
    steps_per_epoch: int,
    *,
    builder: ModelBuilder | None = None,
    mixed_precision: bool = False,
    jit_compile: bool = False,
) -> keras.Model:
    """The model `train()` fits, compiled as `train()` compiles it (in the caller's scope).

    The recipe's optimizer, sparse categorical cross-entropy and accuracy. A mixed_float16
    model gets its LossScaleOptimizer from `compile()` itself.

    Example:

    >>> from keras_recipes.recipes import get_recipe
    >>> model = compile_model(get_recipe("relu"), (64, 64, 3), 2, 10, jit_compile=True)
    >>> model.jit_compile, model.dtype_policy.name
    (True, 'float32')
    """
    if jit_compile:
        # Keras quietly compiles without XLA while op determinism is on.
        _compat.disable_op_determinism()
    builder = builder or _alexnet_builder(1.0)
    policy = mixed_precision_policy() if mixed_precision else "float32"
    # Layers take the global policy when they are built; set it for the build only, so a
    # mixed-precision model leaves the next one in the same process at float32.
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        model = builder(recipe, input_shape, num_classes)
    finally:
        keras.config.set_dtype_policy(previous)
    model.compile(
        optimizer=build_optimizer(recipe, steps_per_epoch),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=jit_compile,
    )
    return model


def _status(history: pd.DataFrame, epochs: int) -> str:
    losses = history["loss"].to_numpy(dtype=float) if "loss" in history else np.array([])
    if losses.size and not np.isfinite(losses).all():
        return "diverged"
    if len(history) < epochs:
        return "early_stopped"
    return "completed"


def _summary(
    recipe: Recipe,
    bundle: DataBundle,
    model: keras.Model,
    history: pd.DataFrame,
    seed: int,
    image_size: int,
    width: float,
) -> dict[str, Any]:
    val = history.get("val_accuracy", pd.Series(dtype=float)).to_numpy(dtype=float)
    finite = np.where(np.isfinite(val), val, -np.inf)
    best_index = int(np.argmax(finite)) if val.size and np.isfinite(val).any() else None
    return {
        "recipe": recipe.name,
        "best_val_accuracy": float(val[best_index]) if best_index is not None else 0.0,
        "best_epoch": best_index + 1 if best_index is not None else None,
        "epochs_run": len(history),
        "epochs_requested": recipe.training.epochs,
        "final_learning_rate": float(history["learning_rate"].iloc[-1])
        if "learning_rate" in history and len(history)
        else None,
        "seed": seed,
        "image_size": image_size,
        "width": width,
        "parameters": int(model.count_params()),
        # Validation, test and every 10-crop view average this many stochastic passes
        # (MC dropout's T; 1 for a deterministic model).
        "prediction_passes": prediction_passes(model),
        "data": bundle.describe(),
        "versions": package_versions(),
    }


def load_model(path: str | Path) -> keras.Model:
    """Loads a run's `model.keras`, with the toolkit's optimizers and layers registered.

    Example:

    >>> import tempfile
    >>> from keras_recipes.models.mlp import mlp
    >>> from keras_recipes.recipes import get_recipe
    >>> model = mlp(get_recipe("default"), (4,), hidden_units=(8,))
    >>> model.compile(optimizer=build_optimizer(get_recipe("default"), 10), loss="mse")
    >>> path = Path(tempfile.mkdtemp()) / "model.keras"
    >>> model.save(path)
    >>> type(load_model(path).optimizer).__name__
    'SGD'
    """
    # This module imports keras_recipes.optimizers and .models, whose classes register
    # themselves with Keras's serialisation on import.
    return keras.saving.load_model(path)


def write_run_dir(result: TrainResult, recipe: Recipe, *, save_model: bool = True) -> None:
    """recipe.toml, history.csv, summary.json, learning_curves.png and model.keras."""
    run_dir = result.run_dir
    recipe.to_toml(run_dir / "recipe.toml")
    atomic.write_csv(run_dir / "history.csv", result.history, index=False)
    atomic.write_json(run_dir / "summary.json", result.summary, indent=2, default=str)
    if len(result.history):
        plot_learning_curves(result.history, run_dir / "learning_curves.png", title=recipe.name)
    if save_model:
        with atomic.atomic_path(run_dir / "model.keras") as tmp:
            result.model.save(tmp)


def find_learning_rate(
    recipe: Recipe | str,
    data: DataBundle | str | tuple = "demo",
    *,
    image_size: int = 227,
    width: float = 1.0,
    seed: int = 0,
    num_steps: int = 100,
    min_lr: float = 1e-6,
    max_lr: float = 10.0,
    plot_path: str | Path | None = None,
    verbose: int | str = 0,
    **device: Any,
) -> LRFinder:
    """Runs the LR range test on the recipe's model, optimizer and data, through `train()`.

    The recipe's schedule is replaced by a constant rate (the finder drives the rate) and
    enough epochs are given to cover `num_steps` batches; the finder stops the run itself.
    Each epoch's last batch may be smaller than the others: the finder is told the global
    batch and the epoch's size, and recovers that batch's loss weighted by its size.

    `device` takes train()'s `distribute`, `batch_per_replica`, `mixed_precision` and
    `jit_compile`.

    Returns:
        The `LRFinder`: `suggestion()` is a max_lr for 1cycle, `history` the sweep.
    """
    if isinstance(recipe, str):
        recipe = get_recipe(recipe)
    check_seed(seed)
    # The global batch, as train() will scale it; the strategy is made once per process.
    strategy = resolve_strategy(device.pop("distribute", "none"))
    batch = scale_for_replicas(
        recipe, strategy.num_replicas_in_sync, device.get("batch_per_replica", False)
    )[0].training.batch_size
    if isinstance(data, DataBundle):
        bundle = data
    else:
        check_image_size(image_size)
        bundle = load_data(
            data,
            image_size=image_size,
            batch_size=recipe.training.batch_size,
            preprocessing=recipe.training.preprocessing,
            seed=seed,
        )
    steps_per_epoch = math.ceil(bundle.num_train / batch)
    sweep = recipe.replace(
        schedule={"name": "constant"},
        training={"epochs": math.ceil(num_steps / steps_per_epoch), "early_stopping_patience": 0},
    )
    finder = LRFinder(
        min_lr=min_lr,
        max_lr=max_lr,
        num_steps=num_steps,
        batch_size=batch,
        samples_per_epoch=bundle.num_train,
    )
    train(
        sweep,
        bundle,
        image_size=image_size,
        width=width,
        seed=seed,
        tta=False,
        callbacks=[finder],
        verbose=verbose,
        distribute=strategy,
        **device,
    )
    if plot_path is not None:
        finder.plot(plot_path)
    return finder
