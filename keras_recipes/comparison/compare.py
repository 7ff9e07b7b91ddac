"""`compare_recipes`: train several recipes for several seeds on the same data, through
`train()`, and summarise which wins.

Output folder:

    comparison.json           the shared settings: the training set-up but recipe and seed
                              (`TrainSetup`), TTA and the split seed
    comparison.csv            one row per (recipe, seed): best val accuracy, best epoch,
                              test accuracy, seconds, images/s, status, run_dir
    comparison_summary.csv    one row per recipe: mean, std, min, max over the seeds,
                              sorted by mean best validation accuracy (the printed table)
    comparison.png            validation accuracy per epoch: mean over seeds, min-max band
    <recipe>/seed<k>/         the train() run directory of each pair (summary.json there
                              marks the pair finished)
    tensorboard/<recipe>/seed<k>/  each pair's TensorBoard logs (train/, validation/)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from keras_recipes import atomic
from keras_recipes.comparison.plot import plot_validation_curves
from keras_recipes.comparison.table import summarize
from keras_recipes.errors import ConfigError
from keras_recipes.recipes import Recipe, get_recipe
from keras_recipes.seeds import check_seed
from keras_recipes.training.result import HEADLINE_KEYS
from keras_recipes.training.setup import TrainSetup

SETTINGS_NAME = "comparison.json"
RUNS_CSV = "comparison.csv"
SUMMARY_CSV = "comparison_summary.csv"
PLOT_NAME = "comparison.png"
#: A pair whose summary.json has one of these statuses is finished; "interrupted" is not.
FINISHED = ("completed", "early_stopped", "diverged")
#: Per-run columns taken from summary.json (those present), in this order.
SUMMARY_KEYS = (*HEADLINE_KEYS, "wall_seconds", "train_images_per_second")


@dataclass
class Comparison:
    """What `compare_recipes` returns.

    Attributes:
        out: Path. The output folder.
        runs: pandas.DataFrame. One row per (recipe, seed), as in `comparison.csv`.
        histories: pandas.DataFrame. Every run's history, with `recipe` and `seed` columns.
        table: pandas.DataFrame. One row per recipe, sorted by mean best validation
            accuracy (best first), as in `comparison_summary.csv`.
        trained: list of (recipe, seed). The pairs this call trained; the others were
            finished already and were read back.
        plot: Path. `comparison.png`.
    """

    out: Path
    runs: pd.DataFrame
    histories: pd.DataFrame
    table: pd.DataFrame
    trained: list[tuple[str, int]] = field(default_factory=list)
    plot: Path | None = None


def compare_recipes(
    recipes: Sequence[Recipe | str],
    data: Any = "demo",
    *,
    seeds: int | Sequence[int] = 3,
    out: str | Path,
    image_size: int = 227,
    width: float = 1.0,
    tta: bool = False,
    stream: TextIO | None = None,
    verbose: int | str = 0,
    train_options: dict[str, Any] | None = None,
) -> Comparison:
    """Trains every recipe with every seed (skipping finished pairs) and writes the summary.

    The data are decoded and split once; every run sees the same training, validation and
    test images. A seed seeds the weights, the shuffling, the augmentation and the dropout
    of a run; the split is drawn from the first seed. Runs go seed by seed (every recipe
    with the first seed, then the second, ...), so a comparison stopped early has every
    recipe at the same number of seeds.

    Rerunning with the same `out` trains only what is missing: a pair whose run directory
    holds a `summary.json` of a finished run is read back; one killed mid-way continues
    from its last completed epoch (`train(resume=True)`), ending with the history an
    uninterrupted run has. Recipes and seeds may be added; other settings may not.

    Example:

    >>> import tempfile, numpy as np
    >>> from keras_recipes.recipes import get_recipe
    >>> x = np.random.default_rng(0).integers(0, 255, (48, 40, 40, 3), dtype=np.uint8)
    >>> tiny = [get_recipe(n).with_overrides(["training.epochs=1", "training.batch_size=8"])
    ...         for n in ("relu", "elu")]
    >>> result = compare_recipes(tiny, (x, np.arange(48) % 2), seeds=1, out=tempfile.mkdtemp(),
    ...                          image_size=32, width=0.0625)
    >>> sorted(result.runs["recipe"]), result.trained
    (['elu', 'relu'], [('relu', 0), ('elu', 0)])

    Args:
        recipes: the recipes (Recipe, registered name or `.toml` path); names must differ.
        data: str, (x, y) or DataBundle. What `train()` accepts; loaded once.
        seeds: int or sequence of int. `n` means seeds 0 .. n-1.
        out: path. The output folder (created; reused to resume).
        image_size: int. Crop size fed to the model.
        width: float. AlexNet width multiplier.
        tta: bool. Also report 10-crop test accuracy (`test_accuracy_tta`) for every run.
            Off by default: every recipe is then evaluated, and timed, the same way.
        stream: text stream or None. Progress lines (e.g. sys.stdout).
        verbose: Keras `fit` verbosity of each run.
        train_options: dict or None. More `train()` keyword arguments for every run, e.g.
            `{"distribute": "mirrored", "mixed_precision": True}`.

    Returns:
        Comparison.

    Raises:
        ConfigError: an unknown recipe (before anything trains, with the closest name),
            two recipes with one name, no seeds, or an `out` that holds a comparison made
            with other settings.
    """
    from keras_recipes.models import check_image_size

    resolved = resolve_recipes(recipes)
    seed_list = _seed_list(seeds)
    check_image_size(image_size)
    out = Path(out)
    setup = TrainSetup(
        resolved[0],
        data,
        image_size=image_size,
        width=width,
        seed=seed_list[0],
        **(train_options or {}),
    )
    settings = _shared_settings(setup, tta)
    pairs = [(recipe, seed) for seed in seed_list for recipe in resolved]
    _check_out(out, settings, pairs)  # every pair checked before anything trains
    todo = [(r, s) for r, s in pairs if pair_state(run_dir_of(out, r.name, s)) != "finished"]
    _say(
        stream,
        f"comparing {len(resolved)} recipes x {len(seed_list)} seeds = {len(pairs)} runs in "
        f"{out}: {len(pairs) - len(todo)} finished earlier, {len(todo)} to train",
    )
    trained = _train_pairs(setup, pairs, todo, out, settings, tta, verbose, stream)

    runs, histories = collect(out, [(r.name, s) for r, s in pairs])
    table = summarize(runs, order=[r.name for r in resolved])
    atomic.write_csv(out / RUNS_CSV, runs, index=False)
    atomic.write_csv(out / SUMMARY_CSV, table, index=False)
    plot = plot_validation_curves(histories, out / PLOT_NAME, order=list(table["recipe"]))
    return Comparison(out, runs, histories, table, trained, plot)


def resolve_recipes(recipes: Sequence[Recipe | str]) -> list[Recipe]:
    """Recipes from names, paths or Recipe objects, all checked before any training.

    Raises:
        ConfigError: none given, an unknown name (with the closest valid one), or two
            recipes with the same name (their run directories would collide).
    """
    if not recipes:
        raise ConfigError("Give at least one recipe to compare.")
    resolved = [get_recipe(r) if isinstance(r, str | Path) else r for r in recipes]
    seen: dict[str, int] = {}
    for recipe in resolved:
        if (
            not recipe.name
            or "/" in recipe.name
            or "\\" in recipe.name
            or recipe.name
            in (
                ".",
                "..",
            )
        ):
            raise ConfigError(
                f"Recipe name {recipe.name!r} cannot name a run directory; set `name` in "
                "its TOML file."
            )
        seen[recipe.name] = seen.get(recipe.name, 0) + 1
    twice = [name for name, count in seen.items() if count > 1]
    if twice:
        raise ConfigError(
            f"Recipe {twice[0]!r} is listed twice (recipes are told apart by name); list each "
            "once, or give a TOML copy another `name`."
        )
    return resolved


def run_dir_of(out: Path, recipe: str, seed: int) -> Path:
    """`out/<recipe>/seed<k>`."""
    return Path(out) / recipe / f"seed{seed}"


def pair_state(run_dir: Path) -> str:
    """ "finished" (summary.json of a finished run), "resumable" (a checkpoint to continue
    from) or "fresh" (nothing usable: train from the start)."""
    from keras_recipes.training.run_dir import backup_epoch

    summary = _read_summary(run_dir)
    if summary is not None and summary.get("status") in FINISHED:
        return "finished"
    if backup_epoch(run_dir) is not None:
        return "resumable"
    return "fresh"


def collect(out: Path, pairs: Sequence[tuple[str, int]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The finished runs of `pairs` read back from their run directories: (runs, histories)."""
    rows, histories = [], []
    for recipe, seed in pairs:
        run_dir = run_dir_of(out, recipe, seed)
        summary = _read_summary(run_dir)
        if summary is None or summary.get("status") not in FINISHED:
            continue
        row: dict[str, Any] = {"recipe": recipe, "seed": seed}
        row.update({k: summary[k] for k in SUMMARY_KEYS if k in summary})
        row["run_dir"] = str(run_dir)
        rows.append(row)
        history = pd.read_csv(run_dir / "history.csv")
        histories.append(history.assign(recipe=recipe, seed=seed))
    columns = ["recipe", "seed", *SUMMARY_KEYS, "run_dir"]
    runs = pd.DataFrame(rows)
    runs = runs[[c for c in columns if c in runs]] if len(runs) else pd.DataFrame(columns=columns)
    frame = pd.concat(histories, ignore_index=True) if histories else pd.DataFrame()
    return runs, frame


