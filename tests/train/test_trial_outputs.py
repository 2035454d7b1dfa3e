"""run_trial on the tiny task: the files and columns it writes, and that a run is deterministic."""

from __future__ import annotations

import json
import math

import pyarrow.parquet as pq
import pytest
import yaml
from tests.train.trial_configs import tiny

from tune_sched.config.run_config import RunConfig
from tune_sched.train.trial import OUTPUT_FILES, run_trial

LOSS_SCHEDULER = {"mode": "adaptive", "warmup_epochs": 0, "patience": 1, "min_delta": 10.0}
"""Never sees an improvement of 10, so the weights move after every validation from the second on."""


def tables(out):
    return pq.read_table(out / "steps.parquet").to_pandas(), pq.read_table(out / "epochs.parquet").to_pandas()


def test_writes_config_tables_result_and_checkpoint(tmp_path):
    result = run_trial(tiny(lr_scheduler={"name": "StepLR", "step_size": 1, "gamma": 0.5},
                            loss_scheduler=LOSS_SCHEDULER), seed=4, out_dir=tmp_path, config_id="c1")
    assert result.status == "completed" and result.reason == ""
    assert {p.name for p in tmp_path.iterdir()} == {"config.yaml", *OUTPUT_FILES}
    steps, epochs = tables(tmp_path)
    assert (result.epochs_run, result.steps_run) == (3, 12) == (len(epochs), len(steps))
    assert list(steps["step"]) == list(range(12)) and list(epochs["epoch"]) == [0, 1, 2]
    assert set(steps["config_id"]) == {"c1"} and set(steps["seed"]) == {4}
    assert {"train_loss", "train_field", "train_spectrum", "lr", "lr_group_0", "grad_norm", "weight_field",
            "weight_spectrum"} <= set(steps.columns)
    assert {"train_loss", "val_loss", "val_field", "val_spectrum", "lr_group_0", "weight_field",
            "weight_spectrum"} <= set(epochs.columns)
    assert list(epochs["lr_group_0"]) == pytest.approx([0.01, 0.005, 0.0025])  # the LR each epoch trained with
    assert list(steps["lr"]) == pytest.approx([0.01] * 4 + [0.005] * 4 + [0.0025] * 4)
    # the weights each step and epoch trained with: moved after the second validation
    assert list(epochs["weight_spectrum"]) == pytest.approx([0.0, 0.0, 0.1])
    assert list(steps["weight_spectrum"]) == pytest.approx([0.0] * 8 + [0.1] * 4)
    on_disk = json.loads((tmp_path / "result.json").read_text())
    assert on_disk["status"] == "completed" and on_disk["best_metric"] == pytest.approx(result.best_metric)
    assert RunConfig.from_dict(yaml.safe_load((tmp_path / "config.yaml").read_text())).seed == 4


def test_best_and_final_metric_come_from_the_epochs_table(tmp_path):
    result = run_trial(tiny(), seed=0, out_dir=tmp_path)
    _, epochs = tables(tmp_path)
    assert result.final_metric == epochs["val_loss"].iloc[-1]
    assert result.best_metric == epochs["val_loss"].min()
    assert result.best_epoch == int(epochs["val_loss"].idxmin())
    assert result.precision == "32-true" and result.wall_time_s > 0


def test_train_loss_with_accumulated_gradients_is_the_mean_over_micro_batches(tmp_path):
    run_trial(tiny(trainer={"accumulate_grad_batches": 2}), seed=0, out_dir=tmp_path)
    steps, _ = tables(tmp_path)
    assert len(steps) == 3 * 2  # 4 batches per epoch, 2 per optimizer step
    assert list(steps["train_loss"]) == pytest.approx(list(steps["train_field"]), rel=1e-6)  # loss == field here


def test_same_config_and_seed_give_identical_tables(tmp_path):
    config = tiny(lr_scheduler={"name": "OneCycleLR", "max_lr": 0.02}, loss_scheduler=LOSS_SCHEDULER)
    first, second = run_trial(config, seed=7, out_dir=tmp_path / "a"), run_trial(config, seed=7, out_dir=tmp_path / "b")
    for a, b in zip(tables(tmp_path / "a"), tables(tmp_path / "b")):
        assert a.equals(b)
    assert first.best_metric == second.best_metric
    other_steps, _ = tables(tmp_path / "a")
    run_trial(config, seed=8, out_dir=tmp_path / "c")
    assert not tables(tmp_path / "c")[0]["train_loss"].equals(other_steps["train_loss"])


def test_a_new_run_replaces_the_outputs_of_an_earlier_one(tmp_path):
    run_trial(tiny(), seed=0, out_dir=tmp_path)
    result = run_trial(tiny(trainer={"max_epochs": 1}), seed=0, out_dir=tmp_path, checkpoint=False)
    steps, epochs = tables(tmp_path)
    assert result.epochs_run == len(epochs) == 1 and len(steps) == 4
    assert not (tmp_path / "last.ckpt").exists()


def test_without_out_dir_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_trial(tiny(trainer={"max_epochs": 1}), seed=0)
    assert result.status == "completed" and math.isfinite(result.best_metric)
    assert list(tmp_path.iterdir()) == []
