"""benchmarks/scale.py on a tiny setting: the cold run decodes into the store and the warm one
reuses it, memory is sampled from /proc, the tables hold every figure, and each goal verdict
follows from the figures."""

import importlib
import os
from importlib.metadata import entry_points

import pytest

GIB = 2**30


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("scale")


def figures(anon_gib=1.0, warm_s=5.0, store=800.0, keras=600.0, before=300.0, pipeline=100.0):
    run = {"first_step_s": warm_s, "decode_rate": store, "reused": True, "anon": anon_gib * GIB}
    decode = {
        "image_dataset_from_directory": {"img_s": keras, "cpu_ms": 2.0},
        "Pillow threads, in memory (before #13)": {"img_s": before, "cpu_ms": 2.0},
        "store: libjpeg-turbo + OpenCV threads -> pwrite": {"img_s": store, "cpu_ms": 2.0},
    }
    speed = {"pipeline": pipeline, "model": 50.0, "batch": 256}
    return {"count": 100, "cold": run, "warm": run, "disk": 1, "decode": decode, "speed": speed}


def test_memory_reads_rss_anon_and_vm_rss_of_a_live_process(bench):
    anon, rss = bench.memory(os.getpid())
    assert 0 < anon < rss
    assert bench.memory(2**22 + 7) == (0, 0)  # no such process


def test_each_goal_verdict_follows_from_the_figures(bench):
    assert all(bench.goal_verdicts([figures()], None).values())
    cases = {
        "peak RssAnon <= 3 GiB": figures(anon_gib=3.5),
        "warm start <= 10 s": figures(warm_s=12.0),
        "store decode >= image_dataset_from_directory and >= 2x before": figures(store=590.0),
        "pipeline >= 1.5x model step": figures(pipeline=70.0),
    }
    for goal, case in cases.items():
        verdicts = bench.goal_verdicts([case], None)
        assert [g for g, met in verdicts.items() if not met] == [goal]
    grown = [figures(), {**figures(anon_gib=1.2), "count": 400}]
    assert not bench.goal_verdicts(grown, None)["RssAnon at the largest N within 10% of the first"]
    cluster = {"decodes": 2, "reuses": 1, "anon": GIB, "rss": 2 * GIB, "failed": []}
    assert not bench.goal_verdicts([figures()], cluster)[
        "chief + 2 workers: decoded once, within 24 GiB"
    ]


def test_the_cluster_runs_the_module_of_the_train_with_bo_command(bench):
    # Its `-m` path broke once when the CLIs moved; the cluster run itself is too slow here.
    (command,) = entry_points(group="console_scripts", name="train-with-bo")
    assert command.value == f"{bench.TUNING_MODULE}:main"
    assert callable(importlib.import_module(bench.TUNING_MODULE).main)


def test_bad_counts_are_a_usage_error(bench, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--counts", "10"])
    assert exit_info.value.code == 2
    assert "--counts must be >= 100" in capsys.readouterr().err


@pytest.mark.slow  # two train.py processes and the full AlexNet at 32 px: about a minute
def test_tiny_run_decodes_cold_reuses_warm_and_reports(bench, tmp_path, capsys):
    result = bench.main(
        ["--counts", "200", "--image-size", "32", "--max-steps", "2", "--reference-images",
         "100", "--repeats", "1", "--pipeline-steps", "2", "--model-steps", "1", "--no-cluster",
         "--root", str(tmp_path)]
    )  # fmt: skip
    (only,) = result["results"]
    assert only["count"] == 200
    assert only["cold"]["decode_rate"] > 0 and not only["cold"]["reused"]
    assert only["warm"]["decode_rate"] is None and only["warm"]["reused"]
    for run in (only["cold"], only["warm"]):
        assert 0 < run["first_step_s"] < 600 and 0 < run["anon"] < run["rss"]
    assert only["disk"] >= 200 * 36 * 36 * 3  # the images, at resize_size_for(32) = 36
    assert set(only["decode"]) == {
        "image_dataset_from_directory",
        "Pillow threads, in memory (before #13)",
        "store: libjpeg-turbo + OpenCV threads -> pwrite",
    }
    assert only["pixels"]["files"] == 200 and 0 <= only["pixels"]["mean"] <= only["pixels"]["max"]
    assert all(r["img_s"] > 0 and r["cpu_ms"] > 0 for r in only["decode"].values())
    assert only["speed"]["pipeline"] > 0 and only["speed"]["model"] > 0
    out = capsys.readouterr().out
    assert "| 200 | image_dataset_from_directory |" in out
    assert "the store's pixels differ from Keras's loader's by" in out
    assert "store on disk GB" in out and "met: peak RssAnon <= 3 GiB" in out
    assert not (tmp_path / "scale-benchmark").exists()  # the stores are removed
    assert len(list((tmp_path / "kaggle-like-200").glob("*.jpg"))) == 200
