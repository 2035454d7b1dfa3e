"""run_trial: train one run config on one seed with Lightning, recording everything to Parquet.

This is the one training path: ``tune-sched run``, every search worker and ``reproduce`` call it.
"""

from __future__ import annotations

import functools
import math
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from tune_sched.config.run_config import RunConfig, load_run_config
from tune_sched.errors import UsageError

__all__ = ["TrialResult", "Status", "coerce_run_config", "run_trial"]

Status = Literal["completed", "pruned", "failed", "diverged"]


@dataclass
class TrialResult:
    """What one (config, seed) training produced; also written as ``result.json`` beside its tables."""

    config_id: str
    seed: int
    status: Status
    reason: str = ""
    metric: str = "val_loss"
    mode: str = "min"
    best_metric: float = math.nan
    best_epoch: int = -1
    final_metric: float = math.nan
    epochs_run: int = 0
    steps_run: int = 0
    failed_epoch: int | None = None
    diverged_step: int | None = None
    lr_stuck: bool = False
    precision: str = ""
    wall_time_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def coerce_run_config(config: RunConfig | Mapping[str, Any] | str | Path) -> RunConfig:
    """A RunConfig from a RunConfig, a plain dict, or a YAML path."""
    if isinstance(config, RunConfig):
        return config
    if isinstance(config, Mapping):
        return RunConfig.from_dict(config)
    return load_run_config(config)


def run_trial(
    config: RunConfig | Mapping[str, Any] | str | Path,
    seed: int | None = None,
    out_dir: str | Path | None = None,
    *,
    config_id: str = "run",
    epoch_hook: Callable[[int, dict[str, float]], bool] | None = None,
    resume: bool = False,
    checkpoint: bool = True,
    raise_errors: bool = False,
    num_threads: int | None = None,
    progress_bar: bool = False,
) -> TrialResult:
    """Train ``config`` on ``seed`` (default: the config's own) and record it under ``out_dir``.

    Writes ``config.yaml`` (the resolved config), ``steps.parquet``, ``epochs.parquet``, ``result.json`` and, with
    ``checkpoint``, ``last.ckpt`` (every epoch; ``resume=True`` continues from it). A NaN/inf loss ends the run as
    ``diverged``; an exception as ``failed`` (re-raised with ``raise_errors``); ``epoch_hook(epoch, metrics)``
    returning True stops it as ``pruned``.

    Example:
        >>> result = run_trial({"task": "tiny", "trainer": {"max_epochs": 2}}, seed=1)  # doctest: +SKIP
        >>> result.status
        'completed'
    """
    config = coerce_run_config(config)
    if seed is not None:
        config = config.with_overrides(seed=seed)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        from tune_sched.config._yaml import dump_yaml
        from tune_sched.results.io import atomic_write_text

        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "config.yaml", dump_yaml(config.to_dict()))

    result = TrialResult(config_id=config_id, seed=config.seed, status="completed", metric=config.metric,
                         mode=config.mode)
    start = time.perf_counter()
    recorder = None
    trainer = None
    try:
        trainer, module, datamodule, recorder, hook_cb = _setup(config, out, result, config_id=config_id,
                                                                 epoch_hook=epoch_hook, checkpoint=checkpoint,
                                                                 num_threads=num_threads, progress_bar=progress_bar)
        ckpt = out / "last.ckpt" if (resume and out is not None and (out / "last.ckpt").exists()) else None
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt)
        if hook_cb is not None and hook_cb.stopped_by_hook:
            result.status, result.reason = "pruned", "stopped by the search's pruner"
    except Exception as err:  # noqa: BLE001 - recorded, and re-raised when asked
        from tune_sched.train.recorder import TrialDiverged

        if isinstance(err, TrialDiverged):
            result.status, result.diverged_step = "diverged", err.step
            result.reason = str(err)
        else:
            result.status = "failed"
            result.reason = f"{type(err).__name__}: {err}".splitlines()[0][:500]
            result.failed_epoch = trainer.current_epoch if trainer is not None else None
            if raise_errors:
                raise
    finally:
        result.wall_time_s = time.perf_counter() - start
        if recorder is not None:
            _summarize(result, recorder, config, trainer)
            recorder.flush()
        if out is not None:
            from tune_sched.results.io import write_json

            write_json(out / "result.json", result.to_dict())
    return result


