"""Multi-fidelity tuning: what early stopping of trials buys against full-budget Bayesian
optimisation, on the demo data.

Runs `train-with-bo` (its CLI entry, in this process) four ways on the same space, seed,
model and data, and reads each run directory:

- `--search bo`: every trial trains for the full epochs (the reference);
- `--search bohb`: Hyperband's brackets with bo's GP, max_epochs = the same epochs;
- `--search hyperband`: keras-tuner's Hyperband, max_epochs = the same epochs;
- `--search bo --prune median`: bo whose unpromising trials stop early (one row per
  warm-up/start-up setting given with --prune-settings, each optionally with its own
  --n-iter: pruned trials cost fewer epochs, so the same epochs buy more trials).

For each it reports the total epochs trained, the best validation accuracy (the tuner's
pick: best.json) and the epochs spent until a trial first reached the target, full-budget
bo's best minus --gap (trials taken in order, epochs counted as they ran), and the best
validation accuracy any trial reached within the first third of full-budget bo's epochs.
Goal: pruned bo reaches the target within 1/3 of full-budget bo's epochs. With several
--seeds (run directories in out/seed-N), a last table gives each search's epochs to
target and best per seed and their medians. Goal: bohb's median epochs to target <= 1/4
of full-budget bo's, and its best >= the target in >= 4 of 5 seeds.

A trial that continues its parent's run (a promoted configuration under `--rung-schedule
final`: `continued_from` in its summary.json) counts only the epochs it trained: its
history's first rows are its parent's, counted with the parent. --bo-best takes full-budget
bo's best of each seed from an earlier run instead of running bo again (its 180 epochs per
seed); bo's own row then shows no epochs to target.

    python benchmarks/fidelity.py                 # 32 px, width 0.125, 9 epochs, 20 trials
    python benchmarks/fidelity.py --seeds 0 1 2 3 4 --searches bo bohb
    python benchmarks/fidelity.py --prune-settings 2:5 1:3 1:3:37
    python benchmarks/fidelity.py --seeds 0 1 2 3 4 --searches bohb \
        --bo-best 0.96 0.92 0.9675 0.9475 0.94   # bo's recorded bests, bo not run again
    python benchmarks/fidelity.py --seeds 0 1 2 3 4 --searches bohb --min-epochs 3 \
        --hyperband-iterations 2   # the same folders: finished runs get a second iteration
    python benchmarks/fidelity.py --tiny          # seconds: a tiny model and data set
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
from datetime import datetime
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd
from docparser import parser_from_doc

#: --tiny: a demo subset and a model small enough for a test to run all searches in seconds.
TINY = {
    "per_class": 30,
    "image_size": 32,
    "width": 0.0625,
    "batch_size": 16,
    "epochs": 2,
    "init_points": 1,
    "n_iter": 1,
    "prune_settings": ["0:1"],
}


#: The searches compared; "median" is `bo --prune median`, one run per --prune-settings.
SEARCHES = ("bo", "bohb", "hyperband", "median")


def parse_setting(text: str) -> tuple[int, int, int | None]:
    """`"W:S"` or `"W:S:N"` -> (warm-up epochs, start-up trials, n_iter or None).

    Example:

    >>> parse_setting("2:5"), parse_setting("1:3:37")
    ((2, 5, None), (1, 3, 37))
    """
    try:
        numbers = [int(part) for part in text.split(":")]
        if len(numbers) not in (2, 3):
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid prune setting {text!r}: expected WARMUP_EPOCHS:STARTUP_TRIALS[:N_ITER], "
            "e.g. 2:5 or 1:3:37"
        ) from None
    return numbers[0], numbers[1], numbers[2] if len(numbers) == 3 else None


def build_parser() -> argparse.ArgumentParser:
    parser = parser_from_doc(__doc__)
    parser.add_argument("--epochs", type=int, default=9, help="epochs per trial (default: 9)")
    parser.add_argument("--image-size", type=int, default=32, help="crop size (default: 32)")
    parser.add_argument("--width", type=float, default=0.125, help="AlexNet width (0.125)")
    parser.add_argument("--batch-size", type=int, default=64, help="batch size (default: 64)")
    parser.add_argument("--init-points", type=int, default=3, help="bo random points (3)")
    parser.add_argument("--n-iter", type=int, default=17, help="bo guided points (17)")
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[0],
        help="one set of runs per seed, each in out/seed-N when more than one (default: 0)",
    )
    parser.add_argument(
        "--searches",
        nargs="+",
        choices=SEARCHES,
        default=list(SEARCHES),
        help=f"the searches to run, bo always (default: {' '.join(SEARCHES)})",
    )
    parser.add_argument(
        "--gap",
        type=float,
        default=0.01,
        help="target = full-budget bo's best minus this (default: 0.01, 1 point)",
    )
    parser.add_argument(
        "--bo-best",
        type=float,
        nargs="+",
        default=None,
        metavar="ACC",
        help="full-budget bo's best validation accuracy, one per --seeds, from an earlier run "
        "with the same settings: bo is not run, the targets are these minus --gap",
    )
    parser.add_argument(
        "--prune-settings",
        nargs="+",
        type=parse_setting,
        default=None,
        metavar="W:S",
        help="--prune median runs, one per WARMUP_EPOCHS:STARTUP_TRIALS[:N_ITER] (N_ITER: that "
        "run's guided trials; default --n-iter) (default: 2:5, the package's defaults)",
    )
    parser.add_argument(
        "--min-epochs",
        type=int,
        default=1,
        metavar="N",
        help="bohb's and hyperband's --min-epochs (their folders and labels say so when not 1) "
        "(default: 1)",
    )
    parser.add_argument(
        "--hyperband-iterations",
        type=int,
        default=1,
        metavar="N",
        help="bohb's and hyperband's --hyperband-iterations (their labels say so when not 1; "
        "the folder stays, so a finished run is extended, not run again) (default: 1)",
    )
    parser.add_argument(
        "--out", default=None, help="folder for the run directories (default: runs/fidelity-...)"
    )
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="a 60-image demo subset, 32 px, width 0.0625, 2 epochs, 2 trials (seconds)",
    )
    return parser


def run_tuner(argv: list[str], run_dir: Path) -> float:
    """`train-with-bo argv --out run_dir`, its table to run_dir.log; returns wall seconds.

    A run directory already there is resumed with the same flags (nothing to do when it
    finished), so a killed benchmark continues and new settings reuse the runs they share
    (the wall time of a run cut off and resumed counts only its second part; that of a
    finished run extended by more iterations, both).
    """
    from keras_recipes.cli.train_with_bo import main as tune

    run_dir.parent.mkdir(parents=True, exist_ok=True)
    log, wall_file = run_dir.with_suffix(".log"), run_dir.with_suffix(".wall")
    previous = float(wall_file.read_text()) if wall_file.is_file() else 0.0
    resume = ["--resume", str(run_dir)] if (run_dir / "tuning.json").is_file() else []
    before = trial_count(run_dir)
    start = time.perf_counter()
    with log.open("a") as stream, contextlib.redirect_stdout(stream):
        code = tune([*argv, "--out", str(run_dir), *resume])
    if code != 0:
        raise SystemExit(f"train-with-bo {' '.join(argv)} exited {code}; see {log}")
    if previous and trial_count(run_dir) == before:  # finished: the resume only checked flags
        return previous
    wall = previous + time.perf_counter() - start
    wall_file.write_text(f"{wall:.1f}\n")
    return wall


def trial_count(run_dir: Path) -> int:
    """Rows of the run's trials.csv (0 before its first trial)."""
    path = run_dir / "trials.csv"
    return len(pd.read_csv(path)) if path.is_file() else 0