# -- one pair ----------------------------------------------------------------------------------


def _train_pairs(setup, pairs, todo, out, settings, tta, verbose, stream) -> list:
    """Trains the `todo` pairs in `pairs` order, on data loaded once; returns them."""
    from keras_recipes.training.run_dir import prepare_run_dir

    if todo:
        # Loaded (and so checked) before `out` is made: bad data leave no folder behind.
        setup = setup.replace(data=setup.load_data())
    prepare_run_dir(out)
    atomic.write_json(out / SETTINGS_NAME, settings, indent=2)
    trained = []
    for index, (recipe, seed) in enumerate(pairs, 1):
        if (recipe, seed) in todo:
            summary = _train_pair(setup.replace(recipe=recipe, seed=seed), out, tta, verbose)
            trained.append((recipe.name, seed))
            _say(stream, f"[{index}/{len(pairs)}] {recipe.name} seed {seed}: {_brief(summary)}")
    return trained


def _train_pair(setup: TrainSetup, out: Path, tta: bool, verbose) -> dict[str, Any]:
    # Looked up at call time, so a test can count the calls (monkeypatch fit.train).
    from keras_recipes.training import fit
    from keras_recipes.training.session import free_trial_memory

    name, seed = setup.recipe.name, setup.seed
    run_dir = run_dir_of(out, name, seed)
    resume = pair_state(run_dir) == "resumable"
    # One TensorBoard sub-run per pair: `tensorboard --logdir OUT/tensorboard` shows them all.
    tensorboard = Path(out) / "tensorboard" / name / f"seed{seed}"
    # A comparison trains many models in one process: free each one's graphs after it.
    with free_trial_memory():
        result = fit.train(
            **setup.train_kwargs(),
            run_dir=run_dir,
            tta=tta,
            verbose=verbose,
            resume=resume,
            tensorboard=tensorboard,
        )
        summary = dict(result.summary)
        del result
    return summary


