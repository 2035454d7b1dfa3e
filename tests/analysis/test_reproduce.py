"""reproduce: train recorded runs again and find the largest deviation, epoch by epoch."""

from __future__ import annotations

import json
import math
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tune_sched.analysis.run_diff import compare_runs, relative_deviation
from tune_sched.rerun.reproduce import reproduce, reproduce_config, reproduce_trial
from tune_sched.core.errors import UsageError
from tune_sched.results.experiment import seed_dir


def _tamper(run_dir, column, epoch, factor):
    path = run_dir / "epochs.parquet"
    frame = pq.read_table(path).to_pandas()
    frame.loc[frame["epoch"] == epoch, column] *= factor
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)


def _yaml_of(run_dir):
    import yaml

    return yaml.safe_load((run_dir / "config.yaml").read_text())


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (1.0, 1.0, 0.0), (0.0, 0.0, 0.0), (2.0, 1.0, 0.5), (-1.0, 1.0, 2.0), (1.0, 1.0 + 1e-9, 1e-9),
        (math.nan, math.nan, 0.0), (math.inf, math.inf, 0.0), (math.nan, 1.0, math.inf), (math.inf, 1.0, math.inf),
        (-math.inf, math.inf, math.inf),
    ],
)
def test_relative_deviation(a, b, expected):
    assert relative_deviation(a, b) == pytest.approx(expected, rel=1e-6)


def test_a_run_compared_with_itself_deviates_nowhere(experiment):
    run = seed_dir(experiment, "spiky", 1)
    worst, compared = compare_runs(run, run, seed=1)
    assert worst.relative == 0 and compared > 20


def test_a_tampered_value_is_found_with_its_metric_epoch_and_seed(experiment, tmp_path):
    recorded = seed_dir(experiment, "steady", 0)
    copy = tmp_path / "copy"
    shutil.copytree(recorded, copy)
    _tamper(copy, "val_spectrum", 1, 1.001)
    worst, _ = compare_runs(recorded, copy, seed=0)
    assert (worst.metric, worst.epoch, worst.seed) == ("val_spectrum", 1, 0)
    assert worst.relative == pytest.approx(0.001 / 1.001, rel=1e-3)
    assert worst.describe().startswith("val_spectrum at epoch 2 of seed 0: recorded ")  # printed from 1


def test_a_missing_epoch_or_status_change_is_an_infinite_deviation(experiment, tmp_path):
    recorded = seed_dir(experiment, "steady", 0)
    copy = tmp_path / "copy"
    shutil.copytree(recorded, copy)
    frame = pq.read_table(copy / "epochs.parquet").to_pandas()
    pq.write_table(pa.Table.from_pandas(frame[frame["epoch"] < 2], preserve_index=False), copy / "epochs.parquet")
    worst, _ = compare_runs(recorded, copy, seed=0)
    assert (worst.metric, worst.epoch, worst.recorded, worst.reproduced) == ("epochs", 2, "present", "missing")
    result = json.loads((copy / "result.json").read_text())
    (copy / "result.json").write_text(json.dumps({**result, "status": "diverged"}))
    worst, _ = compare_runs(recorded, copy, seed=0)
    assert (worst.metric, worst.relative) == ("status", math.inf)


def test_a_recorded_trial_reproduces(experiment):
    result = reproduce_trial(experiment, "spiky", seeds=[1])
    assert result.ok and result.worst.relative <= 1e-6 and list(result.deviations) == [1]
    assert "reproduced: " in result.summary()


def test_a_tampered_record_does_not_reproduce(experiment, copy_of):
    exp = copy_of(experiment)
    _tamper(seed_dir(exp, "steady", 2), "val_loss", 2, 1.5)
    result = reproduce(exp, trial="steady", seeds=[2])
    assert not result.ok
    assert (result.worst.metric, result.worst.epoch, result.worst.seed) == ("val_loss", 2, 2)
    assert "NOT reproduced: largest deviation val_loss at epoch 3 of seed 2" in result.summary()  # printed from 1


def test_a_pruned_seed_is_trained_as_far_as_it_got(experiment):
    result = reproduce_trial(experiment, "troubled", seeds=[0])
    assert result.ok
    assert any("pruned by the search after 1 epochs" in note for note in result.notes)


@pytest.mark.slow
def test_a_config_trained_twice_gives_the_same_numbers_and_keeps_them_in_out(tmp_path, run_configs):
    from tune_sched.core.yaml_io import dump_yaml

    config = tmp_path / "spiky.yaml"
    config.write_text(dump_yaml(run_configs["spiky"]))
    result = reproduce_config(config, seeds=[1], out=tmp_path / "out", num_threads=1)
    assert result.ok and result.worst.relative == 0
    assert (tmp_path / "out" / "seed=1" / "first" / "epochs.parquet").is_file()
    assert (tmp_path / "out" / "seed=1" / "second" / "epochs.parquet").is_file()


@pytest.mark.slow
def test_a_config_against_a_recorded_run(tmp_path, experiment):
    from tune_sched.core.yaml_io import dump_yaml

    recorded = seed_dir(experiment, "decay", 1)
    result = reproduce_config(recorded / "config.yaml", against=recorded, num_threads=1)
    assert result.ok and list(result.deviations) == [1]
    other = tmp_path / "other.yaml"
    other.write_text(dump_yaml({**_yaml_of(recorded), "optimizer": {"name": "Adam", "lr": 0.004}}))
    with pytest.raises(UsageError, match=r"other.yaml: differs from the run in .* at optimizer.lr; pass that run's own "
                                         r"config"):
        reproduce_config(other, against=recorded)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda e, t: reproduce(e, trial="nope"), r"^--trial: unknown config id 'nope'; use one of: blowup, decay, "),
        (lambda e, t: reproduce(e), r"^--trial: is required for an experiment; name the config to reproduce"),
        (lambda e, t: reproduce(e, trial="steady", seeds=[7]), r"^--seeds: config 'steady' has no recorded seed 7; "
                                                                r"use some of: 0, 1, 2$"),
        (lambda e, t: reproduce(e, trial="steady", tolerance=-1.0), r"^--tolerance: must be a finite number >= 0"),
        (lambda e, t: reproduce(e, trial="steady", against=e), r"^--against: applies to a run config only"),
        (lambda e, t: reproduce(t), r"is a directory but not an experiment; pass an experiment directory"),
        (lambda e, t: reproduce(t / "none.yaml"), r"none.yaml: does not exist; pass the path of a YAML file"),
        (lambda e, t: reproduce(seed_dir(e, "steady", 0) / "config.yaml", trial="steady"),
         r"^--trial: applies to an experiment only"),
        (lambda e, t: reproduce(seed_dir(e, "steady", 0) / "config.yaml", against=t),
         r"^--against .*: is not a run directory \(no result.json and config.yaml\); pass a directory made by"),
        (lambda e, t: reproduce(seed_dir(e, "steady", 0) / "config.yaml", against=seed_dir(e, "steady", 0),
                                seeds=[1]), r"^--seeds: the run in .* has no recorded seed 1; use some of: 0$"),
        (lambda e, t: reproduce(e, trial="steady", out=e), r"^--out .*: already exists and is not an empty directory"),
    ],
)
def test_bad_inputs_are_usage_errors_before_any_training(experiment, tmp_path, call, match):
    with pytest.raises(UsageError, match=match):
        call(experiment, tmp_path)
