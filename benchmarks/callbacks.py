"""Callback overhead: train-step time with OneCycleScheduler (momentum cycling on) and with
PerformanceScheduler, against no callback, on the demo AlexNet (64 px, width 0.25).

One compiled model trains under each set-up in turn: every round runs one `fit` of
`--steps` batches per set-up, in a shuffled order, so drift in machine load hits all of
them alike; the fastest round of each (the least disturbed by machine noise) is compared with the
baseline's, and the median is printed beside it.

    python benchmarks/callbacks.py            # the measurement in benchmarks/README.md
    python benchmarks/callbacks.py --rounds 2 --steps 5   # a smoke run
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

from keras_recipes.callbacks import OneCycleScheduler, PerformanceScheduler
from keras_recipes.models import alexnet
from keras_recipes.optimizers import SGD
from keras_recipes.recipes import get_recipe


def make_model(jit_compile: bool) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = alexnet(get_recipe("relu"), (64, 64, 3), width=0.25)
    model.compile(
        optimizer=SGD(0.01, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        jit_compile=jit_compile,
    )
    return model


def main(argv=None) -> None:
    parser = parser_from_doc(__doc__)
    parser.add_argument("--rounds", type=int, default=30, help="timed rounds (default: 30)")
    parser.add_argument("--steps", type=int, default=30, help="batches per fit (default: 30)")
    parser.add_argument("--batch-size", type=int, default=64, help="(default: 64)")
    parser.add_argument("--jit-compile", action="store_true", help="XLA train step")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    n = args.steps * args.batch_size
    x = rng.normal(size=(n, 64, 64, 3)).astype("float32")
    y = rng.integers(0, 2, n).astype("int32")
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(args.batch_size).cache()
    val = data.take(1)

    total = 3 * (args.rounds + 1) * args.steps
    model = make_model(args.jit_compile)
    setups = {
        "none": [],
        "OneCycleScheduler (momentum cycling)": [OneCycleScheduler(0.05, total_steps=total)],
        "PerformanceScheduler": [PerformanceScheduler(monitor="val_loss", patience=2)],
    }
    times: dict[str, list[float]] = {name: [] for name in setups}
    order = list(setups)
    shuffler = random.Random(0)
    for round_index in range(args.rounds + 1):
        shuffler.shuffle(order)
        for name in order:
            start = time.perf_counter()
            model.fit(
                data, validation_data=val, epochs=1, callbacks=setups[name], verbose=0,
                shuffle=False,
            )  # fmt: skip
            elapsed = time.perf_counter() - start
            if round_index:  # round 0 traces the step: not timed
                times[name].append(elapsed / args.steps)

    # Step times here are bimodal (about 46 or 64 ms on the 2-core VM, whatever the
    # callback: the host's CPU quota), so the fastest round is the estimate that machine
    # noise disturbs least (as timeit does); the median is shown beside it.
    base = min(times["none"])
    print(
        f"machine: {cpu_model()}, {os.cpu_count()} cores; "
        f"TF {tf.__version__}, Keras {keras.__version__}; jit_compile={args.jit_compile}"
    )
    print(f"{args.rounds} rounds x {args.steps} steps, batch {args.batch_size}; ms per step")
    print(f"{'callback':40s} {'fastest':>9s} {'median':>9s} {'overhead':>9s}")
    for name, values in times.items():
        fastest, median = min(values), statistics.median(values)
        print(
            f"{name:40s} {1000 * fastest:9.2f} {1000 * median:9.2f} "
            f"{100 * (fastest / base - 1):8.2f}%"
        )


if __name__ == "__main__":
    main()