def _quiet_lightning() -> None:
    """Lightning's info lines (GPU available, tips, checkpoint notes) are noise in a trial's output."""
    import logging

    for name in ("pytorch_lightning", "lightning_fabric", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated.*")


def _setup(config: RunConfig, out: Path | None, result: TrialResult, *, config_id: str,
           epoch_hook: Callable[[int, dict[str, float]], bool] | None, checkpoint: bool,
           num_threads: int | None, progress_bar: bool) -> tuple[Any, ...]:
    import pytorch_lightning as pl
    import torch
    from pytorch_lightning.callbacks import EarlyStopping

    from tune_sched.build.lightning import configure_optimizers
    from tune_sched.train.callbacks import EpochHook, LastCheckpoint, LossWeightsCallback, MonitorCheck
    from tune_sched.train.modules import build_module
    from tune_sched.train.precision import resolve_device
    from tune_sched.train.recorder import MetricsRecorder

    _quiet_lightning()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    precision, accelerator, note = resolve_device(config.trainer.precision, config.trainer.accelerator)
    result.precision = precision
    if note:
        result.notes.append(note)

    pl.seed_everything(config.seed, workers=True, verbose=False)
    module, datamodule = build_module(config)
    module.configure_optimizers = functools.partial(configure_optimizers, module, config)

    monitors: list[tuple[str, str]] = [("metric", config.metric)]
    callbacks: list[Any] = []
    if config.lr_scheduler and config.lr_scheduler.get("name") == "ReduceLROnPlateau":
        monitors.append(("lr_scheduler.monitor", config.lr_scheduler["monitor"]))
    es = config.trainer.early_stopping
    if es is not None:
        monitors.append(("trainer.early_stopping.monitor", es.monitor))
    loss_cb = None
    if config.loss_scheduler is not None:
        from tune_sched.losses.scheduler import LossScheduler

        if not hasattr(module, "loss_weights"):
            raise UsageError(
                f"is set but {type(module).__name__} does not follow the loss protocol (no 'loss_weights')",
                path="loss_scheduler", fix="remove loss_scheduler, or see docs/loss_protocol.md",
            )
        loss_scheduler = LossScheduler.from_config(config.loss_scheduler)
        if config.loss_scheduler["mode"] == "adaptive":
            monitors.append(("loss_scheduler.monitor", loss_scheduler.monitor))
        loss_cb = LossWeightsCallback(loss_scheduler)

    recorder = MetricsRecorder(out, keys={"config_id": config_id, "seed": config.seed})
    callbacks += [MonitorCheck(monitors), recorder]
    if loss_cb is not None:
        callbacks.append(loss_cb)
    if es is not None:
        callbacks.append(EarlyStopping(monitor=es.monitor, patience=es.patience, mode=es.mode,
                                       min_delta=es.min_delta, check_on_train_epoch_end=True))
    hook_cb = EpochHook(epoch_hook) if epoch_hook is not None else None
    if hook_cb is not None:
        callbacks.append(hook_cb)
    if checkpoint and out is not None:
        callbacks.append(LastCheckpoint(out / "last.ckpt"))

    needs_sanity = any(m.startswith("val") for _, m in monitors)
    trainer = pl.Trainer(
        max_epochs=config.trainer.max_epochs,
        precision=precision,
        accelerator=accelerator,
        devices=1,
        gradient_clip_val=config.trainer.gradient_clip_val,
        accumulate_grad_batches=config.trainer.accumulate_grad_batches,
        deterministic=config.trainer.deterministic,
        limit_train_batches=config.trainer.limit_train_batches,
        check_val_every_n_epoch=config.trainer.check_val_every_n_epoch,
        num_sanity_val_steps=1 if needs_sanity else 0,
        callbacks=callbacks,
        logger=False,
        enable_checkpointing=bool(checkpoint and out is not None),
        enable_progress_bar=progress_bar,
        enable_model_summary=False,
        default_root_dir=str(out) if out is not None else None,
    )
    return trainer, module, datamodule, recorder, hook_cb


def _summarize(result: TrialResult, recorder: Any, config: RunConfig, trainer: Any) -> None:
    """Best/final metric, counts, and the LR-liveness flag from the recorded rows."""
    values = [(row["epoch"], row.get(config.metric, math.nan)) for row in recorder.epochs]
    finite = [(e, v) for e, v in values if v is not None and math.isfinite(v)]
    result.epochs_run = len(recorder.epochs)
    result.steps_run = len(recorder.steps)
    if values:
        result.final_metric = float(values[-1][1]) if values[-1][1] is not None else math.nan
    if finite:
        pick = min if config.mode == "min" else max
        result.best_epoch, result.best_metric = pick(finite, key=lambda ev: ev[1])
    if config.lr_scheduler and recorder.steps and result.status != "failed":
        _check_liveness(result, recorder, config)


def _check_liveness(result: TrialResult, recorder: Any, config: RunConfig) -> None:
    from tune_sched.build.liveness import expected_lr_change

    lrs = [row["lr"] for row in recorder.steps]
    moved = any(lr != lrs[0] for lr in lrs)
    epochs = max(1, result.epochs_run)
    expected = expected_lr_change(config.lr_scheduler, epochs=epochs, steps_per_epoch=max(1, len(lrs) // epochs),
                                  optimizer_steps=len(lrs), max_epochs=config.trainer.max_epochs,
                                  seen_by_optimizer=True)
    if expected and not moved:
        result.lr_stuck = True
        message = (f"the LR never moved in {len(lrs)} optimizer steps although {config.lr_scheduler['name']} "
                   "should have changed it: is the scheduler stepped? (under manual optimization Lightning "
                   "never steps it; call self.lr_schedulers().step() in training_step)")
        result.notes.append(message)
        warnings.warn(message, UserWarning, stacklevel=3)