def read_run(run_dir: Path) -> dict:
    """Per-trial epoch counts and validation curves, in trial order, and the tuner's best."""
    trials = pd.read_csv(run_dir / "trials.csv").sort_values("trial")
    curves, whole = [], []
    for number in trials["trial"]:
        folder = run_dir / "trials" / f"{int(number):03d}"
        history = pd.read_csv(folder / "history.csv")
        whole.append(history["val_accuracy"].to_numpy(dtype=float))
        curves.append(whole[-1][continued_epochs(folder) :])
    best_file = run_dir / "best.json"  # absent when no trial completed (all pruned)
    best = json.loads(best_file.read_text())["best_val_accuracy"] if best_file.is_file() else None
    return {
        "trials": len(trials),
        "pruned": int((trials["status"] == "pruned").sum()),
        "epochs": int(sum(len(c) for c in curves)),
        "best": float("nan") if best is None else float(best),
        "curves": curves,
        # Each trial's whole run, its parent's epochs included: what the same trials cost
        # trained from scratch (a continued run is the run from scratch, to the bit).
        "whole_curves": whole,
        "continued": sum(len(w) > len(c) for w, c in zip(whole, curves, strict=True)),
    }


def continued_epochs(trial_dir: Path) -> int:
    """Epochs of a trial's history that its parent trained (it continued the parent's run:
    `continued_from` in summary.json), 0 for a trial that trained from scratch."""
    summary = trial_dir / "summary.json"
    if not summary.is_file():
        return 0
    continued = json.loads(summary.read_text()).get("continued_from")
    return int(continued["epoch"]) if continued else 0


