"""The real job at real scale: N Kaggle-like JPEGs at 227 px, decoded once into the store.

For each N (25,000 and 100,000 by default), side by side in one run:

- cold start (the store is built) and warm start (it exists): seconds from starting
  `train.py --recipe alexnet2012 --image-size 227 --width 0.0625 --epochs 1` to the end of
  its first training step, and the store's decode rate (from its log);
- decode throughput on the same files (the first `--reference-images` of the set):
  Keras's `image_dataset_from_directory` (decode + resize to 256), the in-memory thread
  pool used before the store (`decode_files`, Pillow only), and the store's build;
- how far the store's pixels are from Keras's loader's on the first 200 of those files
  (mean and largest absolute difference, in levels of 255);
- peak anonymous memory (`RssAnon`, sampled from /proc/PID/status every 50 ms) and peak
  total RSS of that train.py process over its first epoch (capped at `--max-steps`), for
  the cold and the warm run: the store's pages are file-backed and reclaimable, so RssAnon
  is what runs a machine out of memory;
- pipeline-only images/s from the store (the training stream alone) against the
  model-only step of the full AlexNet (width 1) at 227 px on this CPU;
- disk used by the store;

and once, on the first N: a `train-with-bo` chief and two tuning workers started together on
a cold store: how many decoded, and their summed peak memory.

    python benchmarks/scale.py                          # the figures in benchmarks/README.md
    python benchmarks/scale.py --counts 2000 --image-size 64 --max-steps 3   # a quick look

The JPEGs are generated once (`benchmarks/kaggle_like.py`) into `$KERAS_RECIPES_CACHE`;
the stores measured here live in `$KERAS_RECIPES_CACHE/scale-benchmark` and are removed at
the end (`--keep-stores` keeps them).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import runpy
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, str(Path(__file__).resolve().parent))  # kaggle_like, when imported

from docparser import parser_from_doc
from kaggle_like import link_subset, make_kaggle_like

from keras_recipes.data.demo import default_cache_dir

REPO = Path(__file__).resolve().parents[1]
FIRST_STEP = "scale: first_step_s="
GIB = 2**30
GOALS = {"anon_gib": 3.0, "warm_s": 10.0, "decode_vs_before": 2.0, "pipeline_vs_model": 1.5}


def child(max_steps: int, script: str, argv: list[str]) -> None:
    """Runs `script` (train.py, or a module with -m) with `keras.Model.fit` patched: it prints
    the seconds since $SCALE_T0 at the end of the first step and stops after `max_steps`."""
    import keras

    started = float(os.environ["SCALE_T0"])
    original = keras.Model.fit

    class Probe(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 0:
                print(f"{FIRST_STEP}{time.time() - started:.2f}", flush=True)
            if batch + 1 >= max_steps:
                self.model.stop_training = True

    def fit(self, *args, callbacks=None, **kwargs):
        return original(self, *args, callbacks=[*(callbacks or []), Probe()], **kwargs)

    keras.Model.fit = fit
    sys.argv = [script, *argv]
    if script.startswith("-m"):
        runpy.run_module(script[2:], run_name="__main__")
    else:
        runpy.run_path(script, run_name="__main__")


def memory(pid: int) -> tuple[int, int]:
    """(RssAnon, VmRSS) of a process in bytes; (0, 0) once it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0, 0
    values = dict(re.findall(r"^(RssAnon|VmRSS):\s+(\d+) kB", text, re.MULTILINE))
    return int(values.get("RssAnon", 0)) * 1024, int(values.get("VmRSS", 0)) * 1024


def run_sampled(commands: list[tuple[list[str], dict[str, str]]], timeout: float) -> dict:
    """Starts the commands together; samples their summed memory until all exit.

    Returns their outputs, exit codes and the peaks of the summed RssAnon and VmRSS.
    """
    logs = [tempfile.TemporaryFile("w+") for _ in commands]  # noqa: SIM115 (closed below)
    os.environ["SCALE_T0"] = str(time.time())
    procs = [
        subprocess.Popen(
            cmd,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=REPO,
        )
        for (cmd, env), log in zip(commands, logs, strict=True)
    ]
    peak_anon = peak_rss = 0
    deadline = time.monotonic() + timeout
    while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
        samples = [memory(p.pid) for p in procs]
        peak_anon = max(peak_anon, sum(s[0] for s in samples))
        peak_rss = max(peak_rss, sum(s[1] for s in samples))
        time.sleep(0.05)
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()
    outputs = []
    for log in logs:
        log.seek(0)
        outputs.append(log.read())
        log.close()
    return {
        "outputs": outputs,
        "codes": [p.returncode for p in procs],
        "anon": peak_anon,
        "rss": peak_rss,
    }


