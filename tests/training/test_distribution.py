"""tf.distribute: strategy choice, batch and LR rule, 2 CPU replicas, 2 workers on 127.0.0.1."""

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from keras_recipes import cli
from keras_recipes.cli.arguments import DISTRIBUTE_CHOICES
from keras_recipes.data.demo import make_demo
from keras_recipes.errors import ConfigError
from keras_recipes.recipes import get_recipe
from keras_recipes.training import distribution
from keras_recipes.training.build import learning_rate

ROOT = Path(__file__).resolve().parents[2]


def test_the_cli_offers_the_strategies_the_library_knows():
    assert DISTRIBUTE_CHOICES == distribution.DISTRIBUTE_CHOICES


def test_none_and_auto_on_a_machine_without_gpus_are_the_default_strategy():
    import tensorflow as tf

    for name in ("none", "auto", None):
        strategy = distribution.resolve_strategy(name)
        assert strategy is tf.distribute.get_strategy()
        assert distribution.worker_role(strategy).is_chief


def test_an_unknown_strategy_names_the_choices():
    with pytest.raises(ConfigError, match="choose one of auto, none, mirrored, multi-worker"):
        distribution.resolve_strategy("mirror")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "TF_CONFIG environment variable, which is not set"),
        ("{not json", "TF_CONFIG is not valid JSON"),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief"}}', "needs a 'cluster'"),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}', "not in 0..0"),
    ],
)
def test_multi_worker_needs_a_valid_tf_config(monkeypatch, value, message):
    if value is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", value)
    with pytest.raises(ConfigError, match=message):
        distribution.resolve_strategy("multi-worker")


def test_the_cli_reports_a_missing_tf_config_without_a_traceback(monkeypatch, capsys):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    code = cli.main(["train", "--distribute", "multi-worker", "--epochs", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "TF_CONFIG environment variable, which is not set" in err
    assert "Traceback" not in err


def test_the_global_batch_is_split_and_the_learning_rate_kept():
    recipe = get_recipe("alexnet2012")  # batch 256, lr 0.01
    same, info = distribution.scale_for_replicas(recipe, 4)
    assert same.training.batch_size == 256
    assert same.optimizer.learning_rate == 0.01
    assert info == {
        "replicas": 4,
        "global_batch": 256,
        "per_replica_batch": 64,
        "learning_rate_scale": 1,
    }


def test_batch_per_replica_scales_batch_learning_rate_and_floor_linearly():
    recipe = get_recipe("default").replace(
        training={"batch_size": 32}, optimizer={"learning_rate": 0.05}, schedule={"min_lr": 1e-4}
    )
    scaled, info = distribution.scale_for_replicas(recipe, 3, batch_per_replica=True)
    assert scaled.training.batch_size == 96
    assert scaled.optimizer.learning_rate == pytest.approx(0.15)
    assert scaled.schedule.min_lr == pytest.approx(3e-4)
    assert info["per_replica_batch"] == 32 and info["learning_rate_scale"] == 3


def test_batch_per_replica_scales_every_rate_of_a_piecewise_schedule():
    recipe = get_recipe("default").replace(
        training={"batch_size": 32},
        schedule={"name": "piecewise", "boundaries": [2, 4], "values": [0.1, 0.01, 0.001]},
    )
    scaled, _ = distribution.scale_for_replicas(recipe, 3, batch_per_replica=True)
    steps_per_epoch = 5
    one = learning_rate(recipe, steps_per_epoch)
    three = learning_rate(scaled, steps_per_epoch)
    # The rate the optimizer uses at every step of 6 epochs, before and after the boundaries.
    steps = range(6 * steps_per_epoch)
    expected = [3 * float(one(step)) for step in steps]
    np.testing.assert_allclose([float(three(step)) for step in steps], expected, rtol=1e-6)
    assert float(three(0)) == pytest.approx(0.3) and float(three(29)) == pytest.approx(0.003)


def test_a_batch_that_does_not_split_evenly_is_an_error():
    recipe = get_recipe("default").replace(training={"batch_size": 10})
    with pytest.raises(ConfigError, match="global batch of 10 does not split evenly across 4"):
        distribution.scale_for_replicas(recipe, 4)


def test_non_chief_workers_write_into_their_own_sub_folder(tmp_path):
    chief = distribution.WorkerRole("worker", 0, is_chief=True)
    other = distribution.WorkerRole("worker", 1, is_chief=False)
    assert distribution.worker_run_dir(tmp_path, chief) == tmp_path
    assert distribution.worker_run_dir(tmp_path, other) == tmp_path / "worker-1"
    assert distribution.worker_run_dir(None, other) is None


# Two logical CPUs make MirroredStrategy run 2 replicas; they must be set before TensorFlow
# starts, so each run is its own process. The `default` recipe has batch norm (synchronised
# across replicas) and 1cycle with momentum cycling (the callbacks under the strategy).
_TWO_REPLICAS = textwrap.dedent(
    """
    import sys
    import keras
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from keras_recipes.models.mlp import mlp
    from keras_recipes.recipes import get_recipe
    from keras_recipes.training.fit import TrainingInterrupted, train

    mode, out = sys.argv[1], sys.argv[2]
    recipe = get_recipe("default").with_overrides(
        [
            "training.epochs=2",
            "training.batch_size=8",
            "regularization.dropout_rate=0",
        ]
    )
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (48, 12, 12, 3), dtype=np.uint8)
    y = np.arange(48) % 2
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]) if mode != "none" else "none"
    settings = dict(
        image_size=8, verbose=0, distribute=strategy, run_dir=out,
        model_builder=lambda r, shape, n: mlp(r, shape, n, hidden_units=(16, 16)),
    )

    class CtrlCAfterFirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt

    if mode == "mirrored-resumed":
        try:
            train(recipe, (x, y), callbacks=[CtrlCAfterFirstEpoch()], **settings)
        except TrainingInterrupted:
            pass
        result = train(recipe, (x, y), resume=True, **settings)
    else:
        result = train(recipe, (x, y), **settings)
    np.save(out + "/weights.npy", np.concatenate([w.ravel() for w in result.model.get_weights()]))
    """
)


def _run(args, env=None, timeout=240):
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})},
        cwd=ROOT,
    )


