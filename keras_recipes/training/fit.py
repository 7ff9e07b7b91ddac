"""`train()`: the one place that compiles and fits. The CLI, the tuner and the tests call it.

It reads as its steps, each a function of this package: where the run folder stands
(`run_dir.resume_point`), determinism, the data, the model (`build`), the toolkit's
callbacks, `fit`, the summary and test accuracy (`result`), and the run folder written.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import keras
import tensorflow as tf

from keras_recipes import _compat
from keras_recipes.callbacks.learning_rate_logger import LearningRateLogger
from keras_recipes.callbacks.resumable_early_stopping import ResumableEarlyStopping
from keras_recipes.callbacks.tensorboard import log_dir_for, resumable_tensorboard
from keras_recipes.callbacks.throughput import ThroughputMeter
from keras_recipes.data import DataBundle, evaluate_tta, load_data
from keras_recipes.data.arrays import non_image_bundle
from keras_recipes.errors import ConfigError, check_int_in
from keras_recipes.models import check_image_size
from keras_recipes.recipes import Recipe, get_recipe
from keras_recipes.seeds import check_seed
from keras_recipes.training.build import (
    ModelBuilder,
    alexnet_builder,
    compile_model,
    schedule_callbacks,
)
from keras_recipes.training.distribution import (
    prepare_multi_worker_fit,
    resolve_strategy,
    scale_for_replicas,
    strategy_name,
    worker_role,
    worker_run_dir,
)
from keras_recipes.training.result import TrainResult, run_status, summarize
from keras_recipes.training.run_dir import (
    BACKUP_DIR,
    RunRecorder,
    history_frame,
    prepare_run_dir,
    restore_seed_states,
    resume_point,
    write_run_dir,
)
from keras_recipes.training.run_dir import (
    keep_state as keep_run_state,
)
from keras_recipes.training.user_model import ModelSpec, user_model_builder


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during `train()`, raised after the run directory was written.

    Attributes:
        result: TrainResult. What was computed, with status "interrupted".
    """

    def __init__(self, result: TrainResult):
        super().__init__("training interrupted")
        self.result = result


