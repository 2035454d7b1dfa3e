"""How a trial ends: diverged, failed (an exception, running out of memory), pruned; the precision fallback; and
the flag for an LR schedule that never moved."""

from __future__ import annotations

import json
import math
import warnings

import pyarrow.parquet as pq
import pytest
import torch
from tests.train.trial_configs import tiny, user_module

from tune_sched.train.trial import run_trial


def result_json(out):
    return json.loads((out / "result.json").read_text())


def test_a_nan_loss_ends_the_run_as_diverged_at_its_step(tmp_path):
    result = run_trial(user_module("NaNAt", max_epochs=3, module_kwargs={"step": 5}), seed=0, out_dir=tmp_path)
    assert (result.status, result.diverged_step) == ("diverged", 5)
    assert result.reason == "train loss became nan at step 5"
    steps = pq.read_table(tmp_path / "steps.parquet").to_pandas()
    assert list(steps["step"]) == list(range(6)) and math.isnan(steps["train_loss"].iloc[-1])
    assert result.epochs_run == 1 and result_json(tmp_path)["status"] == "diverged"


def test_a_huge_learning_rate_diverges_the_tiny_task():
    result = run_trial(tiny(optimizer={"name": "SGD", "lr": 1.0e12}), seed=0)
    assert result.status == "diverged" and result.diverged_step is not None and result.diverged_step < 12


def test_an_exception_in_training_fails_the_run_with_its_reason_and_epoch(tmp_path):
    result = run_trial(user_module("CrashAt", max_epochs=3, module_kwargs={"epoch": 1}), seed=0, out_dir=tmp_path)
    assert (result.status, result.failed_epoch) == ("failed", 1)
    assert result.reason == "RuntimeError: boom in training_step"
    assert result.epochs_run == 1 and result.steps_run == 4  # the finished epoch is kept
    assert result_json(tmp_path)["reason"] == result.reason


def test_raise_errors_re_raises_after_recording(tmp_path):
    with pytest.raises(RuntimeError, match="boom in training_step"):
        run_trial(user_module("CrashAt", module_kwargs={"epoch": 0}), seed=0, out_dir=tmp_path, raise_errors=True)
    assert result_json(tmp_path)["status"] == "failed"


def test_running_out_of_memory_fails_with_a_clear_reason():
    result = run_trial(user_module("OutOfMemoryAt", module_kwargs={"epoch": 0}), seed=0)
    assert result.status == "failed" and result.failed_epoch == 0
    assert result.reason == (
        "out of memory (OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB); lower "
        "trainer.batch_size (the task default) or the model size, or train in bf16-mixed / 16-mixed precision on a GPU")


def test_the_epoch_hook_prunes_the_run():
    seen = []
    result = run_trial(tiny(), seed=0, epoch_hook=lambda epoch, metrics: seen.append(metrics) or epoch == 1)
    assert (result.status, result.reason, result.epochs_run) == ("pruned", "stopped by the search's pruner", 2)
    assert {"val_loss", "train_loss"} <= set(seen[0])


@pytest.mark.skipif(torch.cuda.is_available(), reason="the fallback is for machines without a GPU")
@pytest.mark.parametrize("precision", [16, "16-mixed", "16-true"])
def test_16_bit_precision_on_a_cpu_falls_back_to_32_true_with_a_note(precision):
    with pytest.warns(UserWarning, match="needs a CUDA GPU; training in 32-true on the CPU instead"):
        result = run_trial(tiny(trainer={"precision": precision, "max_epochs": 1}), seed=0)
    assert result.status == "completed" and result.precision == "32-true"
    assert result.notes == [f"precision {'16-true' if precision == '16-true' else '16-mixed'} needs a CUDA GPU; "
                            "training in 32-true on the CPU instead (use trainer.precision: bf16-mixed for CPU "
                            "autocast)"]


def test_bf16_mixed_runs_on_a_cpu_as_asked():
    result = run_trial(tiny(trainer={"precision": "bf16", "max_epochs": 1}), seed=0)
    assert result.status == "completed" and result.precision == "bf16-mixed" and result.notes == []


# -- LR liveness ------------------------------------------------------------------------------------------------
STEP_LR = {"name": "StepLR", "step_size": 1, "gamma": 0.1}


def test_a_schedule_never_stepped_under_manual_optimization_is_flagged(tmp_path):
    config = user_module("ManualOptimization", max_epochs=3, lr_scheduler=STEP_LR)
    with pytest.warns(UserWarning, match=r"the LR never moved in 12 optimizer steps although StepLR should have "
                                         r"changed it: is the scheduler stepped\?"):
        result = run_trial(config, seed=0, out_dir=tmp_path)
    assert result.status == "completed" and result.lr_stuck
    assert result_json(tmp_path)["lr_stuck"] is True
    assert "self.lr_schedulers().step()" in result.notes[0]


def test_a_schedule_stepped_by_a_manual_optimization_module_is_not_flagged(tmp_path):
    config = user_module("ManualOptimization", max_epochs=3, lr_scheduler=STEP_LR,
                         module_kwargs={"step_scheduler": True})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no liveness warning
        result = run_trial(config, seed=0, out_dir=tmp_path)
    assert not result.lr_stuck and result.notes == []
    lrs = pq.read_table(tmp_path / "steps.parquet")["lr"].to_pylist()
    assert lrs == pytest.approx([0.01] * 4 + [0.001] * 4 + [0.0001] * 4)


@pytest.mark.filterwarnings("ignore:lr_scheduler. the LR changes only after the run")  # StepLR(5) in 3 epochs
@pytest.mark.parametrize("lr_scheduler", [None, {"name": "StepLR", "step_size": 5}])
def test_a_schedule_that_should_not_have_moved_yet_is_not_flagged(lr_scheduler):
    result = run_trial(user_module("ManualOptimization", max_epochs=3, lr_scheduler=lr_scheduler), seed=0)
    assert not result.lr_stuck and result.notes == []