def recorded_bo(args, best: float) -> dict:
    """Full-budget bo's row from its recorded best (--bo-best): no curves, no run.

    Example:

    >>> args = argparse.Namespace(epochs=9, init_points=3, n_iter=17)
    >>> row = recorded_bo(args, 0.96)
    >>> row["epochs"], row["best"], row["recorded"]
    (180, 0.96, True)
    """
    trials = args.init_points + args.n_iter
    return {
        "label": "bo (full budget)",
        "trials": trials,
        "pruned": 0,
        "epochs": trials * args.epochs,
        "best": float(best),
        "curves": [],
        "wall": math.nan,
        "recorded": True,
    }


#: Keras logs accuracies as float32: 383/400 = 0.9575 reads back as 0.95749998, below the
#: float64 target 0.9675 - 0.01. A score within this of the target reaches it.
TOLERANCE = 1e-6


def reaches(score, target: float):
    """score >= target, up to float32 rounding (`TOLERANCE`).

    Example:

    >>> reaches(np.float32(383 / 400), 0.9675 - 0.01), reaches(0.9574, 0.9575)
    (True, False)
    """
    return score >= target - TOLERANCE


def epochs_to_target(curves: list[np.ndarray], target: float) -> int | None:
    """Epochs trained, trials in order, until some epoch's val accuracy reaches the target.

    Example:

    >>> epochs_to_target([np.array([0.5, 0.6]), np.array([0.7, 0.9])], 0.85)
    4
    """
    spent = 0
    for curve in curves:
        hits = np.flatnonzero(reaches(curve, target))
        if hits.size:
            return spent + int(hits[0]) + 1
        spent += len(curve)
    return None


def best_within(curves: list[np.ndarray], epochs: int) -> float:
    """Best val accuracy of any epoch among the first `epochs` trained (trials in order).

    Example:

    >>> best_within([np.array([0.5, 0.6]), np.array([0.7, 0.9])], 3)
    0.7
    """
    seen = np.concatenate(curves)[:epochs] if curves else np.array([])
    return float(np.nanmax(seen)) if seen.size else float("nan")


def build_runs(args, settings, data: str, seed: int) -> list[tuple[str, str, list[str]]]:
    """(label, folder name, train-with-bo argv) of each search of one seed, bo first."""
    common = [
        "--epochs", str(args.epochs),
        "--image-size", str(args.image_size),
        "--width", str(args.width),
        "--batch-size", str(args.batch_size),
        "--seed", str(seed),
        "--data", data,
    ]  # fmt: skip
    budget = ["--init-points", str(args.init_points), "--n-iter", str(args.n_iter)]
    runs = [("bo (full budget)", "bo", [*common, *budget, "--search", "bo"])]
    least, suffix = [], ""
    if args.min_epochs != 1:
        least, suffix = ["--min-epochs", str(args.min_epochs)], f"-min{args.min_epochs}"
    if args.hyperband_iterations != 1:
        least += ["--hyperband-iterations", str(args.hyperband_iterations)]
    for search in ("bohb", "hyperband"):
        if search in args.searches:
            label = f"{search} {' '.join(least)}".strip()
            runs.append((label, search + suffix, [*common, "--search", search, *least]))
    for warmup, startup, n_iter in settings if "median" in args.searches else ():
        label = f"bo --prune median (warm-up {warmup}, start-up {startup}"
        name = f"bo-median-w{warmup}-s{startup}"
        if n_iter is not None:
            label += f", {args.init_points} + {n_iter} trials"
            name += f"-n{n_iter}"
        runs.append(
            (
                label + ")",
                name,
                [
                    *common,
                    "--init-points", str(args.init_points),
                    "--n-iter", str(args.n_iter if n_iter is None else n_iter),
                    "--search", "bo",
                    "--prune", "median",
                    "--prune-warmup-epochs", str(warmup),
                    "--prune-startup-trials", str(startup),
                ],
            )
        )  # fmt: skip
    return runs