def _restores_op_determinism(function):
    """`function` with TensorFlow's op determinism (process-wide) set back on return to
    what it was on entry: train() sets it for its own run, and left on it would make the
    caller's own `model.compile(jit_compile=True)` quietly run without XLA."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        previous = _compat.op_determinism_enabled()
        try:
            return function(*args, **kwargs)
        finally:
            _set_determinism(previous)

    return wrapper


@_restores_op_determinism
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
    model: ModelSpec | None = None,
    verbose: int | str = "auto",
    save_model: bool = True,
    deterministic: bool = True,
    resume: bool = False,
    distribute: str | tf.distribute.Strategy | None = "none",
    batch_per_replica: bool = False,
    mixed_precision: bool = False,
    jit_compile: bool = False,
    tensorboard: bool | str | Path = True,
    cache: bool | None = None,
    keep_state: bool = False,
    until_epoch: int | None = None,
) -> TrainResult:
    """Trains `recipe` on `data` and writes the run directory.

    Epochs and batch size come from `recipe.training` (override them with
    `recipe.with_overrides(["training.epochs=5"])`). The loss is sparse categorical
    cross-entropy with accuracy, whatever the model and data: the objective (what
    `summary.json`, compare and the tuners rank by) is the best validation accuracy.

    Args:
        recipe: Recipe or str. A recipe, a registered name or a `.toml` path.
        data: DataBundle, str or (x, y). "demo", a folder, "tfds:NAME", arrays, or a bundle
            already loaded (the tuner loads once and passes it to every trial). With a
            `model` of your own, also data that are not images, without the image pipeline
            (no crop, flip or normalisation): arrays whose x is not 4-D, (N, features) or
            (N, steps, features), split like images and batched by the recipe's batch size
            (`keras_recipes.data.arrays.ArrayBundle`); or a batched `(train_ds, val_ds)`
            tf.data pair, used as it is (`DatasetBundle`). A 4-D x, (N, H, W, C), is images.
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
        model: your model, with the recipe applied (`apply_recipe`, seeded by `seed`): a
            Sequential or Functional `keras.Model`, a callable `(input_shape, num_classes)
            -> keras.Model`, or a spec "MODULE:FUNCTION" / "path/to/file.py:FUNCTION" of
            one (`--model`). Its input must match the data's shape. None: AlexNet.
        verbose: Keras `fit` verbosity.
        save_model: bool. Write `model.keras` into `run_dir`.
        deterministic: bool. Deterministic TF ops, so a seeded CPU run repeats exactly
            (off under `jit_compile`: Keras runs no XLA step with determinism on). The
            setting is process-wide; train() puts back the one it found when it returns.
        resume: bool. Continue the unfinished run in `run_dir` from its last completed
            epoch (weights, optimizer, schedule state and history), as if never stopped.
        distribute: str or tf.distribute.Strategy. "none", "auto", "mirrored" or
            "multi-worker" (`TF_CONFIG`); see `keras_recipes.training.distribution`. Under
            multi-worker the chief writes `run_dir`, worker N writes `run_dir/worker-N`.
        batch_per_replica: bool. The recipe's batch is each replica's, not the global one;
            the learning rate is scaled by the number of replicas (linear scaling rule).
        mixed_precision: bool. float16 compute with loss scaling on GPUs (bfloat16 on
            CPUs); weights and the softmax stay float32.
        jit_compile: bool. Compile the train step with XLA.
        tensorboard: bool or path. TensorBoard logs into `run_dir/tensorboard` (True), a
            folder of their own (a path; `compare` and the searches gather their runs so),
            or none (False). A resumed run appends to them, each step once.
        cache: bool or None. Decoded images from the store on disk (True), decoded in
            memory (False, `--no-cache`), or the store unless `$KERAS_RECIPES_NO_CACHE`
            is set (None); see `keras_recipes.data.store`.
        keep_state: bool. When the run ends (not interrupted), keep its last checkpoint
            in `run_dir/state` (`run_dir.keep_state`) instead of deleting it, so another
            run can continue it: `run_dir.continue_state(run_dir, new_dir)`, then
            `train(..., run_dir=new_dir, resume=True)` trains the epochs after it, as
            if this run had never stopped. For a Hyperband rung cut short of the recipe's
            epochs (`tuning.engine.rungs`). Needs `run_dir`.
        until_epoch: int or None. Stop after this epoch (1-based) of the recipe's epochs,
            whose schedule stays laid out over all of them: the start of the full run (a
            Hyperband rung under the "final" schedule). A resumed run already there trains
            no more. The run is "completed" when it gets there. None: all the epochs.

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
    run_dir, tensorboard = _worker_folders(strategy, run_dir, tensorboard)
    if isinstance(recipe, str):
        recipe = get_recipe(recipe)
    builder = _builder_for(model, model_builder, width, seed, image_size)  # before the data
    # `recipe` stays the user's (it is what recipe.toml records); `trained` is what runs.
    trained, replicas = scale_for_replicas(recipe, strategy.num_replicas_in_sync, batch_per_replica)
    last_epoch = _last_epoch(until_epoch, trained.training.epochs)
    initial_epoch, records, states = resume_point(run_dir, resume)
    keras.utils.set_random_seed(seed)
    deterministic = _set_determinism(deterministic and not jit_compile)
    own = model is not None or model_builder is not None
    bundle = bundle_for(data, trained.training, image_size, seed, cache, own_model=own)
    model = _model_in_scope(strategy, trained, bundle, builder, mixed_precision, jit_compile)
    if run_dir is not None:
        run_dir = prepare_run_dir(run_dir)
        recipe.to_toml(run_dir / "recipe.toml")  # before the first epoch: a killed run replays
    resumed = (initial_epoch, records, states)
    own = _own_callbacks(trained, model, bundle, run_dir, resumed, tensorboard, keep_state)
    all_callbacks = [*own.all, *callbacks]

    start = time.perf_counter()
    interrupted = _fit(model, bundle, initial_epoch, last_epoch, all_callbacks, own.board, verbose)
    if keep_state and run_dir is not None and not interrupted:
        keep_run_state(run_dir)  # at once: the checkpoint of a finished run must not linger
    history = history_frame(own.recorder.records)
    summary = {
        **summarize(trained, bundle, model, history, seed, image_size, width),
        **_how_it_ran(own.meter, strategy, replicas, model, deterministic),
        "status": "interrupted" if interrupted else run_status(history, last_epoch),
    }
    if until_epoch is not None:
        summary["until_epoch"] = until_epoch
    if initial_epoch:
        summary["resumed_at_epoch"] = initial_epoch
    if summary["status"] not in ("diverged", "interrupted"):
        use_tta = (trained.training.evaluation == "tta10") if tta is None else tta
        summary.update(_test_accuracy(model, bundle, use_tta))
    summary["wall_seconds"] = round(time.perf_counter() - start, 2)

    result = TrainResult(history, summary, model, run_dir, all_callbacks)
    if run_dir is not None:
        write_run_dir(result, recipe, save_model=save_model)
    if interrupted:
        raise TrainingInterrupted(result)
    return result


