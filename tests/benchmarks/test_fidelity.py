"""benchmarks/fidelity.py on its tiny setting: the three searches run through train-with-bo
and the table reports what their run directories hold."""

import json
import re

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="module")
def fidelity(load_benchmark):
    return load_benchmark("fidelity")


@pytest.fixture(autouse=True)
def _single_process(monkeypatch):
    for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        monkeypatch.delenv(name, raising=False)


def table_rows(out: str) -> dict[str, list[str]]:
    # The first table: one seed's (the seeds summary follows it).
    block = out[out.index("| search | trials") :].split("\n\n")[0]
    rows = [line for line in block.splitlines() if line.startswith("| ") and "---" not in line]
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows]
    assert cells[0] == [
        "search",
        "trials",
        "pruned",
        "total epochs",
        "best val acc",
        "epochs to target",
        cells[0][6],
        "wall s",
    ]
    assert re.fullmatch(r"best in first \d+ epochs", cells[0][6])
    return {row[0]: row[1:] for row in cells[1:]}


@pytest.mark.slow
def test_tiny_run_reports_what_the_run_directories_hold(fidelity, tmp_path, capsys):
    # bohb in hyperband's place: the same code path here, and the slow test no longer.
    searches = ["--searches", "bo", "bohb", "median"]
    assert fidelity.main(["--tiny", "--out", str(tmp_path), *searches]) == 0
    out = capsys.readouterr().out
    rows = table_rows(out)
    names = {
        "bo (full budget)": "bo",
        "bohb": "bohb",
        "bo --prune median (warm-up 0, start-up 1)": "bo-median-w0-s1",
    }
    assert list(rows) == list(names)
    reference_best = json.loads((tmp_path / "bo" / "best.json").read_text())["best_val_accuracy"]
    target = reference_best - 0.01
    assert f"target: val accuracy >= {target:.4f}" in out
    for label, folder in names.items():
        run_dir = tmp_path / folder
        trials = pd.read_csv(run_dir / "trials.csv")
        assert json.loads((run_dir / "tuning.json").read_text())["search"] == folder.split("-")[0]
        trials_, pruned, epochs, best, to_target, early, _ = rows[label]
        assert int(trials_) == len(trials)
        assert int(pruned) == (trials["status"] == "pruned").sum()
        assert int(epochs) == trials["epochs_run"].sum()
        best_json = json.loads((run_dir / "best.json").read_text())["best_val_accuracy"]
        assert float(best) == pytest.approx(best_json, abs=5e-5)
        curves = [
            pd.read_csv(run_dir / "trials" / f"{n:03d}" / "history.csv")["val_accuracy"].to_numpy()
            for n in trials["trial"]
        ]
        expected = fidelity.epochs_to_target(curves, target)
        assert to_target == ("not reached" if expected is None else str(expected))
        third = int(rows["bo (full budget)"][2]) // 3
        assert float(early) == pytest.approx(np.concatenate(curves)[:third].max(), abs=5e-5)
    settings = json.loads((tmp_path / "bo-median-w0-s1" / "tuning.json").read_text())
    assert settings["prune"] == {"rule": "median", "warmup_epochs": 0, "startup_trials": 1}
    goal = re.search(r"goal \(bo --prune median.*: (met|NOT met)$", out, re.MULTILINE)
    assert goal is not None
    # One seed: the summary has one column besides the median, and bohb's goal needs 5.
    seeds = pd.read_csv(tmp_path / "seeds.csv")
    assert seeds["search"].tolist() == list(names) and set(seeds["seed"]) == {0}
    assert "| search | seed 0 | median |" in out
    assert re.search(r"goal \(bohb\): .* in [01] of 1 seeds \(>= 4 of 5\): NOT met$", out, re.M)


def test_epochs_to_target_counts_every_epoch_before_the_hit(fidelity):
    curves = [np.array([0.5, 0.9, 0.6]), np.array([0.7, 0.95])]
    assert fidelity.epochs_to_target(curves, 0.9) == 2
    assert fidelity.epochs_to_target(curves, 0.95) == 5
    assert fidelity.epochs_to_target(curves, 0.99) is None


def test_help_and_a_bad_setting(fidelity, capsys):
    with pytest.raises(SystemExit, match="0"):
        fidelity.main(["--help"])
    assert "--tiny" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="2"):
        fidelity.main(["--prune-settings", "two"])
    assert "invalid prune setting 'two': expected WARMUP_EPOCHS:STARTUP_TRIALS[:N_ITER]" in (
        capsys.readouterr().err
    )
    assert fidelity.parse_setting("1:3:37") == (1, 3, 37)


