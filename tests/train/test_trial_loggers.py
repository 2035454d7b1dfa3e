"""``trainer.logger``: Lightning's own TensorBoard and CSV loggers get each run's metrics, named by experiment,
config and seed, read back from the files they wrote (the Parquet tables stay the record)."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tune_sched.config.loggers import parse_loggers
from tune_sched.config.run_config import RunConfig
from tune_sched.core.errors import UsageError
from tune_sched.train.loggers import check_loggers
from tune_sched.train.trial import run_trial

CONFIG = {"task": "tiny", "task_kwargs": {"resolution": 8, "n_train": 16, "n_val": 8},
          "trainer": {"max_epochs": 2, "batch_size": 4, "logger": ["csv", {"name": "tensorboard"}]}}


def tensorboard_scalars(log_dir: Path, tag: str) -> list[float]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir))
    events.Reload()
    return [e.value for e in events.Scalars(tag)]


def test_csv_and_tensorboard_get_every_epochs_metrics(tmp_path):
    out = tmp_path / "best-seed3"
    result = run_trial(CONFIG, seed=3, out_dir=out)
    assert result.status in ("completed", "diverged"), result.reason
    val = pq.read_table(out / "epochs.parquet").column("val_loss").to_pylist()
    assert len(val) == 2

    run_dir = out / "logs" / "best-seed3" / "run-seed3"  # <log root>/<name>/<config id>-seed<N>
    with open(run_dir / "metrics.csv", newline="") as fh:
        logged = [float(row["val_loss"]) for row in csv.DictReader(fh) if row.get("val_loss")]
    assert logged == pytest.approx(val, rel=1e-6)
    assert tensorboard_scalars(run_dir, "val_loss") == pytest.approx(val, rel=1e-6)


@pytest.mark.slow
def test_a_search_names_each_seeds_run_by_experiment_config_and_seed(tmp_path):
    from tune_sched.search.config_runner import ConfigRunner, SearchContext

    experiment = tmp_path / "plateau-study"
    ctx = SearchContext(experiment_dir=str(experiment), seeds=(0, 1), metric="val_loss", mode="min")
    runner = ConfigRunner(ctx, {"run_config": {**CONFIG, "trainer": {**CONFIG["trainer"], "logger": "csv"}}}, "c0ffee")
    while not runner.step().get("done"):
        pass
    runner.finish()
    runs = sorted(p.relative_to(experiment / "logs").as_posix() for p in experiment.glob("logs/*/*/metrics.csv"))
    assert runs == ["plateau-study/c0ffee-seed0/metrics.csv", "plateau-study/c0ffee-seed1/metrics.csv"]


@pytest.mark.parametrize("value,expected", [
    (None, []),
    ("csv", [{"name": "csv"}]),
    ({"name": "tensorboard", "save_dir": "tb"}, [{"name": "tensorboard", "save_dir": "tb"}]),
    (["csv", {"name": "mlflow"}], [{"name": "csv"}, {"name": "mlflow"}]),
])
def test_logger_values(value, expected):
    assert parse_loggers(value) == expected


@pytest.mark.parametrize("value,message", [
    ("tensorbaord", r"trainer\.logger\.name: unknown logger 'tensorbaord' \(did you mean 'tensorboard'\?\); use one "
                    r"of: csv, mlflow, tensorboard, wandb"),
    ([{"save_dir": "x"}], r"trainer\.logger\[0\]: has no 'name'; name the logger"),
    ([3], r"trainer\.logger\[0\]: must be a logger name or a mapping with 'name', but got int"),
])
def test_bad_logger_values(value, message):
    with pytest.raises(UsageError, match=message):
        RunConfig.from_dict({"trainer": {"logger": value}})


def test_an_option_the_logger_does_not_take_is_named():
    with pytest.raises(UsageError, match=r"^trainer\.logger\.save_dri: unknown CSVLogger option 'save_dri' \(did you "
                                         r"mean 'save_dir'\?\)"):
        check_loggers(parse_loggers({"name": "csv", "save_dri": "x"}))


@pytest.mark.skipif(importlib.util.find_spec("wandb") is not None, reason="wandb is installed here")
def test_a_missing_package_is_one_line_with_the_install_command():
    with pytest.raises(UsageError, match=r"^trainer\.logger: the wandb logger needs the package 'wandb', which is not "
                                         r"installed; pip install 'tune-sched\[wandb\]'"):
        check_loggers(parse_loggers("wandb"))


def test_no_logger_leaves_the_config_as_before():
    assert "logger" not in RunConfig.from_dict({"task": "tiny"}).to_dict()["trainer"]
