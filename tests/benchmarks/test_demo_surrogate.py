"""benchmarks/demo_surrogate.py: recorded demo runs as an objective, the epoch accounting of
continued promotions, and a tiny run of the three searches."""

import doctest

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="module")
def sur(load_benchmark):
    return load_benchmark("demo_surrogate")


def test_examples(sur):
    assert doctest.testmod(sur).failed == 0


def write_run(run_dir, points, lengths):
    trials = pd.DataFrame(
        {
            "trial": range(1, len(points) + 1),
            "log10_learning_rate": [p[0] for p in points],
            "log10_weight_decay": [p[1] for p in points],
        }
    )
    (run_dir / "trials").mkdir(parents=True)
    trials.to_csv(run_dir / "trials.csv", index=False)
    for number, length in enumerate(lengths, start=1):
        folder = run_dir / "trials" / f"{number:03d}"
        folder.mkdir()
        accuracy = np.linspace(0.5, 0.5 + length / 100, length)
        pd.DataFrame({"val_accuracy": accuracy}).to_csv(folder / "history.csv", index=False)


def test_collect_keeps_one_whole_run_per_point(sur, tmp_path):
    # A 1-epoch rung, its 9-epoch promotion (the same point), and a point seen twice.
    write_run(tmp_path / "a", [(-2.0, -3.0), (-2.0, -3.0), (-1.5, -4.0)], [1, 9, 9])
    write_run(tmp_path / "b", [(-1.5, -4.0)], [9])
    frame = sur.collect([tmp_path / "a", tmp_path / "b", tmp_path / "missing"])
    assert frame[list(sur.PARAMS)].values.tolist() == [[-2.0, -3.0], [-1.5, -4.0]]
    assert frame.columns[-1] == "epoch_9" and frame["epoch_9"].tolist() == [0.59, 0.59]


def test_a_point_always_gets_the_same_run_and_a_rung_its_best_epoch(sur):
    curves = pd.read_csv(sur.CURVES)
    surrogate = sur.DemoSurrogate(curves, seed=0, neighbours=4)
    point = {"log10_learning_rate": -1.5, "log10_weight_decay": -3.0}
    run = surrogate.curve([-1.5, -3.0])
    assert np.array_equal(surrogate.curve([-1.5, -3.0]), run)
    assert [surrogate(point, epochs=k) for k in (1, 3, 9)] == [
        run[0],
        run[:3].max(),
        run.max(),
    ]
    # The run comes from the 4 nearest recorded points; other seeds pick among them too.
    distance = np.hypot(curves["log10_learning_rate"] + 1.5, curves["log10_weight_decay"] + 3)
    nearest = curves.drop(columns=list(sur.PARAMS)).to_numpy()[np.argsort(distance)[:4]]
    picks = {
        next(i for i, c in enumerate(nearest) if np.array_equal(c, s.curve([-1.5, -3.0])))
        for s in (sur.DemoSurrogate(curves, seed, 4) for seed in range(20))
    }
    assert len(picks) > 1 and picks <= {0, 1, 2, 3}


def test_continued_promotions_count_only_their_new_epochs(sur, tmp_path):
    # One Hyperband iteration at max 9 epochs: 87 epochs from scratch, 12 of them the
    # promoted configurations' earlier rungs (3 x 1 + 1 x 3 + 2 x 3), so 75 trained.
    surrogate = sur.DemoSurrogate(pd.read_csv(sur.CURVES), seed=0)
    trials = sur.run_search("hyperband", 0, surrogate, tmp_path / "hb")
    assert len(trials) == 23 and sum(len(t) for t in trials) == 75
    bo = sur.run_search("bo", 0, surrogate, tmp_path / "bo")
    assert [len(t) for t in bo] == [9] * 20


def test_a_bohb_variant_with_every_configuration_random_is_hyperband(sur, tmp_path):
    surrogate = sur.DemoSurrogate(pd.read_csv(sur.CURVES), seed=3)
    hyperband = sur.run_search("hyperband", 3, surrogate, tmp_path / "hb")
    variant = sur.run_search("bohb", 3, surrogate, tmp_path / "v", {"random_fraction": 1.0})
    assert [t.tolist() for t in variant] == [t.tolist() for t in hyperband]
    default = sur.run_search("bohb", 3, surrogate, tmp_path / "bohb")
    assert [t.tolist() for t in default] != [t.tolist() for t in hyperband]


def test_a_bad_variant_is_a_usage_error(sur, capsys):
    assert sur.main(["--bohb", "xi=high"]) == 2
    assert "--bohb takes NAME=NUMBER" in capsys.readouterr().err


@pytest.mark.parametrize("band", [["-1.2", "-1.9"], ["-6", "-1"]])
def test_a_band_outside_the_range_is_a_usage_error(sur, capsys, band):
    assert sur.main(["--band", *band]) == 2
    assert "--band needs -5 <= LO < HI <= -1" in capsys.readouterr().err


def test_the_band_proposer_starts_every_configuration_in_its_band(sur, tmp_path):
    import keras_tuner

    from keras_recipes.tuning.bo.space import SearchSpace

    oracle = sur.band_oracle(keras_tuner.Objective("score", "max"), 0, (-1.6, -1.4))
    surrogate = sur.DemoSurrogate(pd.read_csv(sur.CURVES), seed=0)
    frame = sur.drive(oracle, surrogate, SearchSpace.from_mapping(sur.BOUNDS), tmp_path / "b")
    rates = frame["log10_learning_rate"]
    assert len(frame) == 23 and rates.between(-1.6, -1.4).all()
    # Hyperband's promotions still continue 3 + 1 + 2 of the 17 configurations.
    assert rates.nunique() == 17 and frame["log10_weight_decay"].nunique() == 17


@pytest.mark.slow
def test_tiny_run(sur, capsys):
    assert sur.main(["--tiny"]) == 0
    out = capsys.readouterr().out
    assert "| search | median epochs to target | 25% | 75% | reached | <= 45 epochs |" in out
    assert [line.split("|")[1].strip() for line in out.splitlines() if "/2 |" in line] == [
        "bo",
        "bohb",
        "hyperband",
    ]
    assert "bohb's median epochs to target" in out
