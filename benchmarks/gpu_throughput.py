"""GPU path: training throughput of the full 227-px AlexNet in float32, with mixed precision,
and with mixed precision + XLA (`train(..., mixed_precision=True, jit_compile=True)`).

Each set-up is the model `train()` builds for the `alexnet2012` recipe (width 1, batch 256,
momentum SGD), compiled as `train()` compiles it: float32; mixed precision (float16 compute
and loss scaling on a GPU, bfloat16 on a CPU); mixed precision with an XLA train step. The
batch lives on the device already, so the step alone is timed: every round runs `--steps`
steps of each set-up in a shuffled order, and the fastest round of each is compared.
Goal: mixed precision + XLA >= 2x float32 on a GPU.

    python benchmarks/gpu_throughput.py                     # the measurement (needs a GPU)
    python benchmarks/gpu_throughput.py --image-size 64 --width 0.125 --batch-size 8 \\
        --steps 2 --rounds 1                                # a smoke run on a CPU
"""

from __future__ import annotations

import os
import random
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf
from docparser import parser_from_doc
from machine import cpu_model

from keras_recipes.models import alexnet, check_image_size
from keras_recipes.recipes import get_recipe
from keras_recipes.training.build import compile_model, mixed_precision_policy

SETUPS = {
    "float32": ("float32", False),
    "mixed precision": ("mixed", False),
    "mixed precision + XLA": ("mixed", True),
}
GOAL = 2.0


def device_name() -> str:
    """The first GPU's name, else the CPU's."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return f"{len(gpus)} x {details.get('device_name', gpus[0].name)}"
    return f"CPU only: {cpu_model()}, {os.cpu_count()} cores"


def build(image_size: int, width: float, batch_size: int, policy: str, jit: bool):
    """The model and optimizer train() makes for alexnet2012, mixed unless `policy` is float32."""
    recipe = get_recipe("alexnet2012").replace(training={"batch_size": batch_size})
    keras.utils.set_random_seed(0)
    return compile_model(
        recipe,
        (image_size, image_size, 3),
        2,
        steps_per_epoch=100,
        builder=lambda r, shape, n: alexnet(r, shape, n, width=width),
        mixed_precision=policy != "float32",
        jit_compile=jit,
    )


def main(argv=None) -> dict[str, float]:
    parser = parser_from_doc(__doc__)
    parser.add_argument("--image-size", type=int, default=227, help="(default: 227)")
    parser.add_argument("--width", type=float, default=1.0, help="(default: 1.0)")
    parser.add_argument("--batch-size", type=int, default=256, help="(default: 256)")
    parser.add_argument("--steps", type=int, default=50, help="steps per round (default: 50)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default: 5)")
    args = parser.parse_args(argv)
    check_image_size(args.image_size)

    mixed = mixed_precision_policy()
    rng = np.random.default_rng(0)
    shape = (args.batch_size, args.image_size, args.image_size, 3)
    x = tf.constant(rng.normal(size=shape).astype("float32"))
    y = tf.constant(rng.integers(0, 2, args.batch_size).astype("int32"))

    models = {}
    for name, (policy, jit) in SETUPS.items():
        policy = mixed if policy == "mixed" else policy
        models[name] = build(args.image_size, args.width, args.batch_size, policy, jit)
        for _ in range(3):  # trace (and XLA-compile) the step, warm the allocator
            models[name].train_on_batch(x, y)
    times: dict[str, list[float]] = {name: [] for name in SETUPS}
    order = list(SETUPS)
    shuffler = random.Random(0)
    for _ in range(args.rounds):
        shuffler.shuffle(order)
        for name in order:
            start = time.perf_counter()
            for _ in range(args.steps):
                loss = models[name].train_on_batch(x, y)
            float(np.asarray(loss).ravel()[0])  # waits for the device
            times[name].append((time.perf_counter() - start) / args.steps)

    print(
        f"device: {device_name()}; TF {tf.__version__}, Keras {keras.__version__}; "
        f"mixed policy: {mixed}"
    )
    print(
        f"AlexNet {args.image_size} px, width {args.width}, batch {args.batch_size}; "
        f"{args.rounds} rounds x {args.steps} steps, fastest round"
    )
    print(f"{'set-up':24s} {'ms/step':>9s} {'median':>9s} {'images/s':>10s} {'vs float32':>11s}")
    base = min(times["float32"])
    speedups = {}
    for name, values in times.items():
        fastest = min(values)
        speedups[name] = base / fastest
        print(
            f"{name:24s} {1000 * fastest:9.2f} {1000 * statistics.median(values):9.2f} "
            f"{args.batch_size / fastest:10.1f} {speedups[name]:10.2f}x"
        )
    met = speedups["mixed precision + XLA"] >= GOAL
    print(f"goal: mixed precision + XLA >= {GOAL:g}x float32: {'met' if met else 'not met'}")
    return speedups


if __name__ == "__main__":
    main()
