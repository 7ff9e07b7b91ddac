"""Search quality of `train-with-bo`: the best value found against the number of evaluations,
median over seeds, for bo (the package's oracle with its defaults: bayes_opt GP + EI, xi 0.01),
random search, grid search and keras-tuner's own BayesianOptimization oracle (GP + UCB).

Every method is a keras-tuner Oracle driven through the package's trial engine
(`drive_search`: `ObjectiveTuner`, oracle state and trial files, `trials.csv`), so all of
them pay the same bookkeeping and see the same objective. Functions:

    toy        the 1-D toy f(x) of the original post, maximise, 2 + 14 evaluations
    branin     Branin, minimise, 30 evaluations (3 random + 27 guided), optimum 0.397887
    hartmann6  Hartmann-6, minimise, 50 evaluations (3 + 47), optimum -3.32237
    train      best validation accuracy of `train()` on the demo data (small AlexNet,
               2 epochs per trial), 20 trials, 3 seeds, through `TrainObjective`

It also measures the tuner's overhead per trial on `train` (everything but the objective:
suggestion, oracle and trial files, the trial table) and bo's seconds per suggestion with
30 observed points in 2-D.

    python benchmarks/search.py                          # the figures in benchmarks/README.md
    python benchmarks/search.py --functions toy,branin --seeds 3
    python benchmarks/search.py --tiny                   # a smoke run (seconds)
"""

from __future__ import annotations

import argparse
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
from sklearn.exceptions import ConvergenceWarning

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# keras-tuner's GP warns on every fit whose length scale reaches a bound.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

METHODS = ("bo", "random", "grid", "kt-bo")
#: keras-tuner's oracles draw value i of a search from `random.Random(seed + i)`, so searches
#: with seeds 1 and 2 share all but one draw; seeds this far apart share none.
KT_SEED_STRIDE = 10_000
FUNCTIONS = ("toy", "branin", "hartmann6", "train")
#: What each method column is.
METHOD_NOTES = {
    "bo": "the package's BayesOptOracle, defaults (bayes_opt GP + EI, xi 0.01)",
    "random": "keras-tuner RandomSearchOracle (uniform in the box)",
    "grid": "keras-tuner GridSearchOracle on the package's grid (`build_oracle`; the same "
    "points whatever the seed)",
    "kt-bo": "keras-tuner BayesianOptimizationOracle, its defaults (GP + UCB, beta 2.6)",
}


# -- test functions ---------------------------------------------------------------------------


def branin(x1: float, x2: float) -> float:
    """Branin-Hoo on [-5, 10] x [0, 15]; minimum 0.397887 at three points."""
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


