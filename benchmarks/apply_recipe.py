"""apply_recipe's cost: seconds to put a recipe onto a keras.applications model.

    python benchmarks/apply_recipe.py [--model ResNet50] [--size 224] [--runs 5]
                                      [--recipes default elu prelu]

The user's model (`weights=None`, 1000 classes) is built once. Each recipe is then applied
`runs` times, interleaved with Keras's own `clone_model` of the same model (the same graph
walk and fresh weights, no recipe) as the baseline, after one untimed warm-up of each.
The median and the fastest run are printed; the goal is a median under 5 s for ResNet50
at 224 px on 2 CPU cores.
"""

from __future__ import annotations

import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
from docparser import parser_from_doc

from keras_recipes.models import apply_recipe

MODELS = ("ResNet50", "MobileNetV2", "EfficientNetB0", "DenseNet121", "VGG16")
BASELINE = "clone_model (no recipe)"


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(model: keras.Model, recipes: list[str], runs: int) -> dict[str, list[float]]:
    """Seconds per run for each recipe and the baseline, interleaved run by run."""
    setups = {BASELINE: lambda: keras.models.clone_model(model)}
    setups.update({name: lambda name=name: apply_recipe(model, name) for name in recipes})
    for fn in setups.values():
        fn()  # warm-up: first-call costs (imports, the registry's TOML files)
    times: dict[str, list[float]] = {name: [] for name in setups}
    for _ in range(runs):
        for name, fn in setups.items():
            times[name].append(seconds(fn))
    return times


def main(argv=None) -> dict[str, list[float]]:
    parser = parser_from_doc(__doc__)
    parser.add_argument("--model", choices=MODELS, default="ResNet50", help="(default: ResNet50)")
    parser.add_argument("--size", type=int, default=224, help="input pixels (default: 224)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs each (default: 5)")
    parser.add_argument(
        "--recipes",
        nargs="+",
        default=["default", "elu", "prelu"],
        help="(default: default elu prelu)",
    )
    args = parser.parse_args(argv)

    build = getattr(keras.applications, args.model)
    start = time.perf_counter()
    model = build(weights=None, input_shape=(args.size, args.size, 3))
    built = time.perf_counter() - start
    times = measure(model, args.recipes, args.runs)
    print(
        f"{args.model} at {args.size} px: {len(model.layers)} layers, "
        f"{model.count_params():,} parameters, built in {built:.2f} s; {args.runs} runs"
    )
    print(f"{'setup':<26} {'median s':>8} {'fastest s':>9}")
    for name, values in times.items():
        print(f"{name:<26} {statistics.median(values):>8.2f} {min(values):>9.2f}")
    return times


if __name__ == "__main__":
    main()
