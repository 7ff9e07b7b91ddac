"""MC dropout on the demo data: the mean of T stochastic passes, one stochastic pass, and
plain dropout, on the same split; and what the T passes cost.

    python benchmarks/mc_dropout.py [--seeds 3] [--epochs 15] [--passes 10] [--repeats 10]

For each seed the `default` recipe (64 px, width 0.25, batch 64, as the demo CLI) is
trained twice through `train()`: with `dropout_kind = "mc"` (T passes averaged in the
validation of every epoch, the test and the 10-crop TTA) and with plain dropout. The MC
model's weights are then predicted on the test split three ways: the mean of T passes and
one stochastic pass, each `repeats` times with fresh masks (both are random estimates),
and with dropout off (plain dropout's inference on the same weights). Accuracy and NLL
(cross-entropy without the decay term) are averaged over the repeats. The plain-dropout
run is a separate training: its masks part from the MC run's after the first epoch,
because MC validation draws masks from the same generators.

Cost: seconds to predict the validation split (best of `repeats`, compiled `predict`) with
T passes, with one pass of the same weights, and with the plain-dropout model; and each
run's training wall time, whose validations are MC for the MC run.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np
from docparser import parser_from_doc

from keras_recipes.data import load_data, make_demo
from keras_recipes.models import alexnet
from keras_recipes.recipes import get_recipe
from keras_recipes.training.fit import train

ONE_PASS = "regularization.mc_passes=1"
DROPOUT_OFF = "regularization.dropout_kind=dropout"


def labels_of(dataset) -> np.ndarray:
    return np.concatenate([np.asarray(y) for _, y in dataset])


def scores(model, dataset, labels: np.ndarray) -> tuple[float, float]:
    """(accuracy, mean negative log-likelihood) of the model's predictions."""
    probs = model.predict(dataset, verbose=0).astype("float64")
    picked = np.clip(probs[np.arange(len(labels)), labels], 1e-12, None)
    return float(np.mean(probs.argmax(axis=1) == labels)), float(-np.log(picked).mean())


def predict_seconds(model, dataset, repeats: int) -> float:
    """Fastest of `repeats` timed predictions, after one that compiles the function."""
    model.predict(dataset, verbose=0)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict(dataset, verbose=0)
        times.append(time.perf_counter() - start)
    return min(times)


def twin(model, recipe, override: str, bundle, width: float, seed: int):
    """The same weights in the architecture `recipe` + `override` builds: one stochastic
    pass (`regularization.mc_passes=1`) or dropout off (`regularization.dropout_kind=dropout`).
    """
    other = recipe.with_overrides([override])
    copy = alexnet(other, bundle.input_shape, len(bundle.class_names), width=width, seed=seed)
    copy.set_weights(model.get_weights())  # MCRepeat / MCAverage and dropout hold no weights
    return copy


def repeated(fn, repeats: int) -> list[tuple[float, float]]:
    return [fn() for _ in range(repeats)]


