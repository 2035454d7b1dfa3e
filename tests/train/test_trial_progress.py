"""What `tune-sched run` prints: the header, the epoch lines, warnings as notes, and the summary."""

from __future__ import annotations

import io
import math
import warnings

import pytest
from tests.train.trial_configs import tiny

from tune_sched.config.run_config import RunConfig
from tune_sched.train.progress import EpochPrinter, warnings_as_notes
from tune_sched.train.trial import TrialResult

CONFIG = RunConfig.from_dict(tiny(lr_scheduler={"name": "StepLR", "step_size": 2}, trainer={"max_epochs": 12}))


def printed(printer: EpochPrinter, *epochs: dict[str, float]) -> list[str]:
    printer.stream = io.StringIO()
    for epoch, metrics in enumerate(epochs):
        assert printer(epoch, metrics) is False
    return [line.rsplit("  (", 1)[0] for line in printer.stream.getvalue().splitlines()]  # drop the timing


def test_header_names_task_seed_optimizer_schedule_and_output():
    assert EpochPrinter(CONFIG).header("runs/x") == "training tiny on seed 0: Adam lr 0.01, StepLR, 12 epochs -> runs/x"


def test_epoch_lines_show_train_loss_then_the_objective_then_validation_metrics_and_mark_new_bests():
    metrics = {"val_spectrum": 0.25, "train_field": 9.0, "val_loss": 0.5, "train_loss": 0.75, "lr-Adam": 0.1}
    lines = printed(EpochPrinter(CONFIG), metrics, {**metrics, "val_loss": 0.6}, {**metrics, "val_loss": math.nan},
                    {**metrics, "val_loss": 0.123456})
    assert lines == [
        "epoch  1/12  train_loss 0.75  val_loss 0.5*  val_spectrum 0.25",
        "epoch  2/12  train_loss 0.75  val_loss 0.6  val_spectrum 0.25",
        "epoch  3/12  train_loss 0.75  val_loss nan  val_spectrum 0.25",
        "epoch  4/12  train_loss 0.75  val_loss 0.1235*  val_spectrum 0.25",
    ]


def test_a_max_mode_objective_marks_increases():
    config = RunConfig.from_dict(tiny(metric="val_acc", mode="max"))
    assert printed(EpochPrinter(config), {"val_acc": 0.5}, {"val_acc": 0.7}, {"val_acc": 0.6}) == [
        "epoch 1/3  val_acc 0.5*", "epoch 2/3  val_acc 0.7*", "epoch 3/3  val_acc 0.6"]


@pytest.mark.parametrize(("fields", "expected"), [
    ({"status": "completed", "best_metric": 0.25, "best_epoch": 3, "final_metric": 0.5},
     ["completed: 5 epochs (20 steps) in 1.5 s; best val_loss 0.25 at epoch 4, final 0.5",
      "results in out (epochs.parquet, steps.parquet, result.json)"]),
    ({"status": "failed", "failed_epoch": 2, "reason": "RuntimeError: boom", "best_metric": 0.25, "best_epoch": 0,
      "final_metric": 0.3},
     ["failed in epoch 3: 5 epochs (20 steps) in 1.5 s; best val_loss 0.25 at epoch 1, final 0.3",
      "reason: RuntimeError: boom", "results in out (epochs.parquet, steps.parquet, result.json)"]),
    ({"status": "diverged", "diverged_step": 7, "reason": "train loss became nan at step 7"},
     ["diverged at step 7: 5 epochs (20 steps) in 1.5 s; no finite val_loss",
      "reason: train loss became nan at step 7", "results in out (epochs.parquet, steps.parquet, result.json)"]),
    ({"status": "pruned", "reason": "stopped by the search's pruner", "best_metric": 1.0, "best_epoch": 4,
      "final_metric": 1.0},
     ["pruned: 5 epochs (20 steps) in 1.5 s; best val_loss 1 at epoch 5, final 1",
      "results in out (epochs.parquet, steps.parquet, result.json)"]),
])
def test_summary(fields, expected):
    result = TrialResult(config_id="run", seed=0, epochs_run=5, steps_run=20, wall_time_s=1.5, **fields)
    assert EpochPrinter(CONFIG).summary(result, "out").splitlines() == expected


def test_warnings_become_one_line_notes_as_they_happen():
    stream = io.StringIO()
    with warnings_as_notes(stream) as shown:
        warnings.warn("precision 16-mixed needs a CUDA GPU;\n  training in 32-true", UserWarning, stacklevel=1)
    assert stream.getvalue() == "note: precision 16-mixed needs a CUDA GPU; training in 32-true\n"
    assert shown == ["precision 16-mixed needs a CUDA GPU; training in 32-true"]
