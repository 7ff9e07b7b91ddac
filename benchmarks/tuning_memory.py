"""Memory over a tuning run: resident set size (VmRSS) after each of >= 20 small trials.

Each trial is a real `train()` of a tiny AlexNet (32 px, width 0.0625, 1 epoch) on a small
demo subset, run through the whole tuning engine (bayes_opt oracle, keras-tuner trials,
one data load, `keras.backend.clear_session()` between trials). Flat RSS after the first
few trials means nothing piles up per trial.

    python benchmarks/tuning_memory.py [--trials 22] [--per-class 50]
    python benchmarks/tuning_memory.py --keep-custom-gradients   # without the leak fix

`--keep-custom-gradients` skips the objective's removal of each trial's `CustomGradient-N`
entries from TF's gradient registry, to show the leak it fixes (TF 2.21 pins every traced
train step through them; `clear_session()` alone frees nothing).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from docparser import parser_from_doc

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def rss_mib() -> float:
    """VmRSS of this process in MiB, from /proc (psutil is not a dependency)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmRSS not found in /proc/self/status (Linux only)")


class Measured:
    """Wraps an objective; records the RSS after each trial (after the session is cleared)."""

    def __init__(self, objective):
        self.objective = objective
        self.rss: list[float] = []
        self.start = time.perf_counter()

    def __call__(self, params, **kwargs):
        outcome = self.objective(params, **kwargs)
        self.rss.append(rss_mib())
        n = len(self.rss)
        delta = self.rss[-1] - self.rss[0]
        print(
            f"trial {n:3d}  rss {self.rss[-1]:8.1f} MiB  (vs trial 1: {delta:+7.1f})  "
            f"{outcome.status:9s} val_acc {outcome.score:.3f}  "
            f"t={time.perf_counter() - self.start:6.1f}s",
            flush=True,
        )
        return outcome


def main(argv=None) -> int:
    parser = parser_from_doc(__doc__)
    parser.add_argument("--trials", type=int, default=22, help="trials (default: 22)")
    parser.add_argument("--per-class", type=int, default=50, help="demo images per class")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--width", type=float, default=0.0625)
    parser.add_argument(
        "--keep-custom-gradients",
        action="store_true",
        help="do not drop the trials' custom-gradient registrations (shows the leak)",
    )
    args = parser.parse_args(argv)

    from keras_recipes.data import make_demo
    from keras_recipes.recipes import get_recipe
    from keras_recipes.training.setup import TrainSetup
    from keras_recipes.tuning.bo.config import TuningConfig
    from keras_recipes.tuning.bo.objective import TrainObjective
    from keras_recipes.tuning.bo.search import run_search
    from keras_recipes.tuning.bo.space import TRAIN_BOUNDS, SearchSpace

    if args.keep_custom_gradients:
        import keras_recipes.tuning.bo.objective as objective_module

        objective_module._forget_custom_gradients = lambda before: None

    print(f"rss after imports: {rss_mib():.1f} MiB", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_demo(Path(tmp) / "demo", n_per_class=args.per_class, size=36)
        recipe = get_recipe("default").replace(training={"epochs": 1, "batch_size": 32})
        settings = {"image_size": args.image_size, "width": args.width}
        objective = TrainObjective(recipe, str(folder), seed=0, **settings)
        objective.bundle()
        print(f"rss after loading the data once: {rss_mib():.1f} MiB", flush=True)
        config = TuningConfig(
            space=SearchSpace.from_mapping(TRAIN_BOUNDS),
            objective="train",
            init_points=2,
            n_iter=args.trials - 2,
            setup=TrainSetup(recipe, str(folder), **settings),
        )
        measured = Measured(objective)
        run_search(config, Path(tmp) / "run", objective=measured, verbose=False)

    rss = measured.rss
    # The first trials load what every later one reuses: the growth is counted after them.
    start = 5 if len(rss) > 8 else 1
    tail = rss[start - 1 :]
    slope = (tail[-1] - tail[0]) / max(1, len(tail) - 1)
    print(
        f"\n{len(rss)} trials, data loaded {objective.loads} time(s): RSS first {rss[0]:.1f}, "
        f"last {rss[-1]:.1f}, max {max(rss):.1f} MiB; growth from trial {start} to {len(rss)}: "
        f"{tail[-1] - tail[0]:+.1f} MiB ({slope:+.2f} MiB/trial)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
