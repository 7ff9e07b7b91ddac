"""BOHBTuner against keras-tuner's Hyperband on real images (Fashion-MNIST): the best
validation accuracy found against the epochs trained, median over seeds, both through
keras-tuner's `Tuner` interface with the same hypermodel, brackets and random draws.

The data: Debian's `dataset-fashion-mnist` (`apt-get install dataset-fashion-mnist`, read
from /usr/share/datasets/fashion-mnist): a fixed random subset of the training set for
training (--train, default 6,000) and one of the test set for validation (--val, 2,000),
pixels scaled to [0, 1]. The hypermodel: an MLP (flatten, one hidden layer of `units`
(Int 32..512 step 32) with `activation` (Choice relu/tanh/selu) and dropout (Float
0..0.5), softmax), Adam at `learning_rate` (Float log 1e-5..1e-1), batch 128.

    bohb       keras_recipes.tuning.BOHBTuner (BOHB: a third random, the rest from bayes_opt's
               GP + EI at the largest budget with d + 1 = 5 scores)
    hyperband  keras_tuner.Hyperband, the same max_epochs, factor 3 and keras-tuner seed, so
               its configurations are BOHBTuner's random draws

Both train a promoted configuration on from its parent's weights (keras-tuner's
Hyperband), so a trial costs its `tuner/epochs - tuner/initial_epoch` epochs. "Best
after E epochs" is the best val_accuracy of the trials finished by then (the tuner's
pick).

    python benchmarks/bohb_tuner.py                       # the table in benchmarks/README.md
    python benchmarks/bohb_tuner.py --seeds 3 --max-epochs 9 --iterations 2
    python benchmarks/bohb_tuner.py --tiny                # a smoke run (seconds)
"""

from __future__ import annotations