def train_command(folder: Path, args: argparse.Namespace, out: Path) -> list[str]:
    """The probed train.py command of the memory and start-up runs."""
    return [
        sys.executable, __file__, "--child", str(args.max_steps), "train.py",
        "--recipe", "alexnet2012", "--data", str(folder), "--image-size", str(args.image_size),
        "--width", str(args.tiny_width), "--epochs", "1", "--out", str(out),
    ]  # fmt: skip


def train_run(folder: Path, cache: Path, args: argparse.Namespace) -> dict:
    """One probed train.py run over `folder` with its stores under `cache`."""
    with tempfile.TemporaryDirectory() as out:
        env = {"KERAS_RECIPES_CACHE": str(cache)}
        run = run_sampled([(train_command(folder, args, Path(out) / "run"), env)], 3600)
    text = run["outputs"][0]
    if run["codes"][0] != 0:
        raise SystemExit(f"train.py failed:\n{text[-3000:]}")
    first = re.search(re.escape(FIRST_STEP) + r"([\d.]+)", text)
    rate = re.search(r"decoded [\d,]+ images in ([\d.]+) s \(([\d,]+)/s\)", text)
    return {
        "first_step_s": float(first.group(1)) if first else float("nan"),
        "decode_rate": float(rate.group(2).replace(",", "")) if rate else None,
        "reused": "reusing the decoded-image store" in text,
        "anon": run["anon"],
        "rss": run["rss"],
    }


KERAS_DECODER = "image_dataset_from_directory"
BEFORE_DECODER = "Pillow threads, in memory (before #13)"
STORE_DECODER = "store: libjpeg-turbo + OpenCV threads -> pwrite"


def reference_decode(
    folder: Path, count: int, size: int, repeats: int = 3
) -> dict[str, dict[str, float]]:
    """Images/s and CPU ms per image of three decoders on the same `count` files at `size`.

    The decoders take turns, `repeats` rounds, and each figure is the median of its rounds:
    other programs' load then falls on all three alike. CPU time counts this process and
    any child processes it waited for, so it moves less with that load than images/s.
    """
    import keras

    from keras_recipes.data.decode import decode_files
    from keras_recipes.data.store import decode_into

    subset = link_subset(folder, folder.parent / f"{folder.name}-first-{count}", count)
    paths = sorted(str(p) for p in subset.glob("*.jpg"))  # the files Keras reads
    for path in paths:
        Path(path).read_bytes()  # every decoder finds the files in the page cache

    def keras_loader() -> None:
        data = keras.utils.image_dataset_from_directory(
            subset, labels=None, image_size=(size, size), batch_size=64, shuffle=False
        )
        for _ in data:
            pass

    def store_build() -> None:
        with tempfile.TemporaryDirectory(dir=default_cache_dir()) as temp:
            decode_into(Path(temp), paths, size)

    work = {
        KERAS_DECODER: keras_loader,
        BEFORE_DECODER: lambda: decode_files(paths, size, fast=False),
        STORE_DECODER: store_build,
    }
    rounds = {name: [] for name in work}
    for _ in range(repeats):
        for name, run in work.items():
            rounds[name].append(timed(run, len(paths)))
    return {
        name: {key: statistics.median(r[key] for r in runs) for key in ("img_s", "cpu_ms")}
        for name, runs in rounds.items()
    }