def _last_epoch(until_epoch: int | None, epochs: int) -> int:
    """The epoch fit() ends at: `until_epoch` (checked) or the recipe's `epochs`."""
    if until_epoch is None:
        return epochs
    return check_int_in("until_epoch", until_epoch, 1, epochs, " (the recipe's epochs)")


def _worker_folders(strategy, run_dir, tensorboard):
    """The run folder and TensorBoard folder of this process: under multi-worker training
    the chief writes `run_dir`, worker N `run_dir/worker-N` (each its own log sub-folder)."""
    role = worker_role(strategy)
    if not isinstance(tensorboard, bool):  # a folder of its own
        tensorboard = worker_run_dir(tensorboard, role)
    return worker_run_dir(run_dir, role), tensorboard


def _model_in_scope(strategy, recipe, bundle, builder, mixed_precision, jit_compile):
    """The compiled model, its variables made under the strategy's scope."""
    with strategy.scope():
        model = compile_model(
            recipe,
            bundle.input_shape,
            len(bundle.class_names),
            bundle.steps_per_epoch,
            builder=builder,
            mixed_precision=mixed_precision,
            jit_compile=jit_compile,
        )
        if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            prepare_multi_worker_fit(model, bundle.train.element_spec)
    return model


def _how_it_ran(meter, strategy, replicas, model, deterministic: bool) -> dict[str, Any]:
    """Throughput and the device set-up, for `summary.json`."""
    return {
        "train_images_per_second": round(meter.images_per_second, 2),
        "distribution": {"strategy": strategy_name(strategy), **replicas},
        "dtype_policy": model.dtype_policy.name,
        "jit_compile": bool(model.jit_compile),
        "deterministic": deterministic,
    }


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


def _builder_for(model, model_builder, width: float, seed: int, image_size: int) -> ModelBuilder:
    """Your model (the recipe applied), your builder, or AlexNet (its image size checked)."""
    if model is not None and model_builder is not None:
        raise ConfigError("Give train() `model` or `model_builder`, not both.")
    if model is not None:
        return user_model_builder(model, seed)
    if model_builder is not None:
        return model_builder
    check_image_size(image_size)
    return alexnet_builder(width, seed)


def bundle_for(data, cfg, image_size: int, seed: int, cache: bool | None, own_model=False):
    """The data with the recipe's batch and preprocessing, loaded if need be: a DataBundle
    of images, or (with a model of your own) an ArrayBundle / DatasetBundle of other data."""
    other = non_image_bundle(data, own_model=own_model, batch_size=cfg.batch_size, seed=seed)
    if other is not None:
        return other
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
        cache=cache,
    )


class _OwnCallbacks(NamedTuple):
    """The toolkit's callbacks in fit() order, and the ones train() reads back."""

    all: list
    recorder: RunRecorder
    meter: ThroughputMeter
    board: keras.callbacks.Callback | None


def _own_callbacks(trained, model, bundle, run_dir, resumed, tensorboard, keep_state=False):
    """Schedules, logging, early stopping, the run recorder, TensorBoard and the checkpoint,
    with the states of a resumed run (`resumed`: epochs done, records, states) put back;
    `keep_state`: the checkpoint is not deleted when fit() ends (train() keeps it)."""
    initial_epoch, records, states = resumed
    cfg = trained.training
    schedulers = schedule_callbacks(trained, bundle.steps_per_epoch)
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
            keras.callbacks.BackupAndRestore(
                str(run_dir / BACKUP_DIR), double_checkpoint=True, delete_checkpoint=not keep_state
            )
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
    use_tta = use_tta and isinstance(bundle, DataBundle)  # 10 crops of images only
    scores = {
        "test_accuracy": float(model.evaluate(bundle.test, verbose=0, return_dict=True)["accuracy"])
    }
    if use_tta:
        scores["test_accuracy_tta"] = float(
            evaluate_tta(model, bundle.test_full, bundle.input_shape[0])
        )
    return scores


def load_model(path: str | Path) -> keras.Model:
    """Loads a run's `model.keras`, with the toolkit's optimizers and layers registered.

    Example:

    >>> import tempfile
    >>> from keras_recipes.models.mlp import mlp
    >>> from keras_recipes.recipes import get_recipe
    >>> model = mlp(get_recipe("default"), (4,), hidden_units=(8,))
    >>> from keras_recipes.training.build import build_optimizer
    >>> model.compile(optimizer=build_optimizer(get_recipe("default"), 10), loss="mse")
    >>> path = Path(tempfile.mkdtemp()) / "model.keras"
    >>> model.save(path)
    >>> type(load_model(path).optimizer).__name__
    'SGD'
    """
    # This module imports keras_recipes.optimizers and .models, whose classes register
    # themselves with Keras's serialisation on import.
    return keras.saving.load_model(path)
