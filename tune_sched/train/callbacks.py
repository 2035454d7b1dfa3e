"""The small Lightning callbacks a trial adds: loss-weight scheduling, atomic checkpoints, the epoch hook, and the
check that monitored metrics are really logged."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Checkpoint

from tune_sched.errors import UsageError
from tune_sched.train.rng import rng_state, set_rng_state

__all__ = ["EpochHook", "LastCheckpoint", "LossWeightsCallback", "MonitorCheck"]


class LossWeightsCallback(pl.Callback):
    """Keep ``module.loss_weights`` equal to a LossScheduler's weights; step it after each validation.

    Its state (the scheduler's) is saved in checkpoints, so a resumed run continues with the same weights.
    """

    def __init__(self, scheduler: Any) -> None:
        self.scheduler = scheduler

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        pl_module.loss_weights = dict(self.scheduler.weights)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or (trainer.current_epoch + 1) % trainer.check_val_every_n_epoch:
            return  # no fresh validation metrics this epoch
        self.scheduler.step(trainer.current_epoch, dict(trainer.callback_metrics))
        pl_module.loss_weights = dict(self.scheduler.weights)

    def state_dict(self) -> dict[str, Any]:
        return {"scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.scheduler.load_state_dict(state_dict["scheduler"])


class LastCheckpoint(Checkpoint):
    """Save ``last.ckpt`` at every epoch end, atomically (a kill mid-write leaves the previous one intact).

    The checkpoint also holds the global RNG states (torch, numpy, random), restored on resume, so a resumed run
    shuffles its data exactly as an uninterrupted one. Being a ``Checkpoint``, Lightning runs it after the other
    callbacks (early stopping included), so the saved state is the epoch's final state.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        trainer.save_checkpoint(tmp, weights_only=False)
        os.replace(tmp, self.path)

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           checkpoint: dict[str, Any]) -> None:
        checkpoint["tune_sched_rng"] = rng_state()

    def on_load_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           checkpoint: dict[str, Any]) -> None:
        if "tune_sched_rng" in checkpoint:
            set_rng_state(checkpoint["tune_sched_rng"])


class EpochHook(pl.Callback):
    """Call ``hook(epoch, metrics) -> stop`` at every epoch end (after recording); True stops the fit (pruned)."""

    def __init__(self, hook: Callable[[int, dict[str, float]], bool]) -> None:
        self.hook = hook
        self.stopped_by_hook = False

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        if self.hook(trainer.current_epoch, metrics):
            self.stopped_by_hook = True
            trainer.should_stop = True


class MonitorCheck(pl.Callback):
    """Fail early, with the metrics the module does log, when a monitored metric is never logged.

    Validation metrics are checked after the sanity-check batch (before any training); others after the first
    training epoch, before Lightning would step a ReduceLROnPlateau on them.
    """

    def __init__(self, monitors: Iterable[tuple[str, str]]) -> None:
        self.monitors = list(monitors)  # (key path in the config, metric name)
        self._checked_after_training = False

    def on_sanity_check_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._check(trainer, only_validation=True)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._checked_after_training:
            self._checked_after_training = True
            self._check(trainer, only_validation=False)

    def _check(self, trainer: pl.Trainer, *, only_validation: bool) -> None:
        logged = sorted(k for k in trainer.callback_metrics if not k.endswith("_step"))
        for path, metric in self.monitors:
            if only_validation and not metric.startswith("val"):
                continue
            if metric not in trainer.callback_metrics:
                raise UsageError(
                    f"monitors {metric!r}, which the module does not log",
                    path=path, fix=f"monitor one of the logged metrics: {', '.join(logged) or '(none)'}",
                )
