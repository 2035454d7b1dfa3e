"""A run interrupted (a crash, or Ctrl+C) and resumed from its last checkpoint continues exactly like an
uninterrupted one: the same LR at every step, the same loss weights, the same losses, no duplicated or missing
rows."""

from __future__ import annotations

import json
import signal
import time

import pyarrow.parquet as pq
import pytest
import torch
from tests.train.trial_configs import tiny

from tune_sched.core.errors import UsageError
from tune_sched.train.trial import run_trial

SCHEDULES = {
    "epoch": {"name": "StepLR", "step_size": 1, "gamma": 0.7},
    "step": {"name": "OneCycleLR", "max_lr": 0.02},
}
# min_delta 10 is never reached: the weights move after every validation from the second on
ADAPTIVE = {"mode": "adaptive", "warmup_epochs": 0, "patience": 1, "min_delta": 10.0}
EPOCHS, STOP_AT = 5, 2


def config(interval: str) -> dict:
    return tiny(lr_scheduler=SCHEDULES[interval], loss_scheduler=ADAPTIVE, trainer={"max_epochs": EPOCHS})


def tables(out):
    return [pq.read_table(out / f"{name}.parquet").to_pandas() for name in ("steps", "epochs")]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The reference run of each schedule, trained once for the module."""
    runs = {}
    for interval in SCHEDULES:
        out = tmp_path_factory.mktemp(f"full-{interval}")
        runs[interval] = (run_trial(config(interval), seed=3, out_dir=out), tables(out))
    return runs


class Interrupt:
    """An epoch hook raising ``error`` at the end of epoch ``epoch`` (before that epoch's checkpoint)."""

    def __init__(self, error: type[BaseException], epoch: int = STOP_AT) -> None:
        self.error, self.epoch = error, epoch

    def __call__(self, epoch: int, metrics: dict[str, float]) -> bool:
        if epoch == self.epoch:
            raise self.error("stop here")
        return False


def saved_elapsed(out) -> float:
    checkpoint = torch.load(out / "last.ckpt", weights_only=False)
    return next(state["elapsed"] for key, state in checkpoint["callbacks"].items() if "TrialClock" in key)


@pytest.mark.parametrize("interval", list(SCHEDULES))
def test_a_crashed_run_resumes_exactly(tmp_path, uninterrupted, interval):
    crashed = run_trial(config(interval), seed=3, out_dir=tmp_path, epoch_hook=Interrupt(RuntimeError))
    assert (crashed.status, crashed.failed_epoch, crashed.reason) == ("failed", STOP_AT, "RuntimeError: stop here")
    assert crashed.epochs_run == STOP_AT + 1  # the epoch that crashed in its hook was recorded, not checkpointed
    before = saved_elapsed(tmp_path)

    resumed = run_trial(config(interval), seed=3, out_dir=tmp_path, resume=True)
    full, (full_steps, full_epochs) = uninterrupted[interval]
    steps, epochs = tables(tmp_path)
    assert steps.equals(full_steps) and epochs.equals(full_epochs)  # LRs, weights, losses, bit for bit
    assert list(epochs["epoch"]) == list(range(EPOCHS)) and list(steps["step"]) == list(range(4 * EPOCHS))
    assert (resumed.status, resumed.epochs_run, resumed.steps_run) == ("completed", EPOCHS, 4 * EPOCHS)
    assert resumed.best_metric == full.best_metric and resumed.final_metric == full.final_metric
    assert resumed.wall_time_s > before > 0  # the interrupted run's time counts


def test_the_reference_runs_really_move_the_lr_and_the_weights(uninterrupted):
    for _, (steps, epochs) in uninterrupted.values():
        assert steps["lr"].nunique() > 1 and epochs["weight_spectrum"].iloc[-1] > 0.2
        assert epochs["weight_spectrum"].iloc[STOP_AT + 1] > epochs["weight_spectrum"].iloc[STOP_AT]


def test_ctrl_c_stays_a_keyboard_interrupt_leaves_no_result_and_resumes_exactly(tmp_path, uninterrupted):
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        run_trial(config("step"), seed=3, out_dir=tmp_path, epoch_hook=Interrupt(KeyboardInterrupt))
    assert signal.getsignal(signal.SIGINT) is handler  # Lightning's SIG_IGN is undone
    assert not (tmp_path / "result.json").exists()  # unfinished
    assert len(tables(tmp_path)[1]) == STOP_AT + 1  # flushed up to the interrupt

    resumed = run_trial(config("step"), seed=3, out_dir=tmp_path, resume=True)
    _, (full_steps, full_epochs) = uninterrupted["step"]
    steps, epochs = tables(tmp_path)
    assert steps.equals(full_steps) and epochs.equals(full_epochs)
    assert json.loads((tmp_path / "result.json").read_text())["status"] == resumed.status == "completed"


def test_resuming_a_finished_run_with_more_epochs_continues_it(tmp_path, uninterrupted):
    short = tiny(lr_scheduler=SCHEDULES["epoch"], loss_scheduler=ADAPTIVE, trainer={"max_epochs": 3})
    run_trial(short, seed=3, out_dir=tmp_path)
    result = run_trial(config("epoch"), seed=3, out_dir=tmp_path, resume=True)
    _, (full_steps, full_epochs) = uninterrupted["epoch"]
    steps, epochs = tables(tmp_path)
    assert result.epochs_run == EPOCHS and steps.equals(full_steps) and epochs.equals(full_epochs)


def test_resume_without_a_checkpoint_starts_afresh(tmp_path):
    run_trial(tiny(), seed=0, out_dir=tmp_path, checkpoint=False)
    result = run_trial(tiny(trainer={"max_epochs": 1}), seed=0, out_dir=tmp_path, resume=True)
    assert result.epochs_run == 1 and len(tables(tmp_path)[1]) == 1


def test_resuming_with_another_config_is_refused(tmp_path):
    run_trial(tiny(trainer={"max_epochs": 1}), seed=0, out_dir=tmp_path)
    changed = tiny(optimizer={"name": "Adam", "lr": 0.02}, trainer={"max_epochs": 1, "batch_size": 8})
    with pytest.raises(UsageError, match=rf"^{tmp_path / 'config.yaml'}: the run being resumed was trained with "
                                         r"another config \(changed: optimizer.lr, trainer.batch_size\); resume "
                                         r"with the same config, or start afresh \(--overwrite\)$"):
        run_trial(changed, seed=0, out_dir=tmp_path, resume=True)
    with pytest.raises(UsageError, match=r"\(changed: seed\)"):
        run_trial(tiny(trainer={"max_epochs": 1}), seed=1, out_dir=tmp_path, resume=True)


def test_resuming_with_fewer_epochs_than_trained_is_refused(tmp_path):
    run_trial(tiny(trainer={"max_epochs": 2}), seed=0, out_dir=tmp_path)
    with pytest.raises(UsageError, match=r"^trainer.max_epochs: is 1, but the run being resumed has trained 2 "
                                         r"epochs; resume with --max-epochs 2 or more, or start afresh "
                                         r"\(--overwrite\)$"):
        run_trial(tiny(trainer={"max_epochs": 1}), seed=0, out_dir=tmp_path, resume=True)


class SlowEpoch:
    """An epoch hook that takes ``seconds`` at the end of epoch ``slow`` and raises at the end of epoch ``crash``."""

    def __init__(self, seconds: float, slow: int, crash: int) -> None:
        self.seconds, self.slow, self.crash = seconds, slow, crash

    def __call__(self, epoch: int, metrics: dict[str, float]) -> bool:
        if epoch == self.slow:
            time.sleep(self.seconds)
        if epoch == self.crash:
            raise RuntimeError("stop here")
        return False


def test_saving_every_few_seconds_resumes_exactly_from_an_older_checkpoint(tmp_path, uninterrupted):
    # Saves only at the first epoch end save_every_s after the start: epoch 1's end (its hook sleeps first). The
    # crash at epoch 3 leaves rows of epochs 0-3 on disk and a checkpoint of epoch 1: rows 2-3 are trained again.
    crashed = run_trial(config("step"), seed=3, out_dir=tmp_path, epoch_hook=SlowEpoch(1.5, slow=0, crash=3),
                        save_every_s=1.0)
    assert crashed.status == "failed" and len(tables(tmp_path)[1]) == 4  # the final write after the crash
    checkpoint = torch.load(tmp_path / "last.ckpt", weights_only=False)
    assert checkpoint["epoch"] == 1  # saved at epoch 1's end only

    resumed = run_trial(config("step"), seed=3, out_dir=tmp_path, resume=True, save_every_s=1.0)
    _, (full_steps, full_epochs) = uninterrupted["step"]
    steps, epochs = tables(tmp_path)
    assert steps.equals(full_steps) and epochs.equals(full_epochs)
    assert resumed.status == "completed"


def test_a_long_save_interval_writes_the_tables_once_at_the_end(tmp_path, monkeypatch):
    from tune_sched.train import recorder

    written = []
    original = recorder.write_table
    monkeypatch.setattr(recorder, "write_table", lambda path, table: (written.append(path.name), original(path, table)))
    run_trial(tiny(trainer={"max_epochs": 4}), seed=0, out_dir=tmp_path, save_every_s=3600)
    assert sorted(written) == ["epochs.parquet", "steps.parquet"] and not (tmp_path / "last.ckpt").exists()
    assert len(tables(tmp_path)[1]) == 4
