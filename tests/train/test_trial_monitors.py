"""Monitored metrics (ReduceLROnPlateau, early stopping, the objective) are checked before they are used."""

from __future__ import annotations

import pytest
from conftest import tiny, user_module

from tune_sched.errors import UsageError
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
     rf"^metric: monitors 'val_mse', which the module does not log; monitor one of the logged metrics: "
     rf"{VAL_LOGGED}$"),
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


def test_an_unlogged_train_monitor_fails_after_the_first_epoch_before_the_scheduler_steps(tmp_path):
    """``train_*`` metrics exist only once an epoch has trained; the check comes before Lightning reads them."""
    hook = Hook()
    config = user_module("OwnOptimizer", lr_scheduler={**PLATEAU, "monitor": "train_los"})
    with pytest.raises(UsageError, match=r"^lr_scheduler.monitor: monitors 'train_los', which the module does not "
                                         r"log \(did you mean 'train_loss'\?\); monitor one of the logged metrics: "
                                         r"train_loss, val_loss$"):
        run_trial(config, seed=0, out_dir=tmp_path, epoch_hook=hook)
    assert hook.calls == 0 and not (tmp_path / "last.ckpt").exists()


def test_plateau_on_a_logged_train_metric_runs_and_reduces_the_lr():
    config = user_module("ManualOptimization", max_epochs=3, module_kwargs={"step_scheduler": False},
                         lr_scheduler={**PLATEAU, "monitor": "train_loss", "threshold": 10.0})
    config["module"] = config["module"].replace("ManualOptimization", "OwnOptimizer")
    lrs = []
    result = run_trial(config, seed=0, epoch_hook=lambda e, m: lrs.append(e) or False)
    assert result.status == "completed" and lrs == [0, 1, 2]


def test_validation_every_second_epoch_is_not_mistaken_for_a_missing_metric(tmp_path):
    config = tiny(trainer={"max_epochs": 4, "check_val_every_n_epoch": 2,
                           "early_stopping": {"monitor": "val_loss", "patience": 3}},
                  lr_scheduler={**PLATEAU, "monitor": "val_loss"})
    result = run_trial(config, seed=0, out_dir=tmp_path)
    assert result.status == "completed" and result.epochs_run == 4
