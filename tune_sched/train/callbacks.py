"""The small Lightning callbacks a trial adds: loss-weight scheduling, atomic checkpoints, the epoch hook, the
trial's clock, and the check that monitored metrics are really logged."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Checkpoint

from tune_sched.core.errors import UsageError, did_you_mean
from tune_sched.train.rng import rng_state, set_rng_state

__all__ = ["EpochHook", "LastCheckpoint", "LossWeightsCallback", "MonitorCheck", "SaveSchedule", "TrialClock"]


class SaveSchedule:
    """Which epoch ends write the trial's tables and ``last.ckpt``: every one (``every_s=0``), or the first one at
    least ``every_s`` seconds after the previous save.

    The recorder and the checkpoint ask at the same epoch end and get the same answer, so the tables on disk always
    hold the rows the checkpoint covers. A crash loses at most ``every_s`` seconds of training, which the resumed
    run repeats exactly; the tables are written once more when the trial ends, whatever happened.
    """

    def __init__(self, every_s: float = 0.0) -> None:
        if every_s < 0:
            raise ValueError(f"every_s must be >= 0, but got {every_s}")
        self.every_s = every_s
        self._last = time.monotonic()
        self._decided: tuple[int, bool] | None = None  # (epoch, due)

    def due(self, trainer: pl.Trainer) -> bool:
        """True when this epoch end saves (asked again at the same epoch, the answer does not change)."""
        epoch = trainer.current_epoch
        if self._decided is None or self._decided[0] != epoch:
            now = time.monotonic()
            due = self.every_s <= 0 or now - self._last >= self.every_s
            if due:
                self._last = now
            self._decided = (epoch, due)
        return self._decided[1]


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
    """Save ``last.ckpt`` at the epoch ends ``saves`` picks (default every one), atomically (a kill mid-write leaves
    the previous one intact).

    The checkpoint also holds the global RNG states (torch, numpy, random), restored on resume, so a resumed run
    shuffles its data exactly as an uninterrupted one. Being a ``Checkpoint``, Lightning runs it after the other
    callbacks (recorder, loss weights, early stopping, the epoch hook), so the saved state is the epoch's final
    state, and an exception raised by one of them at epoch K leaves the checkpoint of epoch K - 1.
    """

    def __init__(self, path: str | Path, saves: SaveSchedule | None = None) -> None:
        self.path = Path(path)
        self.saves = saves or SaveSchedule()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.saves.due(trainer):
            return
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


class TrialClock(pl.Callback):
    """The seconds a trial has spent training: its own wall time, carried across a resume.

    Time inside :meth:`excluded` (the epoch hook: a search's reporting, or in lockstep the wait for the other
    seeds) does not count. The total so far is saved in checkpoints, so a resumed trial's ``elapsed`` includes the
    interrupted run's time up to its last checkpoint.
    """

    def __init__(self) -> None:
        self._start = time.perf_counter()
        self._excluded = 0.0
        self._before = 0.0  # from the checkpoint a resumed run starts at

    @property
    def elapsed(self) -> float:
        """Seconds trained so far (this process's share plus the resumed checkpoint's)."""
        return self._before + time.perf_counter() - self._start - self._excluded

    @contextmanager
    def excluded(self) -> Iterator[None]:
        """Time spent inside this block is not training time."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self._excluded += time.perf_counter() - start

    def state_dict(self) -> dict[str, Any]:
        return {"elapsed": self.elapsed}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._before = float(state_dict.get("elapsed", 0.0))


class EpochHook(pl.Callback):
    """Call ``hook(epoch, metrics) -> stop`` at every epoch end (after recording); True stops the fit (pruned).

    A stop asked at the last epoch (``max_epochs``), or at an epoch where the trainer stops anyway (early
    stopping), cuts nothing short: the run is not marked as stopped by the hook, so it stays ``completed``. With a
    ``clock``, the time spent in the hook is excluded from the trial's training time, and a hook with a
    ``use_clock(clock)`` method (:class:`~tune_sched.train.progress.EpochPrinter`) is given it.
    """

    def __init__(self, hook: Callable[[int, dict[str, float]], bool], *, clock: TrialClock | None = None) -> None:
        self.hook = hook
        self.clock = clock
        self.stopped_by_hook = False
        if clock is not None and callable(getattr(hook, "use_clock", None)):
            hook.use_clock(clock)  # a printer shows the trial's own seconds, the ones its result reports

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        if self.clock is None:
            stop = self.hook(trainer.current_epoch, metrics)
        else:
            with self.clock.excluded():
                stop = self.hook(trainer.current_epoch, metrics)
        last = trainer.current_epoch + 1 >= (trainer.max_epochs or 0) > 0 or trainer.should_stop
        if stop and not last:
            self.stopped_by_hook = True
            trainer.should_stop = True


class MonitorCheck(pl.Callback):
    """Fail early, naming the metrics the module does log, when a monitored metric is never logged.

    Validation metrics (``val*``) are checked after the sanity-check batch, before any training. Others (e.g.
    ``train_loss``, which exists only once an epoch has trained) are checked at the end of the first training
    epoch, before Lightning would step a ReduceLROnPlateau or an EarlyStopping on them; a validation metric that
    the sanity check could not see (no sanity check ran) is checked at the end of the first epoch that validated.
    """

    def __init__(self, monitors: Iterable[tuple[str, str]]) -> None:
        self.monitors = list(monitors)  # (key path in the config, metric name)
        self._verified: set[str] = set()

    def on_sanity_check_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.check(trainer.callback_metrics, sanity=True)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        validated = (trainer.current_epoch + 1) % trainer.check_val_every_n_epoch == 0
        self.check(trainer.callback_metrics, validated=validated)

    def check(self, metrics: Any, *, sanity: bool = False, validated: bool = False) -> None:
        """After the sanity check (its validation metrics) or at an epoch end (``validated``: this epoch ran a
        validation): raise a UsageError for a monitored metric missing from ``metrics``."""
        if sanity:
            due = [(p, m) for p, m in self.monitors if _is_validation(m)]
        else:
            due = [(p, m) for p, m in self.monitors
                   if m not in self._verified and (validated or not _is_validation(m))]
        logged = sorted(k for k in metrics if not k.endswith("_step"))
        for path, metric in due:
            if metric not in metrics:
                raise UsageError(
                    f"monitors {metric!r}, which the module does not log{did_you_mean(metric, logged)}",
                    path=path, fix=f"monitor one of the logged metrics: {', '.join(logged) or '(none)'}",
                )
            self._verified.add(metric)


def _is_validation(metric: str) -> bool:
    return metric.startswith("val")