_HARTMANN_A = np.array(
    [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8],
     [17, 8, 0.05, 10, 0.1, 14]]
)  # fmt: skip
_HARTMANN_P = 1e-4 * np.array(
    [[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
     [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]]
)  # fmt: skip
_HARTMANN_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(x: Sequence[float]) -> float:
    """Hartmann-6 on [0, 1]^6; minimum -3.32237."""
    x = np.asarray(x, dtype=float)
    inner = np.sum(_HARTMANN_A * (x - _HARTMANN_P) ** 2, axis=1)
    return float(-np.sum(_HARTMANN_ALPHA * np.exp(-inner)))


@dataclass(frozen=True)
class Problem:
    """One function to search: bounds, budget, sense and where the table checks it.

    Attributes:
        name: str. The `--functions` name.
        title: str. The table's heading.
        bounds: dict. `{"name": (low, high)}`.
        init_points: int. bo's random points (the rest of the budget is GP-guided).
        evaluations: int. The budget of every method.
        minimise: bool. The function is minimised (the oracles maximise its negative).
        checkpoints: tuple of int. Evaluation counts shown as rows.
        evaluate: callable(params) -> float, or None for the training objective.
    """

    name: str
    title: str
    bounds: dict[str, tuple[float, float]]
    init_points: int
    evaluations: int
    minimise: bool
    checkpoints: tuple[int, ...]
    evaluate: Callable[[dict[str, float]], float] | None = None


def problems(train_trials: int) -> dict[str, Problem]:
    """The four functions at their full budgets."""
    from keras_recipes.tuning.bo.space import TRAIN_BOUNDS
    from keras_recipes.tuning.bo.toy import TOY_BOUNDS, TOY_INIT_POINTS, TOY_N_ITER, toy_function

    return {
        "toy": Problem(
            "toy",
            "toy f(x), maximise, max f(0.631) = 1.707",
            dict(TOY_BOUNDS),
            TOY_INIT_POINTS,
            TOY_INIT_POINTS + TOY_N_ITER,
            False,
            (2, 4, 8, 12, 16),
            lambda p: float(toy_function(p["x"])),
        ),
        "branin": Problem(
            "branin",
            "Branin, minimise, optimum 0.397887",
            {"x1": (-5.0, 10.0), "x2": (0.0, 15.0)},
            3,
            30,
            True,
            (3, 5, 10, 15, 20, 30),
            lambda p: branin(p["x1"], p["x2"]),
        ),
        "hartmann6": Problem(
            "hartmann6",
            "Hartmann-6, minimise, optimum -3.32237",
            {f"x{i}": (0.0, 1.0) for i in range(1, 7)},
            3,
            50,
            True,
            (3, 10, 20, 30, 40, 50),
            lambda p: hartmann6([p[f"x{i}"] for i in range(1, 7)]),
        ),
        "train": Problem(
            "train",
            "training objective: best validation accuracy, maximise",
            dict(TRAIN_BOUNDS),
            3,
            train_trials,
            False,
            tuple(sorted({5, 10, 15, train_trials} & set(range(1, train_trials + 1)))),
        ),
    }


def tiny_problem(problem: Problem) -> Problem:
    """The same function on a budget of a few evaluations (smoke runs and tests)."""
    evaluations = {"toy": 5, "branin": 6, "hartmann6": 6, "train": 3}[problem.name]
    init_points = min(problem.init_points, 2)
    checkpoints = tuple(sorted({init_points, evaluations}))
    return replace(
        problem, init_points=init_points, evaluations=evaluations, checkpoints=checkpoints
    )


# -- oracles ----------------------------------------------------------------------------------


def make_oracle(method: str, problem: Problem, seed: int):
    """The keras-tuner Oracle of `method` for `problem`, or None where it cannot run (with why).

    Returns:
        (oracle or None, note): the note says why a method did not run.
    """
    import keras_tuner

    from keras_recipes.errors import ConfigError
    from keras_recipes.tuning.bo.oracle import BayesOptOracle
    from keras_recipes.tuning.bo.searches import build_oracle
    from keras_recipes.tuning.bo.space import SearchSpace

    objective = keras_tuner.Objective("score", "max")
    n_iter = problem.evaluations - problem.init_points
    if method == "bo":
        # Constructed here with its defaults (acquisition, xi, kappa), not through the CLI.
        return BayesOptOracle(
            objective, problem.bounds, init_points=problem.init_points, n_iter=n_iter, seed=seed
        ), ""
    if method == "kt-bo":
        hps = keras_tuner.HyperParameters()
        for name, (low, high) in problem.bounds.items():
            hps.Float(name, low, high)
        # keras-tuner reads seed 0 as "no seed"; shift it as `build_oracle` does.
        return keras_tuner.oracles.BayesianOptimizationOracle(
            objective,
            max_trials=problem.evaluations,
            hyperparameters=hps,
            seed=seed * KT_SEED_STRIDE + 1,
        ), ""
    try:
        oracle, _ = build_oracle(
            method,
            SearchSpace.from_mapping(problem.bounds),
            objective,
            init_points=problem.init_points,
            n_iter=n_iter,
            seed=seed * KT_SEED_STRIDE,
        )
    except ConfigError as err:
        return None, str(err).split(";")[0]
    return oracle, ""


# -- one search -------------------------------------------------------------------------------


@dataclass
class SearchRun:
    """What one search measured.

    Attributes:
        values: list of float. The function value of each evaluation, in trial order.
        wall_seconds: float. The whole search, engine included.
        objective_seconds: float. Inside the objective only.
        cpu_seconds: float. CPU time of the process (all threads) over the whole search.
        objective_cpu_seconds: float. The same inside the objective only.
    """

    values: list[float]
    wall_seconds: float
    objective_seconds: float
    cpu_seconds: float = 0.0
    objective_cpu_seconds: float = 0.0

    def best_so_far(self, minimise: bool) -> np.ndarray:
        values = np.asarray(self.values, dtype=float)
        return np.minimum.accumulate(values) if minimise else np.maximum.accumulate(values)

    @property
    def overhead_per_trial(self) -> float:
        return (self.wall_seconds - self.objective_seconds) / max(1, len(self.values))


class TimedObjective:
    """Wraps an objective: the oracles maximise, so a minimised function is negated."""

    def __init__(self, fn: Callable[..., float], minimise: bool):
        self.fn = fn
        self.sign = -1.0 if minimise else 1.0
        self.seconds = 0.0
        self.cpu_seconds = 0.0

    def __call__(self, params, **kwargs):
        start, cpu = time.perf_counter(), time.process_time()
        try:
            outcome = self.fn(params, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start
            self.cpu_seconds += time.process_time() - cpu
        if self.sign < 0:
            return self.sign * float(outcome)
        return outcome


def run_one(oracle, problem: Problem, objective_fn, workdir: Path, is_train: bool) -> SearchRun:
    """One search through the package's engine; the trial values in trial order."""
    from keras_recipes.tuning.bo.search import drive_search
    from keras_recipes.tuning.bo.space import SearchSpace
    from keras_recipes.tuning.engine.recorder import TrialRecorder

    space = SearchSpace.from_mapping(problem.bounds)
    timed = TimedObjective(objective_fn, problem.minimise)
    workdir.mkdir(parents=True)
    recorder = TrialRecorder(space, "score", workdir, None, epochs=is_train)
    start, cpu = time.perf_counter(), time.process_time()
    result = drive_search(
        oracle,
        timed,
        recorder,
        workdir,
        role="single",
        resume=False,
        param_names=space.names,
        objective_name="score",
        plan="",
        trial_root=workdir / "trials" if is_train else None,
    )
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    scores = result.frame.sort_values("trial")["score"].astype(float).to_numpy()
    values = (-scores if problem.minimise else scores).tolist()
    return SearchRun(values, wall, timed.seconds, cpu, timed.cpu_seconds)


# -- tables -----------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 4) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.{digits}f}"


def curve_table(problem: Problem, runs: dict[str, list[SearchRun]], notes: dict[str, str]) -> str:
    """Markdown: median best-so-far at each checkpoint (rows) for each method (columns)."""
    methods = list(runs)
    lines = [
        f"| evaluations | {' | '.join(methods)} |",
        "|---" * (len(methods) + 1) + "|",
    ]
    for k in problem.checkpoints:
        cells = []
        for method in methods:
            bests = [
                r.best_so_far(problem.minimise)[k - 1] for r in runs[method] if len(r.values) >= k
            ]
            cells.append(fmt(statistics.median(bests)) if bests else "-")
        lines.append(f"| {k} | {' | '.join(cells)} |")
    for method, note in notes.items():
        lines.append(f"\n{method}: {note}")
    return "\n".join(lines)


def final_bests(problem: Problem, runs: list[SearchRun]) -> list[float]:
    return [float(r.best_so_far(problem.minimise)[-1]) for r in runs if r.values]


@dataclass
class Goal:
    """One line of the goals table."""

    text: str
    measured: str
    met: bool | None  # None: not run


def goals(problem: Problem, runs: dict[str, list[SearchRun]]) -> list[Goal]:
    """The goals of `problem` (bo's), judged on what was run."""
    bo = final_bests(problem, runs.get("bo", []))
    if not bo:
        return []
    median = statistics.median(bo)
    if problem.name == "toy":
        hits = sum(v >= 1.705 for v in bo)
        need = math.ceil(0.9 * len(bo))
        return [
            Goal(
                f"toy: bo's best f >= 1.705 in >= {need} of {len(bo)} seeds",
                f"{hits} of {len(bo)} (median {median:.4f})",
                hits >= need,
            )
        ]
    if problem.name == "branin":
        return [Goal("Branin: bo's median best <= 0.42", f"{median:.4f}", median <= 0.42)]
    if problem.name == "hartmann6":
        return [Goal("Hartmann-6: bo's median best <= -3.25", f"{median:.4f}", median <= -3.25)]
    random = final_bests(problem, runs.get("random", []))
    if not random:
        return []
    other = statistics.median(random)
    return [
        Goal(
            "training objective: bo's median best >= random's",
            f"bo {median:.4f}, random {other:.4f}",
            median >= other,
        )
    ]


# -- training objective -----------------------------------------------------------------------


def train_objective(args, tmp: Path):
    """`TrainObjective` on the demo data (`--tiny`: a 60-image demo subset, 1 epoch)."""
    from keras_recipes.recipes import get_recipe
    from keras_recipes.tuning.bo.objective import TrainObjective, quiet_retracing_warnings

    quiet_retracing_warnings()
    data = "demo"
    if args.tiny:
        from keras_recipes.data import make_demo

        data = str(make_demo(tmp / "demo", n_per_class=30, size=36))
    recipe = get_recipe(args.recipe).replace(training={"epochs": args.epochs})
    objective = TrainObjective(recipe, data, image_size=args.image_size, width=args.width, seed=0)
    objective.bundle()  # decode once, before any timing
    return objective


# -- suggestion time --------------------------------------------------------------------------


def suggestion_seconds(observed: int, repeats: int) -> dict[str, tuple[float, float]]:
    """Seconds per suggestion with `observed` finished trials in the 2-D training space, for bo
    and keras-tuner's BayesianOptimizationOracle: (fastest, median) of `repeats`."""
    import keras_tuner

    from keras_recipes import _compat
    from keras_recipes.tuning.bo.oracle import BayesOptOracle
    from keras_recipes.tuning.bo.space import TRAIN_BOUNDS

    objective = keras_tuner.Objective("score", "max")
    hps = keras_tuner.HyperParameters()
    for name, (low, high) in TRAIN_BOUNDS.items():
        hps.Float(name, low, high)
    oracles = {
        "bo": BayesOptOracle(objective, TRAIN_BOUNDS, init_points=3, n_iter=observed + repeats),
        "kt-bo": keras_tuner.oracles.BayesianOptimizationOracle(
            objective, max_trials=observed + repeats + 1, hyperparameters=hps, seed=1
        ),
    }
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, oracle in oracles.items():
            _compat.set_project_dir(oracle, tmp, name)
            oracle.verbose = 0  # keras-tuner's per-trial printout
            for _ in range(observed):
                trial = oracle.create_trial("bench")
                lr, wd = (trial.hyperparameters.values[n] for n in TRAIN_BOUNDS)
                # A smooth stand-in for validation accuracy: Branin over the box, squashed.
                value = -branin(7.5 + 3.75 * (lr + 3), 7.5 + 3.75 * (wd + 3)) / 300
                oracle.update_trial(trial.trial_id, {"score": value})
                trial.status = "COMPLETED"
                oracle.end_trial(trial)
            times = []
            for i in range(repeats):
                start = time.perf_counter()
                oracle.populate_space(f"timing-{i}")
                times.append(time.perf_counter() - start)
            out[name] = (min(times), statistics.median(times))
    return out


# -- main -------------------------------------------------------------------------------------


def _choices(valid: Sequence[str]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        names = [n.strip() for n in text.split(",") if n.strip()]
        bad = [n for n in names if n not in valid]
        if bad or not names:
            raise argparse.ArgumentTypeError(
                f"unknown name {', '.join(bad) or repr(text)}; valid: {', '.join(valid)}"
            )
        return names

    return parse


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1; got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = parser_from_doc(__doc__)
    parser.add_argument(
        "--functions",
        type=_choices(FUNCTIONS),
        default=list(FUNCTIONS),
        help=f"comma-separated, of {', '.join(FUNCTIONS)} (default: all)",
    )
    parser.add_argument(
        "--methods",
        type=_choices(METHODS),
        default=list(METHODS),
        help=f"comma-separated, of {', '.join(METHODS)} (default: all; the "
        "training objective runs --train-methods)",
    )
    parser.add_argument(
        "--train-methods",
        type=_choices(METHODS),
        default=["bo", "random"],
        help="methods on the training objective (default: bo,random)",
    )
    parser.add_argument(
        "--seeds",
        type=_positive,
        default=10,
        help="seeds 0..N-1 per analytic function (default: 10)",
    )
    parser.add_argument(
        "--train-seeds",
        type=_positive,
        default=3,
        help="seeds on the training objective (default: 3)",
    )
    parser.add_argument(
        "--train-trials",
        type=_positive,
        default=20,
        help="trials per search on the training objective (default: 20)",
    )
    parser.add_argument("--epochs", type=_positive, default=2, help="epochs per training trial")
    parser.add_argument("--image-size", type=_positive, default=32, help="crop size (default 32)")
    parser.add_argument("--width", type=float, default=0.125, help="AlexNet width (default 0.125)")
    parser.add_argument("--recipe", default="default", help="tuned recipe (default: default)")
    parser.add_argument(
        "--suggest-points",
        type=_positive,
        default=30,
        help="observed points when timing a suggestion (default: 30)",
    )
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="a smoke run: 2 seeds, a few evaluations per function, the "
        "training objective on 60 demo images for 1 epoch and 1 seed",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from keras_recipes.recipes import list_recipes

    if args.recipe not in list_recipes():
        print(
            f"search.py: error: unknown recipe {args.recipe!r}; valid: {', '.join(list_recipes())}",
            file=sys.stderr,
        )
        return 2
    if args.tiny:
        args.seeds, args.train_seeds, args.epochs = min(args.seeds, 2), 1, 1
        args.suggest_points = min(args.suggest_points, 6)
    all_problems = problems(args.train_trials)
    print(
        f"# Search quality: best value against evaluations, median over seeds"
        f"{' (--tiny: not the goals budgets)' if args.tiny else ''}\n"
    )
    analytic = [f for f in args.functions if f != "train"]
    used = (args.methods if analytic else []) + (
        args.train_methods if "train" in args.functions else []
    )
    for method in dict.fromkeys(used):
        print(f"- {method}: {METHOD_NOTES[method]}")
    all_goals: list[Goal] = []
    overhead_lines: list[str] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for name in args.functions:
            problem = all_problems[name]
            if args.tiny:
                problem = tiny_problem(problem)
            is_train = name == "train"
            methods = args.train_methods if is_train else args.methods
            seeds = args.train_seeds if is_train else args.seeds
            objective = train_objective(args, tmp) if is_train else _analytic(problem)
            runs: dict[str, list[SearchRun]] = {m: [] for m in methods}
            notes: dict[str, str] = {}
            start = time.perf_counter()
            for seed in range(seeds):
                for method in methods:
                    oracle, note = make_oracle(method, problem, seed)
                    if oracle is None:
                        notes[method] = f"not run: {note}"
                        continue
                    workdir = tmp / name / method / str(seed)
                    run = run_one(oracle, problem, objective, workdir, is_train)
                    runs[method].append(run)
                    # Progress on stderr, so stdout stays the tables.
                    print(
                        f"{name} {method} seed {seed}: best "
                        f"{fmt(run.best_so_far(problem.minimise)[-1])} in "
                        f"{run.wall_seconds:.1f} s",
                        file=sys.stderr,
                        flush=True,
                    )
            spent = time.perf_counter() - start
            print(
                f"\n## {problem.title}: {problem.evaluations} evaluations, "
                f"median over {seeds} seeds ({spent:.0f} s)\n"
            )
            print(curve_table(problem, runs, notes))
            if runs.get("bo"):
                bests = ", ".join(fmt(v) for v in final_bests(problem, runs["bo"]))
                print(f"\nbo's final best per seed: {bests}")
            all_goals += goals(problem, runs)
            if is_train:
                overhead_lines = _overhead_table(runs)
                all_goals += _overhead_goal(runs)
    timing = suggestion_seconds(args.suggest_points, 3 if args.tiny else 7)
    print(f"\n## Seconds per suggestion, {args.suggest_points} observed points in 2-D\n")
    print("| oracle | fastest s | median s |\n|---|---|---|")
    for name, (fastest, median) in timing.items():
        print(f"| {name} | {fastest:.3f} | {median:.3f} |")
    if overhead_lines:
        print("\n## Tuner overhead per trial on the training objective\n")
        print("\n".join(overhead_lines))
    print("\n## Goals\n\n| goal | measured | met |\n|---|---|---|")
    for goal in all_goals:
        met = "not judged (--tiny)" if args.tiny else ("yes" if goal.met else "no")
        print(f"| {goal.text} | {goal.measured} | {met} |")
    return 0


def _analytic(problem: Problem):
    def objective(params, **_):
        return problem.evaluate(params)

    return objective


def _overhead(method_runs: list[SearchRun]) -> dict[str, float]:
    """Per trial: objective and overhead (everything else in the search), wall and CPU."""
    trials = sum(len(r.values) for r in method_runs)
    objective = sum(r.objective_seconds for r in method_runs)
    objective_cpu = sum(r.objective_cpu_seconds for r in method_runs)
    return {
        "trials": trials,
        "objective": objective / trials,
        "overhead": (sum(r.wall_seconds for r in method_runs) - objective) / trials,
        "objective_cpu": objective_cpu / trials,
        "overhead_cpu": (sum(r.cpu_seconds for r in method_runs) - objective_cpu) / trials,
    }


def _overhead_table(runs: dict[str, list[SearchRun]]) -> list[str]:
    lines = [
        "| method | trials | objective s/trial | overhead ms/trial | share | "
        "CPU: objective s/trial | overhead ms/trial | share |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for method, method_runs in runs.items():
        if not any(r.values for r in method_runs):
            continue
        o = _overhead(method_runs)
        lines.append(
            f"| {method} | {o['trials']} | {o['objective']:.2f} | {o['overhead'] * 1e3:.0f} | "
            f"{o['overhead'] / o['objective']:.2%} | {o['objective_cpu']:.2f} | "
            f"{o['overhead_cpu'] * 1e3:.0f} | {o['overhead_cpu'] / o['objective_cpu']:.2%} |"
        )
    return lines


def _overhead_goal(runs: dict[str, list[SearchRun]]) -> list[Goal]:
    bo = runs.get("bo", [])
    if not any(r.values for r in bo):
        return []
    o = _overhead(bo)
    share = o["overhead"] / o["objective"]
    return [
        Goal(
            "tuner overhead per trial <= 1% of trial time (bo, training objective, wall)",
            f"{share:.2%} ({o['overhead'] * 1e3:.0f} ms of {o['objective']:.2f} s; CPU time "
            f"{o['overhead_cpu'] / o['objective_cpu']:.2%})",
            share <= 0.01,
        )
    ]


if __name__ == "__main__":
    sys.exit(main())