@pytest.mark.slow
def test_two_mirrored_replicas_take_the_same_steps_as_one_device(tmp_path):
    script = tmp_path / "two_replicas.py"
    script.write_text(_TWO_REPLICAS)
    runs = {}
    for mode in ("none", "mirrored", "mirrored-resumed"):
        done = _run([str(script), mode, str(tmp_path / mode)])
        assert done.returncode == 0, done.stderr[-3000:]
        runs[mode] = json.loads((tmp_path / mode / "summary.json").read_text())
    assert runs["mirrored"]["distribution"] == {
        "strategy": "MirroredStrategy",
        "replicas": 2,
        "global_batch": 8,
        "per_replica_batch": 4,
        "learning_rate_scale": 1,
    }
    assert runs["mirrored-resumed"]["resumed_at_epoch"] == 1
    one = np.load(tmp_path / "none" / "weights.npy")
    # Same global batch, synchronised batch norm, the same 1cycle (momentum cycling
    # included): the same weights up to float32 summation order, also when the mirrored run
    # was stopped after epoch 1 and resumed from its checkpoint.
    for mode in ("mirrored", "mirrored-resumed"):
        np.testing.assert_allclose(np.load(tmp_path / mode / "weights.npy"), one, atol=5e-5)
    rates = {m: pd.read_csv(tmp_path / m / "history.csv")["learning_rate"] for m in runs}
    np.testing.assert_allclose(rates["mirrored-resumed"], rates["none"], rtol=1e-6)


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _train_process(argv, tf_config=None):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )


@pytest.mark.slow
def test_two_workers_on_localhost_take_the_steps_of_one_device(tmp_path):
    data = make_demo(tmp_path / "data", n_per_class=24, size=40)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    out, alone = tmp_path / "run", tmp_path / "one-device"
    # Dropout off: each replica draws its own masks, so only the deterministic parts of a
    # step can match one device's (batch norm is synchronised across the workers).
    argv = [
        "--data", str(data),
        "--image-size", "32",
        "--width", "0.0625",
        "--epochs", "2",
        "--batch-size", "16",
        "--set", "regularization.dropout_rate=0",
    ]  # fmt: skip
    processes = [
        _train_process(
            [*argv, "--distribute", "multi-worker", "--out", str(out)],
            {"cluster": cluster, "task": {"type": "worker", "index": index}},
        )
        for index in range(2)
    ]
    processes.append(_train_process([*argv, "--distribute", "none", "--out", str(alone)]))
    outputs = [process.communicate(timeout=400) for process in processes]
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err[-3000:]

    from keras_recipes.training.fit import load_model

    chief = load_model(out / "model.keras")
    other = load_model(out / "worker-1" / "model.keras")
    one = load_model(alone / "model.keras")
    # The same global batch of 16 split 8 + 8 over the workers, gradients averaged over it:
    # the steps one device takes, up to float32 summation order. (Comparing the two workers
    # alone would pass for two workers that agree on the wrong steps.) Synchronised batch
    # norm over 8-image halves amplifies the summation order: up to ~1.5e-3 seen after 6
    # steps of this run (1.36e-3 relative on a weight of 31.8 with today's wheels), so the
    # bound is twice that.
    for a, b, c in zip(chief.get_weights(), other.get_weights(), one.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, c, rtol=3e-3, atol=5e-3)
    chief_history = pd.read_csv(out / "history.csv")
    one_history = pd.read_csv(alone / "history.csv")
    np.testing.assert_allclose(chief_history["loss"], one_history["loss"], rtol=5e-3)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["distribution"]["strategy"] == "MultiWorkerMirroredStrategy"
    assert summary["distribution"]["replicas"] == 2
    assert summary["distribution"]["per_replica_batch"] == 8
    assert summary["epochs_run"] == 2
    # The chief's files are its own; the worker wrote beside them, not over them.
    assert (out / "history.csv").exists() and (out / "worker-1" / "history.csv").exists()
    assert not (out / "backup").exists()