import argparse
import gzip
import math
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
from docparser import parser_from_doc

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FASHION = Path("/usr/share/datasets/fashion-mnist")
METHODS = ("bohb", "hyperband")


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (MNIST's format: big-endian dims after a magic number), gzipped."""
    # keras.datasets.fashion_mnist.load_data() downloads the same files first (no network
    # on the machines these figures come from); this reads the Debian package's copies.
    raw = gzip.decompress(path.read_bytes())
    ndim = raw[3]
    dims = np.frombuffer(raw, ">u4", ndim, offset=4).astype(int)
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def fashion_mnist(n_train: int, n_val: int, folder: Path = FASHION):
    """(x, y) for training and validation: fixed random subsets (seed 0) of Fashion-MNIST's
    training and test sets, pixels in [0, 1]."""
    if not (folder / "train-images-idx3-ubyte.gz").is_file():
        raise SystemExit(
            f"bohb_tuner.py: Fashion-MNIST is not in {folder}; "
            "install it with: apt-get install dataset-fashion-mnist"
        )
    rng = np.random.default_rng(0)
    out = []
    for split, n in (("train", n_train), ("t10k", n_val)):
        images = read_idx(folder / f"{split}-images-idx3-ubyte.gz")
        labels = read_idx(folder / f"{split}-labels-idx1-ubyte.gz")
        pick = rng.choice(len(labels), size=n, replace=False)
        out.append((images[pick].astype("float32") / 255.0, labels[pick].astype("int64")))
    return out


def build_mlp(hp):
    import keras

    model = keras.Sequential(
        [
            keras.Input((28, 28)),
            keras.layers.Flatten(),
            keras.layers.Dense(
                hp.Int("units", 32, 512, step=32),
                activation=hp.Choice("activation", ["relu", "tanh", "selu"]),
            ),
            keras.layers.Dropout(hp.Float("dropout", 0.0, 0.5)),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        keras.optimizers.Adam(hp.Float("learning_rate", 1e-5, 1e-1, sampling="log")),
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


@dataclass
class Run:
    """One search: per finished trial, in order, the epochs it trained and its score."""

    epochs: list[int]
    scores: list[float]
    seconds: float

    def best_after(self, spent: float) -> float | None:
        """The best score of the trials finished within `spent` epochs (None: none yet)."""
        best, total = None, 0
        for epochs, score in zip(self.epochs, self.scores, strict=True):
            total += epochs
            if total > spent:
                break
            if math.isfinite(score):
                best = score if best is None else max(best, score)
        return best


def run_search(method: str, seed: int, args, data, directory: Path) -> Run:
    import keras
    import keras_tuner

    from keras_recipes.tuning import BOHBTuner
    from keras_recipes.tuning.bo.oracle import SEED_SPACING

    settings = {
        "objective": "val_accuracy",
        "max_epochs": args.max_epochs,
        "factor": 3,
        "hyperband_iterations": args.iterations,
        "directory": str(directory),
        "project_name": f"{method}-{seed}",
    }
    if method == "bohb":
        tuner = BOHBTuner(build_mlp, seed=seed, **settings)
    else:  # BOHBTuner's keras-tuner seed: the same random configurations
        tuner = keras_tuner.Hyperband(build_mlp, seed=seed * SEED_SPACING + 1, **settings)
    (x, y), (x_val, y_val) = data
    keras.utils.set_random_seed(seed)  # the same weight draws for both methods
    start = time.perf_counter()
    tuner.search(x, y, validation_data=(x_val, y_val), batch_size=128, verbose=0)
    seconds = time.perf_counter() - start
    oracle = tuner.oracle
    epochs, scores = [], []
    for trial_id in oracle.end_order:
        trial = oracle.trials[trial_id]
        values = trial.hyperparameters.values
        epochs.append(int(values["tuner/epochs"]) - int(values.get("tuner/initial_epoch", 0)))
        scores.append(math.nan if trial.score is None else float(trial.score))
    return Run(epochs, scores, seconds)


def checkpoints(runs: dict[str, list[Run]]) -> list[int]:
    """Epoch counts for the table's rows: every 25 up to the longest run, and its end."""
    longest = max(sum(r.epochs) for rs in runs.values() for r in rs)
    return [*range(25, longest, 25), longest]


def median_best(method_runs: list[Run], spent: float) -> float | None:
    bests = [r.best_after(spent) for r in method_runs]
    if sum(b is None for b in bests) * 2 >= len(bests):
        return None
    return statistics.median(-math.inf if b is None else b for b in bests)


def table(runs: dict[str, list[Run]]) -> list[str]:
    lines = [f"| epochs trained | {' | '.join(runs)} |", "|---" * (len(runs) + 1) + "|"]
    for spent in checkpoints(runs):
        cells = []
        for method_runs in runs.values():
            value = median_best(method_runs, spent)
            cells.append("-" if value is None else f"{value:.4f}")
        lines.append(f"| {spent} | {' | '.join(cells)} |")
    return lines


def build_parser() -> argparse.ArgumentParser:
    parser = parser_from_doc(__doc__)
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default: 5)")
    parser.add_argument("--max-epochs", type=int, default=9, help="the top budget (9)")
    parser.add_argument("--iterations", type=int, default=1, help="Hyperband iterations (1)")
    parser.add_argument("--train", type=int, default=6000, help="training images (6000)")
    parser.add_argument("--val", type=int, default=2000, help="validation images (2000)")
    parser.add_argument("--tiny", action="store_true", help="1 seed, 300/200 images, max 3")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.tiny:
        args.seeds, args.max_epochs, args.train, args.val = 1, 3, 300, 200
    if args.seeds < 1 or args.max_epochs < 3 or args.iterations < 1:
        print("bohb_tuner.py: error: --seeds >= 1, --max-epochs >= 3, --iterations >= 1",
              file=sys.stderr)  # fmt: skip
        return 2
    data = fashion_mnist(args.train, args.val)
    # keras-tuner loads a parent's weights into a fresh model, not its optimizer state.
    warnings.filterwarnings("ignore", "Skipping variable loading for optimizer")
    print(
        f"# BOHBTuner vs keras_tuner.Hyperband, Fashion-MNIST ({args.train} train / "
        f"{args.val} val images), MLP, max_epochs {args.max_epochs}, factor 3, "
        f"{args.iterations} iteration(s), median over {args.seeds} seeds, {date.today()}\n"
    )
    runs: dict[str, list[Run]] = {m: [] for m in METHODS}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            for method in METHODS:
                run = run_search(method, seed, args, data, Path(tmp))
                runs[method].append(run)
                print(
                    f"{method} seed {seed}: {len(run.scores)} trials, {sum(run.epochs)} "
                    f"epochs, best {max(run.scores):.4f}, {run.seconds:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
    print("Best val_accuracy found after E epochs trained, median over seeds:\n")
    print("\n".join(table(runs)))
    print()
    for method, method_runs in runs.items():
        finals = ", ".join(f"{max(r.scores):.4f}" for r in method_runs)
        seconds = statistics.median(r.seconds for r in method_runs)
        print(f"- {method}: best per seed {finals}; median {seconds:.0f} s per search")
    return 0


if __name__ == "__main__":
    sys.exit(main())