def pixel_difference(folder: Path, size: int, count: int = 200) -> dict[str, float]:
    """Mean and largest absolute difference, in levels of 255, between the store's pixels
    and those of Keras's loader (its decode + bilinear resize, rounded) on `count` files."""
    import tensorflow as tf

    from keras_recipes.data.decode import decode_image

    paths = sorted(folder.glob("*.jpg"))[:count]
    differences = []
    for path in paths:
        # What image_dataset_from_directory runs per file (keras.utils' load_image).
        image = tf.io.decode_image(tf.io.read_file(str(path)), 3, expand_animations=False)
        keras_pixels = tf.round(tf.image.resize(image, (size, size), "bilinear")).numpy()
        differences.append(np.abs(decode_image(path, size) - keras_pixels))
    stacked = np.stack(differences)
    return {"mean": float(stacked.mean()), "max": float(stacked.max()), "files": len(paths)}


def timed(work, images: int) -> dict[str, float]:
    """Runs `work()`: images/s of wall time, and CPU ms per image (with waited-for children)."""
    cpu, began = cpu_seconds(), time.perf_counter()
    work()
    wall = time.perf_counter() - began
    return {"img_s": images / wall, "cpu_ms": 1000 * (cpu_seconds() - cpu) / images}


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its children that have ended."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def pipeline_vs_model(folder: Path, cache: Path, args: argparse.Namespace) -> dict[str, float]:
    """Images/s of the training stream from the (warm) store alone, and of the full AlexNet's
    train step alone on a batch already in memory, at `args.image_size`."""
    import keras
    import tensorflow as tf

    from keras_recipes.data import load_data
    from keras_recipes.models import alexnet
    from keras_recipes.recipes import get_recipe
    from keras_recipes.training.build import compile_model

    recipe = get_recipe("alexnet2012")
    batch = recipe.training.batch_size
    # The store under `cache`, for this load only: a caller's own cache setting stays.
    with mock.patch.dict(os.environ, {"KERAS_RECIPES_CACHE": str(cache)}):
        bundle = load_data(folder, image_size=args.image_size, batch_size=batch)
    stream = iter(bundle.train)
    for _ in range(3):
        next(stream)
    began = time.perf_counter()
    for _ in range(args.pipeline_steps):
        next(stream)
    pipeline = batch * args.pipeline_steps / (time.perf_counter() - began)
    model = compile_model(
        recipe, bundle.input_shape, 2, bundle.steps_per_epoch,
        builder=lambda r, shape, n: alexnet(r, shape, n, width=1.0),
    )  # fmt: skip
    x, y = next(stream)
    times: list[float] = []
    timer = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda b, logs: times.append(time.perf_counter())
    )
    data = tf.data.Dataset.from_tensors((x, y)).repeat()
    model.fit(data, steps_per_epoch=args.model_steps + 1, epochs=1, verbose=0, callbacks=[timer])
    model_rate = batch * args.model_steps / (times[-1] - times[0])
    return {"pipeline": pipeline, "model": model_rate, "batch": batch}


#: The module `train-with-bo` runs (the cluster run starts it with `python -m`).
TUNING_MODULE = "keras_recipes.cli.train_with_bo"