def _brief(summary: dict[str, Any]) -> str:
    parts = [f"best_val_accuracy={summary['best_val_accuracy']:.4f}"]
    parts.append(f"best_epoch={summary['best_epoch']}")
    if "test_accuracy" in summary:
        parts.append(f"test_accuracy={summary['test_accuracy']:.4f}")
    parts.append(f"status={summary['status']}")
    parts.append(f"({summary['wall_seconds']:.0f} s)")
    return " ".join(parts)


# -- the output folder -------------------------------------------------------------------------


def _check_out(out: Path, settings: dict[str, Any], pairs) -> None:
    """Raises a ConfigError when `out` holds another comparison or cannot be made."""
    from keras_recipes.training.run_dir import check_run_dir

    check_run_dir(out)
    path = out / SETTINGS_NAME
    if path.is_file():
        try:
            saved = json.loads(path.read_text())
        except ValueError:
            saved = None
        if saved != settings:
            changed = [
                f"{key} {saved.get(key)!r} -> {settings[key]!r}"
                for key in settings
                if isinstance(saved, dict) and saved.get(key) != settings[key]
            ]
            raise ConfigError(
                f"{out} holds a comparison made with other settings "
                f"({'; '.join(changed) or 'unreadable ' + SETTINGS_NAME}); every run of a "
                "comparison must see the same data and model size. Use another --out."
            )
    for recipe, seed in pairs:
        toml = run_dir_of(out, recipe.name, seed) / "recipe.toml"
        if toml.is_file() and Recipe.from_toml(toml).to_dict() != recipe.to_dict():
            raise ConfigError(
                f"{toml.parent} was trained with another version of recipe {recipe.name!r} "
                "(different fields, e.g. --epochs or --set). Use another --out, or the "
                "settings of the first run."
            )


def _shared_settings(setup: TrainSetup, tta: bool) -> dict[str, Any]:
    """What every pair of a comparison shares, as `comparison.json` keeps it: the set-up but
    its recipe and seed (the demo data named by their fingerprint), TTA and the split seed."""
    shared = {k: v for k, v in setup.to_json().items() if k not in ("recipe", "seed")}
    shared["data"] = _describe_data(setup.data)
    return {**shared, "tta": bool(tta), "split_seed": setup.seed}


def _describe_data(data: Any) -> Any:
    from keras_recipes.data import DataBundle

    if isinstance(data, DataBundle):
        return data.describe()["source"]
    if isinstance(data, str | Path) and str(data) == "demo":
        # The demo set is generated: its manifest's fingerprint tells a regenerated (changed)
        # set from the one the finished runs saw.
        from keras_recipes.data.demo import MANIFEST_NAME, make_demo

        manifest = json.loads((make_demo() / MANIFEST_NAME).read_text())
        return {
            "source": "demo",
            "version": manifest.get("version"),
            "fingerprint": manifest.get("fingerprint"),
        }
    if isinstance(data, str | Path):
        return str(data)
    return "arrays"


def _read_summary(run_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):  # absent, or cut short by a kill while being written
        return None


def _seed_list(seeds: int | Sequence[int]) -> list[int]:
    if isinstance(seeds, bool):
        raise ConfigError(f"seeds must be a count or a list of integers; got {seeds!r}.")
    if isinstance(seeds, int):
        if seeds < 1:
            raise ConfigError(f"--seeds must be a positive integer; got {seeds}.")
        return list(range(seeds))
    seed_list = [check_seed(s, name="seeds") for s in seeds]
    if not seed_list or len(set(seed_list)) != len(seed_list):
        raise ConfigError(f"seeds must be distinct integers, at least one; got {seed_list}.")
    return seed_list


def _say(stream: TextIO | None, text: str) -> None:
    if stream is not None:
        print(text, file=stream, flush=True)