def mean_sd(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.pstdev(values)


def run_seed(bundle, args, seed: int) -> dict:
    base = get_recipe("default").with_overrides(
        [f"training.epochs={args.epochs}", f"training.batch_size={args.batch_size}"]
    )
    mc_recipe = base.with_overrides(
        ["regularization.dropout_kind=mc", f"regularization.mc_passes={args.passes}"]
    )
    settings = dict(image_size=args.image_size, width=args.width, seed=seed, tta=True, verbose=0)
    mc_run = train(mc_recipe, bundle, **settings)
    plain_run = train(base, bundle, **settings)
    test = bundle.with_settings(
        batch_size=args.batch_size, preprocessing=base.training.preprocessing, seed=seed
    )
    labels = labels_of(test.test)
    one_pass = twin(mc_run.model, mc_recipe, ONE_PASS, bundle, args.width, seed)
    no_dropout = twin(mc_run.model, mc_recipe, DROPOUT_OFF, bundle, args.width, seed)
    mc = repeated(lambda: scores(mc_run.model, test.test, labels), args.repeats)
    single = repeated(lambda: scores(one_pass, test.test, labels), args.repeats)
    return {
        "seed": seed,
        "prediction_passes": mc_run.summary["prediction_passes"],
        "mc_test": mc,
        "one_pass_test": single,
        "dropout_off_test": scores(no_dropout, test.test, labels),
        "plain_test": scores(plain_run.model, test.test, labels),
        "mc_best_val": mc_run.summary["best_val_accuracy"],
        "plain_best_val": plain_run.summary["best_val_accuracy"],
        "mc_tta": mc_run.summary.get("test_accuracy_tta"),
        "plain_tta": plain_run.summary.get("test_accuracy_tta"),
        "seconds_val_mc": predict_seconds(mc_run.model, test.val, args.repeats),
        "seconds_val_one_pass": predict_seconds(one_pass, test.val, args.repeats),
        "seconds_val_plain": predict_seconds(plain_run.model, test.val, args.repeats),
        "seconds_train_mc": mc_run.summary["wall_seconds"],
        "seconds_train_plain": plain_run.summary["wall_seconds"],
    }


def report(rows: list[dict], passes: int) -> None:
    print(
        f"{'seed':>4} {'MC T=' + str(passes) + ' acc':>13} {'one pass acc':>15} "
        f"{'off acc':>7} {'plain acc':>9} {'MC nll':>7} {'1-pass nll':>10} {'off nll':>7} "
        f"{'plain nll':>9} {'MC tta':>6} {'plain tta':>9} {'MC val':>6} {'plain val':>9}"
    )
    for row in rows:
        mc_acc, mc_sd = mean_sd([a for a, _ in row["mc_test"]])
        one_acc, one_sd = mean_sd([a for a, _ in row["one_pass_test"]])
        mc_nll = statistics.fmean(n for _, n in row["mc_test"])
        one_nll = statistics.fmean(n for _, n in row["one_pass_test"])
        plain_acc, plain_nll = row["plain_test"]
        off_acc, off_nll = row["dropout_off_test"]
        print(
            f"{row['seed']:>4} {mc_acc:>7.4f}±{mc_sd:.4f} {one_acc:>9.4f}±{one_sd:.4f} "
            f"{off_acc:>7.4f} {plain_acc:>9.4f} {mc_nll:>7.4f} {one_nll:>10.4f} {off_nll:>7.4f} "
            f"{plain_nll:>9.4f} "
            f"{row['mc_tta']:>6.4f} {row['plain_tta']:>9.4f} {row['mc_best_val']:>6.4f} "
            f"{row['plain_best_val']:>9.4f}"
        )
    for row in rows:
        val = row["seconds_val_mc"], row["seconds_val_one_pass"], row["seconds_val_plain"]
        print(
            f"seed {row['seed']}: predicting the validation split: MC T={passes} "
            f"{val[0] * 1e3:.0f} ms, one pass {val[1] * 1e3:.0f} ms, plain {val[2] * 1e3:.0f} ms "
            f"(MC / plain {val[0] / val[2]:.2f}x); training with validation every epoch: "
            f"MC {row['seconds_train_mc']:.0f} s, plain {row['seconds_train_plain']:.0f} s"
        )


def main(argv=None) -> list[dict]:
    parser = parser_from_doc(__doc__)
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default: 3)")
    parser.add_argument("--epochs", type=int, default=15, help="(default: 15)")
    parser.add_argument("--passes", type=int, default=10, help="MC passes T (default: 10)")
    parser.add_argument(
        "--repeats", type=int, default=10, help="predictions per estimate (default: 10)"
    )
    parser.add_argument("--image-size", type=int, default=64, help="(default: 64)")
    parser.add_argument("--width", type=float, default=0.25, help="(default: 0.25)")
    parser.add_argument("--batch-size", type=int, default=64, help="(default: 64)")
    parser.add_argument(
        "--n-per-class", type=int, default=1000, help="demo images per class (default: 1000)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        # A fresh demo folder, as demo_difficulty.py: the figures describe this code's demo.
        folder = make_demo(os.path.join(tmp, "demo"), n_per_class=args.n_per_class)
        bundle = load_data(str(folder), image_size=args.image_size, batch_size=args.batch_size)
    print(f"demo: {bundle.describe()['counts']}")
    rows = [run_seed(bundle, args, seed) for seed in range(args.seeds)]
    report(rows, args.passes)
    return rows


if __name__ == "__main__":
    main()