def cluster_run(folder: Path, cache: Path, args: argparse.Namespace) -> dict:
    """A train-with-bo chief and two workers started together on a cold store."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    with tempfile.TemporaryDirectory() as out:
        flags = [
            "--recipe", "alexnet2012", "--data", str(folder), "--image-size",
            str(args.image_size), "--width", str(args.tiny_width), "--epochs", "1",
            "--init-points", "2", "--n-iter", "0", "--out", str(Path(out) / "bo"),
        ]  # fmt: skip
        base = [
            sys.executable,
            __file__,
            "--child",
            str(args.max_steps),
            f"-m{TUNING_MODULE}",
        ]
        commands = [
            (base + flags, {"KERAS_RECIPES_CACHE": str(cache), "KERASTUNER_TUNER_ID": tid,
                            "KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": port})
            for tid in ("chief", "tuner0", "tuner1")
        ]  # fmt: skip
        run = run_sampled(commands, 3600)
    decodes = sum(text.count("decoding ") for text in run["outputs"])
    reuses = sum(text.count("reusing the decoded-image store") for text in run["outputs"])
    failed = [text[-2000:] for text, code in zip(run["outputs"], run["codes"], strict=True) if code]
    return {
        "decodes": decodes,
        "reuses": reuses,
        "anon": run["anon"],
        "rss": run["rss"],
        "failed": failed,
    }


def store_bytes(cache: Path) -> int:
    """Disk used by every store under `cache`."""
    return sum(p.stat().st_size for p in (cache / "stores").rglob("*") if p.is_file())


def measure(count: int, root: Path, args: argparse.Namespace) -> dict:
    """Every per-N figure, cold first."""
    folder = kaggle_folder(count, root, args)
    cache = root / "scale-benchmark" / f"n{count}"
    shutil.rmtree(cache, ignore_errors=True)
    result = {"count": count, "cold": train_run(folder, cache, args)}
    result["warm"] = train_run(folder, cache, args)
    result["disk"] = store_bytes(cache)
    size = round(args.image_size * 256 / 227)
    result["decode"] = reference_decode(
        folder, min(count, args.reference_images), size, args.repeats
    )
    result["pixels"] = pixel_difference(folder, size)
    result["speed"] = pipeline_vs_model(folder, cache, args)
    return result


def kaggle_folder(count: int, root: Path, args: argparse.Namespace) -> Path:
    """The Kaggle-like set of `count` files (made once; smaller sets link the largest's)."""
    big = make_kaggle_like(root / f"kaggle-like-{max(args.counts)}", max(args.counts))
    if count == max(args.counts):
        return big
    return link_subset(big, root / f"kaggle-like-{count}", count)


def decoders_only(root: Path, args: argparse.Namespace) -> dict:
    """`--decoders-only`: the decoder comparison alone, printed as the report's table."""
    size = round(args.image_size * 256 / 227)
    print(
        f"\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average "
        f"{os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs, {size} px"
    )
    print("\n| N | decoder (same files) | img/s | CPU ms/image |\n|---|---|---|---|")
    figures = {}
    for count in sorted(args.counts):
        folder = kaggle_folder(count, root, args)
        figures[count] = reference_decode(
            folder, min(count, args.reference_images), size, args.repeats
        )
        for name, rate in figures[count].items():
            print(f"| {count:,} | {name} | {rate['img_s']:,.0f} | {rate['cpu_ms']:.2f} |")
        pixels = pixel_difference(folder, size)
        print(f"pixels against Keras's loader: mean {pixels['mean']:.2f}, max {pixels['max']:.0f}")
    return figures


def print_report(results: list[dict], cluster: dict | None, args: argparse.Namespace) -> None:
    """Markdown tables of the figures and the goals of issue #13."""
    print(
        f"\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average "
        f"{os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs, image size {args.image_size}\n"
    )
    print(
        "| N | cold start s | store decode img/s | warm start s | peak RssAnon GiB "
        "(cold / warm) | peak RSS GiB (cold / warm) | store on disk GB |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in results:
        cold, warm = r["cold"], r["warm"]
        print(
            f"| {r['count']:,} | {cold['first_step_s']:.1f} | {cold['decode_rate'] or 0:,.0f} | "
            f"{warm['first_step_s']:.1f} | {cold['anon'] / GIB:.2f} / {warm['anon'] / GIB:.2f} | "
            f"{cold['rss'] / GIB:.2f} / {warm['rss'] / GIB:.2f} | {r['disk'] / 1e9:.2f} |"
        )
    print("\n| N | decoder (same files) | img/s | CPU ms/image |\n|---|---|---|---|")
    for r in results:
        for name, rate in r["decode"].items():
            print(f"| {r['count']:,} | {name} | {rate['img_s']:,.0f} | {rate['cpu_ms']:.2f} |")
    for r in results:
        pixels = r["pixels"]
        print(
            f"\nN={r['count']:,}: the store's pixels differ from Keras's loader's by "
            f"{pixels['mean']:.2f} levels on average, at most {pixels['max']:.0f} "
            f"({pixels['files']} files)"
        )
    print("\n| N | pipeline-only img/s | model-only img/s (AlexNet width 1) | ratio |")
    print("|---|---|---|---|")
    for r in results:
        s = r["speed"]
        print(
            f"| {r['count']:,} | {s['pipeline']:,.0f} | {s['model']:,.1f} | "
            f"{s['pipeline'] / s['model']:.1f}x |"
        )
    if cluster:
        print(
            f"\nchief + 2 workers, cold store, N={results[0]['count']:,}: {cluster['decodes']} "
            f"decode(s), {cluster['reuses']} reuse(s); summed peak RssAnon "
            f"{cluster['anon'] / GIB:.2f} GiB, summed peak RSS {cluster['rss'] / GIB:.2f} GiB"
            + (f"; FAILED: {cluster['failed']}" if cluster["failed"] else "")
        )
    print_goals(results, cluster)


def goal_verdicts(results: list[dict], cluster: dict | None) -> dict[str, bool]:
    """Each goal of issue #13 -> met or not, from the figures."""
    first = results[0]
    decode = {name: rate["img_s"] for name, rate in first["decode"].items()}
    verdicts = {
        "peak RssAnon <= 3 GiB": all(
            r["warm"]["anon"] <= GOALS["anon_gib"] * GIB
            and r["cold"]["anon"] <= GOALS["anon_gib"] * GIB
            for r in results
        ),
        "RssAnon at the largest N within 10% of the first": all(
            r["warm"]["anon"] <= 1.1 * first["warm"]["anon"] for r in results
        ),
        "warm start <= 10 s": first["warm"]["first_step_s"] <= GOALS["warm_s"],
        "store decode >= image_dataset_from_directory and >= 2x before": (
            decode[STORE_DECODER]
            >= max(decode[KERAS_DECODER], GOALS["decode_vs_before"] * decode[BEFORE_DECODER])
        ),
        "pipeline >= 1.5x model step": all(
            r["speed"]["pipeline"] >= GOALS["pipeline_vs_model"] * r["speed"]["model"]
            for r in results
        ),
    }
    if cluster:
        verdicts["chief + 2 workers: decoded once, within 24 GiB"] = (
            cluster["decodes"] == 1 and cluster["rss"] <= 24 * GIB and not cluster["failed"]
        )
    return verdicts


def print_goals(results: list[dict], cluster: dict | None) -> None:
    """One line per goal: met or not."""
    print()
    for goal, met in goal_verdicts(results, cluster).items():
        print(f"{'met' if met else 'NOT met'}: {goal}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = parser_from_doc(__doc__)
    parser.add_argument("--counts", type=int, nargs="+", default=[25000, 100000])
    parser.add_argument("--image-size", type=int, default=227)
    parser.add_argument("--tiny-width", type=float, default=0.0625)
    parser.add_argument(
        "--max-steps",
        type=int,
        default=60,
        help="cap on the first epoch's steps in the memory runs (default: 60)",
    )
    parser.add_argument("--reference-images", type=int, default=5000)
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="rounds of the decoder comparison; figures are medians (default: 3)",
    )
    parser.add_argument("--pipeline-steps", type=int, default=20)
    parser.add_argument("--model-steps", type=int, default=3)
    parser.add_argument("--no-cluster", action="store_true")
    parser.add_argument(
        "--decoders-only",
        action="store_true",
        help="only the decoder comparison on the first --reference-images files",
    )
    parser.add_argument("--keep-stores", action="store_true")
    parser.add_argument(
        "--root",
        type=Path,
        default=None,
        help="where the JPEGs and stores go (default: $KERAS_RECIPES_CACHE)",
    )
    args = parser.parse_args(argv)
    if min(args.counts) < 100 or args.image_size < 16:
        parser.error("--counts must be >= 100 and --image-size >= 16")
    return args


def main(argv: list[str] | None = None) -> dict:
    """Runs every measurement and prints the tables; returns the figures."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        child(int(argv[1]), argv[2], argv[3:])
        return {}
    args = parse_args(argv)
    root = args.root or default_cache_dir()
    if args.decoders_only:
        return decoders_only(root, args)
    results = [measure(count, root, args) for count in sorted(args.counts)]
    cluster = None
    if not args.no_cluster:
        cache = root / "scale-benchmark" / "cluster"
        shutil.rmtree(cache, ignore_errors=True)
        folder = root / f"kaggle-like-{min(args.counts)}"
        cluster = cluster_run(
            folder
            if min(args.counts) != max(args.counts)
            else root / f"kaggle-like-{max(args.counts)}",
            cache,
            args,
        )
    print_report(results, cluster, args)
    if not args.keep_stores:
        shutil.rmtree(root / "scale-benchmark", ignore_errors=True)
    figures = {"results": results, "cluster": cluster}
    print("\n" + json.dumps(figures, default=float))
    return figures


if __name__ == "__main__":
    main()
