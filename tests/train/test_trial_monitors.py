"""Monitored metrics (ReduceLROnPlateau, early stopping, the objective) are checked before they are used."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from tests.train.trial_configs import tiny

from tune_sched.core.errors import UsageError
from tune_sched.train.trial import run_trial

PLATEAU = {"name": "ReduceLROnPlateau", "factor": 0.5, "patience": 0}
VAL_LOGGED = "val_field, val_loss, val_spectrum"


class Hook:
    """An epoch hook that counts its calls (one per trained epoch)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, epoch: int, metrics: dict[str, float]) -> bool:
        self.calls += 1
        return False


@pytest.mark.parametrize(("config", "message"), [
    (tiny(lr_scheduler={**PLATEAU, "monitor": "val_los"}),
     rf"^lr_scheduler.monitor: monitors 'val_los', which the module does not log \(did you mean 'val_loss'\?\); "
     rf"monitor one of the logged metrics: {VAL_LOGGED}$"),
    (tiny(trainer={"early_stopping": {"monitor": "val_accuracy"}}),
     rf"^trainer.early_stopping.monitor: monitors 'val_accuracy', which the module does not log; "
     rf"monitor one of the logged metrics: {VAL_LOGGED}$"),
    (tiny(metric="val_mse"),
     rf"^metric: monitors 'val_mse', which the module does not log \(did you mean 'val_loss'\?\); monitor one "
     rf"of the logged metrics: {VAL_LOGGED}$"),
    (tiny(loss_scheduler={"mode": "adaptive", "monitor": "val_spectral"}),
     rf"^loss_scheduler.monitor: monitors 'val_spectral', which the module does not log \(did you mean "
     rf"'val_spectrum'\?\); monitor one of the logged metrics: {VAL_LOGGED}$"),
])
def test_an_unlogged_validation_monitor_fails_before_training(tmp_path, config, message):
    hook = Hook()
    with pytest.raises(UsageError, match=message):
        run_trial(config, seed=0, out_dir=tmp_path, epoch_hook=hook)
    assert hook.calls == 0 and not (tmp_path / "result.json").exists()
    assert not (tmp_path / "last.ckpt").exists()


def example(**blocks):
    """A run config for ExampleRegressor (logs train_loss and val_loss; 4 steps per epoch)."""
    return {"module": "tune_sched.train.tasks.examples:ExampleRegressor",
            "module_kwargs": {"n_train": 16, "batch_size": 4}, "optimizer": {"name": "Adam", "lr": 0.01}, **blocks}


def test_an_unlogged_train_monitor_fails_after_the_first_epoch_before_the_scheduler_steps(tmp_path):
    """``train_*`` metrics exist only once an epoch has trained; the check comes before Lightning reads them."""
    hook = Hook()
    config = example(lr_scheduler={**PLATEAU, "monitor": "train_los"})
    with pytest.raises(UsageError, match=r"^lr_scheduler.monitor: monitors 'train_los', which the module does not "
                                         r"log \(did you mean 'train_loss'\?\); monitor one of the logged metrics: "
                                         r"train_loss, val_loss$"):
        run_trial(config, seed=0, out_dir=tmp_path, epoch_hook=hook)
    assert hook.calls == 0 and not (tmp_path / "last.ckpt").exists()


def test_plateau_on_a_logged_train_metric_runs_and_reduces_the_lr(tmp_path):
    # threshold 10 (relative): no epoch counts as an improvement (not even the first: best * (1 - 10) = -inf)
    config = example(lr_scheduler={**PLATEAU, "monitor": "train_loss", "threshold": 10.0}, trainer={"max_epochs": 3})
    result = run_trial(config, seed=0, out_dir=tmp_path)
    assert result.status == "completed"
    assert list(pq.read_table(tmp_path / "epochs.parquet")["lr_group_0"].to_pylist()) == [0.01, 0.005, 0.0025]


def test_validation_every_second_epoch_is_not_mistaken_for_a_missing_metric(tmp_path):
    config = tiny(trainer={"max_epochs": 4, "check_val_every_n_epoch": 2,
                           "early_stopping": {"monitor": "val_loss", "patience": 3}},
                  lr_scheduler={**PLATEAU, "monitor": "val_loss", "frequency": 2, "threshold": 10.0})
    result = run_trial(config, seed=0, out_dir=tmp_path)
    assert result.status == "completed" and result.epochs_run == 4
    # stepped after the validations of epochs 1 and 3 only
    assert list(pq.read_table(tmp_path / "epochs.parquet")["lr_group_0"].to_pylist()) == [0.01, 0.01, 0.005, 0.005]


@pytest.mark.parametrize(("blocks", "message"), [
    ({"lr_scheduler": {**PLATEAU, "monitor": "val_loss"}, "trainer": {"check_val_every_n_epoch": 2}},
     r"^lr_scheduler.frequency: is 1, but validation runs every 2 epochs \(trainer.check_val_every_n_epoch\), so "
     r"ReduceLROnPlateau would step without 'val_loss'; set frequency to a multiple of 2$"),
    ({"lr_scheduler": {**PLATEAU, "monitor": "val_loss", "interval": "step"}},
     r"^lr_scheduler.interval: is 'step', but ReduceLROnPlateau's monitor 'val_loss' is a validation metric, logged "
     r"once per validation, not at every step; use interval: epoch \(with a warmup, give it in epochs\)$"),
])
def test_a_plateau_schedule_stepped_without_its_validation_metric_is_refused(blocks, message):
    with pytest.raises(UsageError, match=message):
        run_trial(tiny(**blocks), seed=0)
