"""BayesOptTuner against keras-tuner's BayesianOptimization: the best value found against the
number of trials, median over seeds, both through keras-tuner's own `Tuner` interface on
the same hyperparameters, budget and number of random initial points.

    branin     Branin, minimise, 30 trials (5 random), a `run_trial` returning the value
    hartmann6  Hartmann-6, minimise, 50 trials (10 random), the same way
    train      a small MLP hypermodel (learning rate on a log scale, units with a step,
               dropout, activation choice, batch norm on/off) on a fixed synthetic 4-class
               task, best val_accuracy, maximise, 15 trials (4 random), 3 epochs a trial

    bo         keras_recipes.tuning.BayesOptTuner, its defaults (bayes_opt GP with one length
               scale per coordinate + EI, xi 0.01)
    kt-bo      keras_tuner.BayesianOptimization, its defaults (GP + UCB, beta 2.6)

    python benchmarks/tuner.py                        # the figures in benchmarks/README.md
    python benchmarks/tuner.py --functions branin --seeds 3
    python benchmarks/tuner.py --tiny                 # a smoke run (seconds)
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from docparser import parser_from_doc

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def _sibling(name: str):
    """benchmarks/<name>.py as a module (the test functions live in search.py)."""
    module_name = f"{name}_benchmark"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, HERE / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name]


_search = _sibling("search")
branin, hartmann6, KT_SEED_STRIDE = _search.branin, _search.hartmann6, _search.KT_SEED_STRIDE

FUNCTIONS = ("branin", "hartmann6", "train")
#: Epochs per training trial.
TRAIN_EPOCHS = 3
METHODS = ("bo", "kt-bo")
METHOD_NOTES = {
    "bo": "keras_recipes.tuning.BayesOptTuner, defaults (bayes_opt GP, ARD Matern + EI, xi 0.01)",
    "kt-bo": "keras_tuner.BayesianOptimization, defaults (GP + UCB, beta 2.6)",
}


@dataclass(frozen=True)
class Problem:
    """One search problem: its space, budget and sense.

    Attributes:
        name: str. The `--functions` name.
        title: str. The table's heading.
        declare: callable(hp). Declares the hyperparameters.
        evaluations: int. Trials per search (both tuners).
        init_points: int. Random trials first (both tuners).
        minimise: bool. The value is minimised.
        checkpoints: tuple of int. Trial counts shown as rows.
        evaluate: callable(values) -> float, or None for the training hypermodel.
    """

    name: str
    title: str
    declare: Callable[..., None]
    evaluations: int
    init_points: int
    minimise: bool
    checkpoints: tuple[int, ...]
    evaluate: Callable[[dict], float] | None = None

    def hyperparameters(self):
        import keras_tuner

        hp = keras_tuner.HyperParameters()
        self.declare(hp)
        return hp


def _branin_space(hp) -> None:
    hp.Float("x1", -5.0, 10.0)
    hp.Float("x2", 0.0, 15.0)


def _hartmann_space(hp) -> None:
    for i in range(1, 7):
        hp.Float(f"x{i}", 0.0, 1.0)


def _mlp_space(hp) -> None:
    hp.Float("lr", 1e-4, 1e-1, sampling="log")
    hp.Int("units", 16, 256, step=16)
    hp.Float("dropout", 0.0, 0.5)
    hp.Choice("activation", ["relu", "tanh"])
    hp.Boolean("batch_norm")


PROBLEMS = {
    "branin": Problem(
        "branin",
        "Branin, minimise, optimum 0.397887",
        _branin_space,
        30,
        5,
        True,
        (5, 10, 15, 20, 30),
        lambda v: branin(v["x1"], v["x2"]),
    ),
    "hartmann6": Problem(
        "hartmann6",
        "Hartmann-6, minimise, optimum -3.32237",
        _hartmann_space,
        50,
        10,
        True,
        (10, 20, 30, 40, 50),
        lambda v: hartmann6([v[f"x{i}"] for i in range(1, 7)]),
    ),
    "train": Problem(
        "train",
        "small MLP on a synthetic 4-class task: best val_accuracy, maximise",
        _mlp_space,
        15,
        4,
        False,
        (4, 8, 12, 15),
    ),
}


def tiny(problem: Problem) -> Problem:
    """A few trials of the same problem (smoke runs and tests)."""
    return replace(problem, evaluations=4, init_points=2, checkpoints=(2, 4))


# -- the training hypermodel ------------------------------------------------------------------


def synthetic_data(n_train: int = 1000, n_val: int = 1000, seed: int = 0):
    """A fixed 4-class task: 20 Gaussian inputs labelled by a random two-layer tanh net."""
    rng = np.random.default_rng(seed)
    w1, w2 = rng.normal(size=(20, 16)), rng.normal(size=(16, 4))
    x = rng.normal(size=(n_train + n_val, 20)).astype("float32")
    y = np.argmax(np.tanh(x @ w1) @ w2, axis=1).astype("int32")
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])


def build_mlp(hp):
    """The tuned hypermodel; weights and shuffling seeded, so a point always scores the same."""
    import keras

    keras.utils.set_random_seed(0)
    _mlp_space(hp)
    model = keras.Sequential([keras.Input((20,))])
    for _ in range(2):
        model.add(keras.layers.Dense(hp["units"]))
        if hp["batch_norm"]:
            model.add(keras.layers.BatchNormalization())
        model.add(keras.layers.Activation(hp["activation"]))
        model.add(keras.layers.Dropout(hp["dropout"], seed=0))
    model.add(keras.layers.Dense(4, activation="softmax"))
    model.compile(
        keras.optimizers.Adam(hp["lr"]), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    return model


# -- one search -------------------------------------------------------------------------------


def make_tuner(method: str, problem: Problem, seed: int, directory: Path, xi: float = 0.01):
    """The tuner of `method` for `problem`: its own defaults (bo: EI's `xi`), the shared
    budget and space."""
    import keras_tuner

    from keras_recipes.tuning import BayesOptTuner

    base = BayesOptTuner if method == "bo" else keras_tuner.BayesianOptimization
    kwargs = {
        "max_trials": problem.evaluations,
        "num_initial_points": problem.init_points,
        "hyperparameters": problem.hyperparameters(),
        # keras-tuner reads seed 0 as "no seed", and its seeds 1 and 2 share all but one
        # random draw: its seeds are spread out as in search.py.
        "seed": seed if method == "bo" else seed * KT_SEED_STRIDE + 1,
        "directory": str(directory),
        "project_name": method,
        "overwrite": True,
    }
    if method == "bo":
        kwargs["xi"] = xi
    if problem.evaluate is None:
        return base(build_mlp, objective="val_accuracy", **kwargs)
    evaluate = problem.evaluate

    class Analytic(base):
        def run_trial(self, trial, *args, **kw):
            return {"value": float(evaluate(trial.hyperparameters.values))}

    return Analytic(objective=keras_tuner.Objective("value", "min"), **kwargs)


@dataclass
class SearchRun:
    """One search: the score of each trial in start order, its wall and CPU seconds (CPU:
    this process's, all threads; on a shared machine it is the cost that load does not
    stretch)."""

    values: list[float]
    seconds: float
    cpu_seconds: float = math.nan

    def best_so_far(self, minimise: bool) -> np.ndarray:
        values = np.asarray(self.values, dtype=float)
        values = np.where(np.isnan(values), np.inf if minimise else -np.inf, values)
        return np.minimum.accumulate(values) if minimise else np.maximum.accumulate(values)


def run_one(
    method: str, problem: Problem, seed: int, workdir: Path, data, xi: float = 0.01
) -> SearchRun:
    tuner = make_tuner(method, problem, seed, workdir, xi)
    start, cpu_start = time.perf_counter(), time.process_time()
    if problem.evaluate is None:
        (x, y), validation = data
        tuner.search(
            x, y, epochs=TRAIN_EPOCHS, batch_size=64, validation_data=validation, verbose=0
        )
    else:
        tuner.search(verbose=0)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    trials = [tuner.oracle.trials[t] for t in tuner.oracle.start_order]
    values = [t.score if t.score is not None else math.nan for t in trials]
    return SearchRun([float(v) for v in values], seconds, cpu_seconds)


# -- tables -----------------------------------------------------------------------------------


def curve_table(problem: Problem, runs: dict[str, list[SearchRun]]) -> str:
    """Markdown: median best-so-far at each checkpoint (rows) for each method (columns)."""
    lines = [f"| trials | {' | '.join(runs)} |", "|---" * (len(runs) + 1) + "|"]
    for k in problem.checkpoints:
        cells = []
        for method_runs in runs.values():
            bests = [r.best_so_far(problem.minimise)[k - 1] for r in method_runs]
            cells.append(f"{statistics.median(bests):.4f}" if bests else "-")
        lines.append(f"| {k} | {' | '.join(cells)} |")
    return "\n".join(lines)


def final_bests(problem: Problem, runs: list[SearchRun]) -> list[float]:
    return [float(r.best_so_far(problem.minimise)[-1]) for r in runs]


def goal_line(problem: Problem, runs: dict[str, list[SearchRun]]) -> tuple[str, bool] | None:
    """bo's median final best at least as good as kt-bo's."""
    if not (runs.get("bo") and runs.get("kt-bo")):
        return None
    bo = statistics.median(final_bests(problem, runs["bo"]))
    kt = statistics.median(final_bests(problem, runs["kt-bo"]))
    met = bo <= kt if problem.minimise else bo >= kt
    sense = "<=" if problem.minimise else ">="
    return f"| {problem.name}: bo's median best {sense} kt-bo's | {bo:.4f} vs {kt:.4f} |", met


# -- main -------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = parser_from_doc(__doc__)
    parser.add_argument(
        "--functions",
        type=_search._choices(FUNCTIONS),
        default=list(FUNCTIONS),
        help=f"comma-separated, of {', '.join(FUNCTIONS)} (default: all)",
    )
    parser.add_argument(
        "--methods",
        type=_search._choices(METHODS),
        default=list(METHODS),
        help="comma-separated, of bo, kt-bo (default: both)",
    )
    parser.add_argument(
        "--seeds",
        type=_search._positive,
        default=5,
        help="seeds per analytic function (default: 5)",
    )
    parser.add_argument(
        "--train-seeds", type=_search._positive, default=3, help="seeds on train (default: 3)"
    )
    parser.add_argument(
        "--xi", type=float, default=0.01, help="bo's EI exploration margin (default: 0.01)"
    )
    parser.add_argument(
        "--tiny", action="store_true", help="a smoke run: 4 trials, 1 seed, 200 examples"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from threadpoolctl import threadpool_limits

    args = build_parser().parse_args(argv)
    warnings.filterwarnings("ignore")  # keras-tuner's GP warns on every bounded length scale
    # One BLAS thread for both tuners' GPs: their matrices have a few dozen rows, and on a
    # shared 2-core machine more threads only wait for each other (search.py's README).
    with threadpool_limits(limits=1):
        return _main(args)


def _main(args: argparse.Namespace) -> int:
    if args.tiny:
        args.seeds = args.train_seeds = 1
    print("# BayesOptTuner vs keras-tuner BayesianOptimization: best value against trials\n")
    for method in args.methods:
        print(f"- {method}: {METHOD_NOTES[method].replace('xi 0.01', f'xi {args.xi:g}')}")
    goals = []
    with tempfile.TemporaryDirectory() as tmp_name:
        for name in args.functions:
            problem = tiny(PROBLEMS[name]) if args.tiny else PROBLEMS[name]
            seeds = args.train_seeds if name == "train" else args.seeds
            data = synthetic_data(*((200, 200) if args.tiny else ())) if name == "train" else None
            runs = _run_problem(problem, args, seeds, Path(tmp_name) / name, data)
            spent = {
                m: (sum(r.seconds for r in rs), sum(r.cpu_seconds for r in rs))
                for m, rs in runs.items()
            }
            print(
                f"\n## {problem.title}: {problem.evaluations} trials ({problem.init_points} "
                f"random), median over {seeds} seeds ("
                + ", ".join(f"{m} {w:.0f} s ({c:.0f} s CPU)" for m, (w, c) in spent.items())
                + ")\n"
            )
            print(curve_table(problem, runs))
            for method, method_runs in runs.items():
                bests = ", ".join(f"{v:.4f}" for v in final_bests(problem, method_runs))
                print(f"\n{method} final best per seed: {bests}")
            goal = goal_line(problem, runs)
            if goal is not None:
                goals.append(goal)
    print("\n## Goals\n\n| goal | measured | met |\n|---|---|---|")
    for line, met in goals:
        print(f"{line} {'not judged (--tiny)' if args.tiny else ('yes' if met else 'no')} |")
    return 0


def _run_problem(problem, args, seeds, folder, data) -> dict[str, list[SearchRun]]:
    runs: dict[str, list[SearchRun]] = {m: [] for m in args.methods}
    for seed in range(seeds):
        for method in args.methods:
            run = run_one(method, problem, seed, folder / f"{method}-{seed}", data, args.xi)
            runs[method].append(run)
            print(
                f"{problem.name} {method} seed {seed}: best "
                f"{run.best_so_far(problem.minimise)[-1]:.4f} in {run.seconds:.1f} s "
                f"({run.cpu_seconds:.1f} s CPU)",
                file=sys.stderr,
                flush=True,
            )
    return runs


if __name__ == "__main__":
    sys.exit(main())
