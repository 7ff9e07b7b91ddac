"""How hard is the built-in demo set? A linear model on raw pixels vs a small CNN.

The demo must be learnable but not trivial: logistic regression on raw pixels should stay
below ~0.70 validation accuracy while a three-layer CNN reaches >= 0.92 in ~10 epochs.

    python benchmarks/demo_difficulty.py [--epochs-linear 20] [--epochs-cnn 10] [--alexnet]

Prints the generation time, then one line per model: best and final validation accuracy.
"""

from __future__ import annotations

import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import tensorflow as tf
from docparser import parser_from_doc

from keras_recipes.data import load_data, make_demo
from keras_recipes.recipes import get_recipe

IMAGE_SIZE = 64


def linear_model(shape: tuple[int, int, int]) -> keras.Model:
    return keras.Sequential(
        [keras.Input(shape), keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax")],
        name="linear",
    )


def small_cnn(shape: tuple[int, int, int]) -> keras.Model:
    # Batch norm with momentum 0.9: with ~22 steps an epoch, the default 0.99 leaves the
    # moving statistics (used for validation) several epochs behind the weights.
    layers = [keras.Input(shape)]
    for filters in (32, 64, 128):
        layers += [
            keras.layers.Conv2D(filters, 3, padding="same", use_bias=False),
            keras.layers.BatchNormalization(momentum=0.9),
            keras.layers.ReLU(),
            keras.layers.MaxPooling2D(),
        ]
    layers += [keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2, activation="softmax")]
    return keras.Sequential(layers, name="small_cnn")


def fit(model: keras.Model, train, val, epochs: int, lr: float, steps_per_epoch=None) -> dict:
    model.compile(
        keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    start = time.perf_counter()
    history = model.fit(
        train,
        steps_per_epoch=steps_per_epoch,  # needed for a bundle's endless epoch stream
        validation_data=val,
        epochs=epochs,
        verbose=0,
        shuffle=False,
    )
    return {"val_accuracy": history.history["val_accuracy"], "seconds": time.perf_counter() - start}


def main(argv=None) -> dict:
    parser = parser_from_doc(__doc__)
    parser.add_argument("--epochs-linear", type=int, default=20, help="(default: 20)")
    parser.add_argument("--epochs-cnn", type=int, default=10, help="(default: 10)")
    parser.add_argument("--seed", type=int, default=0, help="split, shuffle and init (default: 0)")
    parser.add_argument(
        "--alexnet",
        action="store_true",
        help="also run train() with the default recipe and the CPU AlexNet, as the demo CLI "
        "does (64 px, width 0.25, 15 epochs, batch 64)",
    )
    parser.add_argument(
        "--epochs-alexnet", type=int, default=15, help="AlexNet epochs (default: 15)"
    )
    parser.add_argument(
        "--n-per-class", type=int, default=1000, help="demo images per class (default: 1000)"
    )
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(args.seed)

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        folder = make_demo(os.path.join(tmp, "demo"), n_per_class=args.n_per_class)
        print(f"generation: {2 * args.n_per_class} images in {time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        # The freshly generated folder, not the cache: the numbers describe this code's demo.
        bundle = load_data(str(folder), image_size=IMAGE_SIZE, batch_size=64, seed=args.seed)
    print(f"load (decode + split): {time.perf_counter() - start:.1f} s")
    print(f"counts: {bundle.describe()['counts']}")

    results = {}
    # Linear on raw pixels, twice: on the augmented pipeline, and on fixed centre crops
    # (reshuffled every epoch), whichever a reader considers the fair baseline.
    stream = (bundle.train, bundle.val)
    steps = bundle.steps_per_epoch
    results["linear (augmented)"] = fit(
        linear_model(bundle.input_shape), *stream, args.epochs_linear, 1e-3, steps
    )
    offset = (bundle.resize_size - IMAGE_SIZE) // 2
    crops = bundle.decoded.images[:, offset : offset + IMAGE_SIZE, offset : offset + IMAGE_SIZE]
    x = crops.astype("float32") / 255.0 - bundle.mean
    y = bundle.decoded.labels
    train = tf.data.Dataset.from_tensor_slices((x[bundle.split.train], y[bundle.split.train]))
    train = train.shuffle(bundle.num_train, seed=args.seed).batch(64)
    results["linear (centre crops)"] = fit(
        linear_model(bundle.input_shape), train, bundle.val, args.epochs_linear, 1e-3
    )
    results["small CNN"] = fit(small_cnn(bundle.input_shape), *stream, args.epochs_cnn, 1e-3, steps)
    if args.alexnet:
        from keras_recipes.training.fit import train as train_recipe

        recipe = get_recipe("default").with_overrides(
            [f"training.epochs={args.epochs_alexnet}", "training.batch_size=64"]
        )
        start = time.perf_counter()
        run = train_recipe(
            recipe, bundle, image_size=IMAGE_SIZE, width=0.25, seed=args.seed, verbose=0
        )
        results["AlexNet w0.25, default"] = {
            "val_accuracy": run.history["val_accuracy"].tolist(),
            "seconds": time.perf_counter() - start,
        }
    for name, result in results.items():
        acc = result["val_accuracy"]
        print(
            f"{name:24s} val acc best {max(acc):.4f} final {acc[-1]:.4f} "
            f"({len(acc)} epochs, {result['seconds']:.0f} s)"
        )
        print(f"{'':24s} per epoch: {' '.join(f'{a:.2f}' for a in acc)}")
    return results


if __name__ == "__main__":
    main()