def run_seed(runs, out: Path, gap: float, bo: dict | None = None) -> list[dict]:
    """Runs (or resumes) one seed's searches into `out`; their stats, bo's first (`bo`:
    its recorded row, and bo is not run)."""
    results = [] if bo is None else [bo]
    for label, name, argv_run in runs[0 if bo is None else 1 :]:
        wall = run_tuner(argv_run, out / name)
        stats = read_run(out / name)
        stats.update(label=label, wall=wall)
        results.append(stats)
        print(
            f"  {label}: {stats['trials']} trials, {stats['epochs']} epochs, best "
            f"{stats['best']:.4f}, {wall:.0f} s",
            flush=True,
        )
    target = results[0]["best"] - gap
    for stats in results:
        stats["to_target"] = epochs_to_target(stats["curves"], target)
        stats["to_target_scratch"] = epochs_to_target(stats.get("whole_curves", []), target)
    return results


def print_seed_table(results: list[dict], gap: float) -> None:
    """The table of one seed, and the goal of each pruned run (reach the target in 1/3)."""
    reference = results[0]
    target = reference["best"] - gap
    print(
        f"\ntarget: val accuracy >= {target:.4f} (full-budget bo's best {reference['best']:.4f} "
        f"- {gap:g})\n"
    )
    allowed = reference["epochs"] / 3
    print(
        "| search | trials | pruned | total epochs | best val acc | epochs to target | "
        f"best in first {allowed:.0f} epochs | wall s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for stats in results:
        reached = "not reached" if stats["to_target"] is None else str(stats["to_target"])
        early = best_within(stats["curves"], int(allowed))
        if stats.get("recorded"):
            reached = "(recorded)"
        print(
            f"| {stats['label']} | {stats['trials']} | {stats['pruned']} | {stats['epochs']} | "
            f"{stats['best']:.4f} | {reached} | {early:.4f} | {stats['wall']:.0f} |"
        )
    print()
    for stats in results:
        if stats.get("continued"):
            scratch = stats["to_target_scratch"]
            print(
                f"{stats['label']}: {stats['continued']} trials continued their parent's run; "
                f"from scratch the same trials would take "
                f"{sum(len(c) for c in stats['whole_curves'])} epochs, to target "
                f"{'never' if scratch is None else scratch}"
            )
    for stats in results:
        if not stats["label"].startswith("bo --prune"):
            continue
        met = (
            reaches(stats["best"], target)
            and stats["to_target"] is not None
            and stats["to_target"] <= allowed
        )
        spent = "never" if stats["to_target"] is None else f"after {stats['to_target']} epochs"
        print(
            f"goal ({stats['label']}): within {gap:g} of {reference['best']:.4f} (best "
            f"{stats['best']:.4f}), {spent}, <= 1/3 of {reference['epochs']} = {allowed:.0f}: "
            f"{'met' if met else 'NOT met'}"
        )


def seeds_summary(per_seed: dict[int, list[dict]], gap: float) -> pd.DataFrame:
    """One row per (search, seed): epochs, epochs to target (NaN: never), best, reached.

    Example:

    >>> row = {"label": "bo (full budget)", "epochs": 4, "to_target": 3, "best": 0.9}
    >>> seeds_summary({0: [row]}, 0.01)[["seed", "to_target", "reached"]].values.tolist()
    [[0, 3.0, True]]
    """
    rows = []
    for seed, results in per_seed.items():
        target = results[0]["best"] - gap
        for stats in results:
            rows.append(
                {
                    "search": stats["label"],
                    "seed": seed,
                    "epochs": stats["epochs"],
                    "to_target": math.nan
                    if stats["to_target"] is None or stats.get("recorded")
                    else float(stats["to_target"]),
                    "best": stats["best"],
                    "reached": bool(reaches(stats["best"], target)),
                    "recorded": bool(stats.get("recorded", False)),
                }
            )
    return pd.DataFrame(rows)


def print_seeds_table(summary: pd.DataFrame, gap: float) -> None:
    """Per search: epochs to target / best per seed and their medians; bohb's goal."""
    seeds = sorted(summary["seed"].unique())
    bo_recorded = bool(summary.get("recorded", pd.Series([False])).any())
    print(f"\n{len(seeds)} seeds: epochs to target (full-budget bo's best - {gap:g}) / best\n")
    print("| search | " + " | ".join(f"seed {s}" for s in seeds) + " | median |")
    print("|---" * (len(seeds) + 2) + "|")
    for search, rows in summary.groupby("search", sort=False):
        cells = [_cell(r["to_target"], r["best"]) for _, r in rows.iterrows()]
        # "not reached" counts as more epochs than any reached: the median is the middle.
        middle = rows["to_target"].fillna(math.inf).median()
        line = f"| {search} | {' | '.join(cells)} | {_cell(middle, rows['best'].median())} |"
        if search == "bo (full budget)" and bo_recorded:  # --bo-best: no curves to count
            line = line.replace("not reached", "(recorded)")
        print(line)
    bo = summary[summary["search"] == "bo (full budget)"]
    bohb = summary[summary["search"].str.split().str[0] == "bohb"]  # with its --min-epochs
    if len(bohb):
        allowed = bo["epochs"].median() / 4
        middle = bohb["to_target"].fillna(math.inf).median()
        reached, total = int(bohb["reached"].sum()), len(bohb)
        print(
            f"\ngoal (bohb): median epochs to target {_cell(middle, None)} <= 1/4 of "
            f"full-budget bo's median {bo['epochs'].median():.0f} = {allowed:.0f}: "
            f"{'met' if middle <= allowed else 'NOT met'}; final best >= target in "
            f"{reached} of {total} seeds (>= 4 of 5): "
            f"{'met' if total >= 5 and reached >= 4 else 'NOT met'}"
        )


def _cell(to_target: float, best: float | None) -> str:
    epochs = "not reached" if not math.isfinite(to_target) else f"{to_target:.0f}"
    return epochs if best is None else f"{epochs} / {best:.4f}"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = args.prune_settings or [(2, 5, None)]
    data = "demo"
    if args.tiny:
        from keras_recipes.data import make_demo

        args.image_size, args.width, args.batch_size = (
            TINY["image_size"],
            TINY["width"],
            TINY["batch_size"],
        )
        args.epochs, args.init_points, args.n_iter = (
            TINY["epochs"],
            TINY["init_points"],
            TINY["n_iter"],
        )
        settings = args.prune_settings or [parse_setting(s) for s in TINY["prune_settings"]]
    out = Path(args.out or f"runs/fidelity-{datetime.now():%Y%m%d-%H%M%S}")
    if args.tiny:
        # Inside --out, so running again into the same folder resumes with the same --data.
        data = str(make_demo(out / "demo-tiny", n_per_class=TINY["per_class"]))
    if args.bo_best is not None and len(args.bo_best) != len(args.seeds):
        raise SystemExit(f"--bo-best needs one value per seed ({len(args.seeds)}).")
    per_seed = {}
    for index, seed in enumerate(args.seeds):
        folder = out if len(args.seeds) == 1 else out / f"seed-{seed}"
        print(
            f"demo data {data}, {args.image_size} px, width {args.width:g}, batch "
            f"{args.batch_size}, {args.epochs} epochs per trial, bo {args.init_points} + "
            f"{args.n_iter} trials, seed {seed}; run directories in {folder}",
            flush=True,
        )
        bo = None if args.bo_best is None else recorded_bo(args, args.bo_best[index])
        per_seed[seed] = run_seed(build_runs(args, settings, data, seed), folder, args.gap, bo)
        print_seed_table(per_seed[seed], args.gap)
    summary = seeds_summary(per_seed, args.gap)
    summary.to_csv(out / "seeds.csv", index=False)
    print_seeds_table(summary, args.gap)
    return 0


if __name__ == "__main__":
    sys.exit(main())