def test_seeds_table_medians_and_bohb_goal(fidelity, capsys):
    rows = []
    for seed, (bohb_epochs, bohb_best) in enumerate([(30, 0.9), (40, 0.91), (None, 0.85)]):
        bo = {"label": "bo (full budget)", "epochs": 180, "to_target": 170, "best": 0.9}
        bohb = {"label": "bohb", "epochs": 87, "to_target": bohb_epochs, "best": bohb_best}
        rows.append((seed, [bo, bohb]))
    summary = fidelity.seeds_summary(dict(rows), 0.01)
    assert summary["reached"].tolist() == [True, True, True, True, True, False]
    fidelity.print_seeds_table(summary, 0.01)
    out = capsys.readouterr().out
    assert "| bo (full budget) | 170 / 0.9000 | 170 / 0.9000 | 170 / 0.9000 | 170 / 0.9000 |" in out
    assert "| bohb | 30 / 0.9000 | 40 / 0.9100 | not reached / 0.8500 | 40 / 0.9000 |" in out
    assert "median epochs to target 40 <= 1/4 of full-budget bo's median 180 = 45: met" in out
    assert "final best >= target in 2 of 3 seeds (>= 4 of 5): NOT met" in out


def test_min_epochs_reaches_the_multi_fidelity_runs_and_the_goal_line(fidelity, capsys):
    args = fidelity.build_parser().parse_args(["--min-epochs", "3", "--searches", "bohb"])
    runs = {name: (label, argv) for label, name, argv in fidelity.build_runs(args, [], "demo", 0)}
    label, argv = runs["bohb-min3"]
    assert label == "bohb --min-epochs 3"
    assert argv[-4:] == ["--search", "bohb", "--min-epochs", "3"]
    assert "--min-epochs" not in runs["bo"][1]
    bo = {"label": "bo (full budget)", "epochs": 180, "to_target": 170, "best": 0.9}
    bohb = {"label": label, "epochs": 54, "to_target": 30, "best": 0.9}
    fidelity.print_seeds_table(fidelity.seeds_summary({0: [bo, bohb]}, 0.01), 0.01)
    assert "goal (bohb): median epochs to target 30 <= 1/4" in capsys.readouterr().out


def test_a_continued_trial_counts_only_the_epochs_it_trained(fidelity, tmp_path):
    run_dir = tmp_path / "run"
    rows = [(1, [0.5]), (2, [0.5, 0.7, 0.9])]  # trial 2 continues trial 1 after 1 epoch
    for number, curve in rows:
        folder = run_dir / "trials" / f"{number:03d}"
        folder.mkdir(parents=True)
        pd.DataFrame({"val_accuracy": curve}).to_csv(folder / "history.csv", index=False)
    summary = {"continued_from": {"trial": "001", "epoch": 1}}
    (run_dir / "trials" / "002" / "summary.json").write_text(json.dumps(summary))
    trials = {"trial": [1, 2], "status": ["completed"] * 2}
    pd.DataFrame(trials).to_csv(run_dir / "trials.csv", index=False)
    stats = fidelity.read_run(run_dir)
    assert (stats["epochs"], stats["continued"]) == (3, 1)
    assert fidelity.epochs_to_target(stats["curves"], 0.9) == 3
    # The same trials trained from scratch: trial 2 would train its first epoch again.
    assert fidelity.epochs_to_target(stats["whole_curves"], 0.9) == 4


def test_recorded_bo_bests_replace_the_bo_runs(fidelity, capsys):
    with pytest.raises(SystemExit, match="--bo-best needs one value per seed"):
        fidelity.main(["--seeds", "0", "1", "--bo-best", "0.9"])
    rows = [(0, [fidelity.recorded_bo(fidelity.build_parser().parse_args([]), 0.9)])]
    rows[0][1][0]["to_target"] = None
    summary = fidelity.seeds_summary(dict(rows), 0.01)
    assert summary["epochs"].tolist() == [180] and summary["to_target"].isna().all()


def test_a_float32_accuracy_equal_to_the_target_reaches_it(fidelity):
    # 383 of 400 right is 0.9575; Keras logs it as float32 (0.95749998), and the target
    # 0.9675 - 0.01 is a float64 0.9575: the epoch reaches the target, the one below not.
    curves = [np.array([0.9, 382 / 400], np.float32), np.array([383 / 400], np.float32)]
    assert fidelity.epochs_to_target(curves, 0.9675 - 0.01) == 3
    assert fidelity.epochs_to_target(curves[:1], 0.9675 - 0.01) is None
    summary = fidelity.seeds_summary(
        {0: [{"label": "bo (full budget)", "epochs": 9, "to_target": 3, "best": 0.9675},
             {"label": "bohb", "epochs": 9, "to_target": 3, "best": float(curves[1][0])}]},
        0.01,
    )  # fmt: skip
    assert summary["reached"].tolist() == [True, True]
