"""Data-parallel training through `tf.distribute`: which strategy, who writes, batch and LR.

`train(..., distribute=...)` accepts one of `DISTRIBUTE_CHOICES` or a ready
`tf.distribute.Strategy`:

- `none`: the default strategy (one device).
- `auto`: `MirroredStrategy` when more than one GPU is visible, else `none`.
- `mirrored`: `MirroredStrategy` over every visible GPU (the CPU when there is none).
- `multi-worker`: `MultiWorkerMirroredStrategy` from the `TF_CONFIG` environment variable.

Batch and learning rate. `training.batch_size` is the global batch: every step splits it
evenly across the replicas, the gradients are averaged over the whole batch, and one step is
the same update as on one device, so the learning rate stays the recipe's. With
`batch_per_replica=True` the recipe's batch is instead what each replica computes; the
global batch grows to `batch_size * replicas`, and the learning rate (and every rate a
schedule sets: a piecewise schedule's `schedule.values`, the floor `schedule.min_lr`) is
multiplied by the same factor: the linear scaling rule ("when the
minibatch size is multiplied by k, multiply the learning rate by k", Goyal et al. 2017).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tensorflow as tf

from keras_recipes import _compat
from keras_recipes.errors import ConfigError
from keras_recipes.recipes import Recipe

DISTRIBUTE_CHOICES = ("auto", "none", "mirrored", "multi-worker")

TF_CONFIG_EXAMPLE = (
    'TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
    '"task": {"type": "worker", "index": 0}}\''
)

# A process can configure its collective ops once, so each strategy is made once and reused
# by every later train() call in the same process.
_strategies: dict[str, tf.distribute.Strategy] = {}


@dataclass(frozen=True)
class WorkerRole:
    """Where this process stands in a multi-worker cluster.

    Example:

    >>> WorkerRole("worker", 1, is_chief=False).run_subdir
    'worker-1'
    """

    task_type: str | None = None
    task_id: int = 0
    is_chief: bool = True

    @property
    def run_subdir(self) -> str:
        """The sub-folder of the run directory where a non-chief worker writes its files."""
        return f"{self.task_type}-{self.task_id}"


def read_tf_config() -> dict[str, Any]:
    """The parsed `TF_CONFIG`; a `ConfigError` naming what is missing or malformed."""
    text = os.environ.get("TF_CONFIG", "").strip()
    if not text:
        raise ConfigError(
            "--distribute multi-worker reads the cluster from the TF_CONFIG environment "
            f"variable, which is not set. Set it on every machine, e.g. {TF_CONFIG_EXAMPLE} "
            "(the same cluster everywhere, each machine its own task index)."
        )
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"TF_CONFIG is not valid JSON ({error}): {text!r}") from None
    task = config.get("task", {}) if isinstance(config, dict) else {}
    cluster = config.get("cluster", {}) if isinstance(config, dict) else {}
    task_type = task.get("type")
    if not cluster or task_type not in cluster:
        raise ConfigError(
            f"TF_CONFIG needs a 'cluster' and a 'task' whose type is one of the cluster's "
            f"jobs; got {text!r}. Example: {TF_CONFIG_EXAMPLE}"
        )
    index = task.get("index", 0)
    if not isinstance(index, int) or not 0 <= index < len(cluster[task_type]):
        raise ConfigError(
            f"TF_CONFIG task index {index!r} is not in 0..{len(cluster[task_type]) - 1} "
            f"for the {len(cluster[task_type])} '{task_type}' addresses of the cluster."
        )
    return config


def worker_role(strategy: tf.distribute.Strategy) -> WorkerRole:
    """This process's role: the chief writes the run directory, other workers a sub-folder.

    The chief is the `chief` task when the cluster has one, else worker 0 (TensorFlow's rule).
    """
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return WorkerRole()
    resolver = strategy.cluster_resolver
    task_type, task_id = resolver.task_type, int(resolver.task_id or 0)
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    is_chief = task_type == "chief" or (not has_chief and task_type == "worker" and task_id == 0)
    return WorkerRole(task_type, task_id, is_chief)


def resolve_strategy(distribute: str | tf.distribute.Strategy | None) -> tf.distribute.Strategy:
    """The strategy `distribute` names (see the module docstring).

    Example:

    >>> resolve_strategy("none").num_replicas_in_sync
    1
    """
    if distribute is None:
        distribute = "none"
    if isinstance(distribute, tf.distribute.Strategy):
        return distribute
    if distribute not in DISTRIBUTE_CHOICES:
        raise ConfigError(
            f"Unknown distribute={distribute!r}; choose one of {', '.join(DISTRIBUTE_CHOICES)}."
        )
    if distribute == "auto":
        gpus = tf.config.list_physical_devices("GPU")
        distribute = "mirrored" if len(gpus) > 1 else "none"
    if distribute == "none":
        return tf.distribute.get_strategy()
    if distribute == "multi-worker":
        read_tf_config()  # a clear message before TensorFlow's own
    if distribute not in _strategies:
        if distribute == "mirrored":
            _strategies[distribute] = tf.distribute.MirroredStrategy()
        else:
            _strategies[distribute] = tf.distribute.MultiWorkerMirroredStrategy()
    return _strategies[distribute]


def strategy_name(strategy: tf.distribute.Strategy) -> str:
    """The public name of `strategy` ("none" for the default one).

    Example:

    >>> strategy_name(resolve_strategy("none"))
    'none'
    """
    # Checked in this order: the multi-worker class is exported under another name
    # (CollectiveAllReduceStrategy).
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return "MultiWorkerMirroredStrategy"
    if isinstance(strategy, tf.distribute.MirroredStrategy):
        return "MirroredStrategy"
    if strategy is tf.distribute.get_strategy() and not tf.distribute.has_strategy():
        return "none"
    return type(strategy).__name__


def prepare_multi_worker_fit(model, element_spec) -> None:
    """Lets Keras 3's `fit()` run under `MultiWorkerMirroredStrategy`; call after compile().

    Keras 3.15 has two faults there (keras-team/keras#20585): `fit()` builds the model from a
    first batch averaged with `strategy.reduce(...)`, which cannot take the per-replica batch
    ("Attempt to convert a value (PerReplica...)"), and every step averages its scalar logs
    over `axis=0` ("Invalid reduction dimension 0 for input with 0 dimensions"). The model
    is built here from the batch's spec instead, and the logs are averaged with `axis=None`.
    The steps themselves (gradients, all-reduce, updates) are Keras's own.
    """
    _patch_multi_worker_log_reduction()
    images, labels = element_spec
    batch = (tf.zeros((1, *images.shape[1:]), images.dtype), tf.zeros((1,), labels.dtype))
    _compat.build_from_batch(model, batch)


def _patch_multi_worker_log_reduction() -> None:
    trainer = _compat.keras_tf_trainer()
    original = trainer.reduce_per_replica
    if getattr(original, "_multi_worker_scalars", False):
        return

    def reduce_per_replica(values, strategy, reduction):
        if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and reduction in (
            "auto",
            "mean",
        ):
            return tf.nest.map_structure(
                lambda value: strategy.reduce("MEAN", value, axis=None), values
            )
        return original(values, strategy, reduction)

    reduce_per_replica._multi_worker_scalars = True
    trainer.reduce_per_replica = reduce_per_replica


def scale_for_replicas(
    recipe: Recipe, replicas: int, batch_per_replica: bool = False
) -> tuple[Recipe, dict[str, Any]]:
    """The recipe with the global batch and learning rate for `replicas` replicas.

    Returns the recipe to train and a record of what was done (it goes into the summary).

    Example:

    >>> from keras_recipes.recipes import get_recipe
    >>> recipe = get_recipe("alexnet2012")  # batch 256, lr 0.01
    >>> scaled, info = scale_for_replicas(recipe, 4, batch_per_replica=True)
    >>> scaled.training.batch_size, round(scaled.optimizer.learning_rate, 6)
    (1024, 0.04)
    >>> info["per_replica_batch"], info["learning_rate_scale"]
    (256, 4)
    """
    batch = recipe.training.batch_size
    if batch_per_replica and replicas > 1:
        global_batch = batch * replicas
        schedule = recipe.schedule
        recipe = recipe.replace(
            training={"batch_size": global_batch},
            optimizer={"learning_rate": recipe.optimizer.learning_rate * replicas},
            # Every rate a schedule sets is scaled, the piecewise rates and the floor too.
            schedule={
                "min_lr": schedule.min_lr * replicas,
                "values": [value * replicas for value in schedule.values],
            },
        )
        scale = replicas
    else:
        if batch % replicas:
            raise ConfigError(
                f"The global batch of {batch} does not split evenly across {replicas} replicas; "
                f"choose a --batch-size that is a multiple of {replicas}, or give "
                "--batch-per-replica to make it the batch of each replica."
            )
        global_batch, scale = batch, 1
    info = {
        "replicas": replicas,
        "global_batch": global_batch,
        "per_replica_batch": global_batch // replicas,
        "learning_rate_scale": scale,
    }
    return recipe, info


def worker_run_dir(run_dir: str | Path | None, role: WorkerRole) -> Path | None:
    """Where this process writes: the run directory itself for the chief, else a sub-folder.

    Every worker saves its own checkpoint and model (TensorFlow's collective ops need all of
    them to take part); apart, they never overwrite the chief's files.
    """
    if run_dir is None or role.is_chief:
        return None if run_dir is None else Path(run_dir)
    return Path(run_dir) / role.run_subdir
