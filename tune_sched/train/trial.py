"""run_trial: train one run config on one seed with Lightning, recording everything to Parquet.

This is the one training path: ``tune-sched run``, every search worker and ``reproduce`` call it.
"""

from __future__ import annotations

import functools
import logging
import math
import signal
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tune_sched.config.run_config import RunConfig, load_run_config
from tune_sched.core.errors import UsageError
from tune_sched.core.words import Status, best
from tune_sched.core.yaml_io import dump_yaml, read_yaml
from tune_sched.losses.scheduler import LossScheduler
from tune_sched.optim.liveness import expected_lr_change
from tune_sched.results.io import atomic_write_text, write_json
from tune_sched.train.loggers import build_loggers
from tune_sched.train.modules import build_module
from tune_sched.train.precision import resolve_device

__all__ = ["TrialResult", "Status", "coerce_run_config", "lr_changed", "run_trial"]


@dataclass
class TrialResult:
    """What one (config, seed) training produced; also written as ``result.json`` beside its tables.

    Attributes:
        status: ``completed``, ``pruned`` (the epoch hook stopped it), ``failed`` (an exception) or ``diverged``.
        reason: why it did not complete (the exception's first line; for running out of memory, what to change).
        best_metric, best_epoch, final_metric: of ``metric`` over the recorded epochs (``best_epoch`` is 0-based,
            -1 and NaN when no epoch had a finite value).
        epochs_run, steps_run: rows of ``epochs.parquet`` and ``steps.parquet`` (a resumed run's included).
        failed_epoch, diverged_step, diverged_epoch: where a failed or diverged run stopped (``diverged_step`` is
            the last optimizer step it trained; None for a run judged only at its end).
        untrained_loss, untrained_metric: the untrained model's train loss and metric, the divergence rule's
            references (NaN when unknown).
        lr_stuck: a configured LR schedule should have moved the LR and never did (see ``notes``).
        lr_changed: whether the LR of any param group ever differed from its first recorded value (False for a
            constant LR and for a scheduler that never acted, e.g. a ReduceLROnPlateau that never saw a plateau;
            None when no optimizer step was recorded).
        precision: what really ran (``32-true`` when 16-bit fell back on a machine without a GPU).
        seed_mode: ``separate`` (its own model: alone or in lockstep, the same numbers) or ``stacked`` (trained with
            the config's other seeds as one vectorised model; ``wall_time_s`` is then its share of their time).
        wall_time_s: the trial's own training time (see :func:`run_trial`).
        notes: one-line remarks: the precision fallback, the LR-liveness warning.
    """

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
    diverged_epoch: int | None = None
    untrained_loss: float = math.nan
    untrained_metric: float = math.nan
    lr_stuck: bool = False
    lr_changed: bool | None = None
    precision: str = ""
    seed_mode: str = "separate"
    num_threads: int = 0  # torch's intra-op threads: CPU results differ in the last digits between counts
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
    save_every_s: float = 0.0,
    log_root: str | Path | None = None,
    log_name: str | None = None,
) -> TrialResult:
    """Train ``config`` on ``seed`` (default: the config's own) and record it under ``out_dir``.

    Writes ``config.yaml`` (the resolved config), ``steps.parquet``, ``epochs.parquet``, ``result.json`` and, with
    ``checkpoint``, ``last.ckpt``. The tables and the checkpoint are saved together at every epoch end, or with
    ``save_every_s`` at the first epoch end that many seconds after the previous save; the tables are written again
    when the run ends. Without ``resume`` the outputs of an earlier run in ``out_dir`` are replaced; with it,
    training continues from ``last.ckpt`` (the same config is required, except ``trainer.max_epochs``) exactly
    as if never interrupted, and starts afresh when there is no checkpoint.

    Outcomes: a run that diverged by ``trainer.divergence``'s rule (a NaN/inf loss or metric, a loss that blew up
    and stayed up; :mod:`tune_sched.config.divergence`) stops at once as ``diverged`` (``diverged_step``,
    ``diverged_epoch``, ``reason``), and so does one that trained to its end without ever beating the untrained
    model; an exception as ``failed``
    (``reason``, ``failed_epoch``; re-raised with ``raise_errors``); ``epoch_hook(epoch, metrics)`` returning True
    stops it as ``pruned``. Two outcomes write no ``result.json``, since the run did not finish: a UsageError (the
    config is wrong: a monitored metric the module does not log, a module that does not import, ...) and a
    KeyboardInterrupt (Ctrl+C; Lightning's conversion of it to ``SystemExit(1)`` is undone), both re-raised.

    ``wall_time_s`` is the trial's own training time, without the time spent in ``epoch_hook`` (in
    :func:`~tune_sched.train.lockstep.run_seeds`, the wait for the other seeds) and including the time of the run
    it resumed, up to that run's last checkpoint.

    Example:
        >>> result = run_trial({"task": "tiny", "trainer": {"max_epochs": 2}}, seed=1)  # doctest: +SKIP
        >>> result.status
        'completed'
    """
    # lazy: heavy
    from tune_sched.train.callbacks import TrialClock
    from tune_sched.train.recorder import TrialDiverged

    clock = TrialClock()
    config = coerce_run_config(config)
    if seed is not None:
        config = config.with_overrides(seed=seed)
    out = Path(out_dir) if out_dir is not None else None
    ckpt = _prepare_out_dir(out, config, resume=resume) if out is not None else None

    result = TrialResult(config_id=config_id, seed=config.seed, status="completed", metric=config.metric,
                         mode=config.mode)
    recorder = trainer = error = judge = None
    try:
        trainer, module, datamodule, recorder, hook_cb, judge = _setup(config, out, result, clock, config_id=config_id,
                                                                 epoch_hook=epoch_hook, checkpoint=checkpoint,
                                                                 num_threads=num_threads, progress_bar=progress_bar,
                                                                 save_every_s=save_every_s, logs=(log_root, log_name))
        _fit(trainer, module, datamodule, ckpt)
        if hook_cb is not None and hook_cb.stopped_by_hook:
            result.status, result.reason = "pruned", "stopped by the search's pruner"
        else:
            verdict = judge.judge(finished=True)
            if verdict.diverged:
                result.status, result.diverged_epoch, result.reason = "diverged", verdict.epoch, verdict.reason
    except TrialDiverged as err:
        result.status, result.diverged_step, result.reason = "diverged", err.step, str(err)
        result.diverged_epoch = err.epoch
    except (UsageError, KeyboardInterrupt):
        if recorder is not None:
            recorder.flush()
        raise
    except Exception as err:  # noqa: BLE001 - recorded, and re-raised when asked
        result.status, result.reason = "failed", _failure_reason(err, config)
        result.failed_epoch = trainer.current_epoch if trainer is not None else None
        error = err
    result.wall_time_s = clock.elapsed
    if judge is not None:
        result.untrained_loss, result.untrained_metric = judge.untrained_loss, judge.untrained_metric
    if recorder is not None:
        _summarize(result, recorder, config)
        recorder.flush()
    if out is not None:
        write_json(out / "result.json", result.to_dict())
    if error is not None and raise_errors:
        raise error
    return result


OUTPUT_FILES = ("result.json", "steps.parquet", "epochs.parquet", "last.ckpt")
"""What a trial writes besides ``config.yaml``."""


def _prepare_out_dir(out: Path, config: RunConfig, *, resume: bool) -> Path | None:
    """Write ``config.yaml``; return the checkpoint to resume from, or None after clearing an earlier run."""
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "last.ckpt"
    if resume and ckpt.exists():
        _check_same_config(out / "config.yaml", config)
        _check_epochs_left(ckpt, config)
    else:
        ckpt = None
        for name in OUTPUT_FILES:
            (out / name).unlink(missing_ok=True)
    (out / "result.json").unlink(missing_ok=True)  # written again when this run finishes
    atomic_write_text(out / "config.yaml", dump_yaml(config.to_dict()))
    return ckpt


def _check_same_config(path: Path, config: RunConfig) -> None:
    """A checkpoint continues only the config it was trained with (``trainer.max_epochs`` may change)."""
    if not path.exists():
        return
    old, new = read_yaml(path), config.to_dict()
    for data in (old, new):
        data.get("trainer", {}).pop("max_epochs", None)
    changed = _changed_keys(old, new)
    if changed:
        raise UsageError(f"the run being resumed was trained with another config (changed: {', '.join(changed)})",
                         path=str(path), fix="resume with the same config, or start afresh (--overwrite)")


def _check_epochs_left(ckpt: Path, config: RunConfig) -> None:
    """A resumed run cannot end before the epochs its checkpoint has trained."""
    # lazy: heavy
    import torch

    trained = int(torch.load(ckpt, map_location="cpu", mmap=True, weights_only=False).get("epoch", -1)) + 1
    if config.trainer.max_epochs < trained:
        raise UsageError(f"is {config.trainer.max_epochs}, but the run being resumed has trained {trained} epochs",
                         path="trainer.max_epochs", fix=f"resume with --max-epochs {trained} or more, or start "
                                                        "afresh (--overwrite)")


def _changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        keys = dict.fromkeys([*old, *new])
        return [k for key in keys for k in _changed_keys(old.get(key), new.get(key), f"{prefix}{key}.")]
    return [] if old == new else [prefix.rstrip(".")]


def _fit(trainer: Any, module: Any, datamodule: Any, ckpt: Path | None) -> None:
    """``trainer.fit``, but Ctrl+C stays a KeyboardInterrupt and the SIGINT handler is left as it was.

    On a KeyboardInterrupt Lightning ignores SIGINT from then on and calls ``sys.exit(1)`` (and in a thread other
    than the main one, its ``signal.signal`` call raises ValueError instead).
    """
    handler = signal.getsignal(signal.SIGINT) if threading.current_thread() is threading.main_thread() else None
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt)
    except (SystemExit, ValueError) as err:
        if isinstance(err.__context__, KeyboardInterrupt):  # raised while Lightning handled the interrupt
            raise KeyboardInterrupt from None
        raise
    finally:
        if handler is not None:
            signal.signal(signal.SIGINT, handler)


def _failure_reason(err: BaseException, config: RunConfig) -> str:
    """One line (at most 500 characters): the exception, and for running out of memory what to change."""
    # lazy: heavy
    import torch

    text = f"{type(err).__name__}: {err}".splitlines()[0][:400]
    if isinstance(err, (torch.OutOfMemoryError, MemoryError)):
        size = config.trainer.batch_size
        text = (f"out of memory ({text}); lower trainer.batch_size ({size if size else 'the task default'}) or "
                "the model size, or train in bf16-mixed / 16-mixed precision on a GPU")
    return text[:500]


def _quiet_lightning() -> None:
    """Lightning's info lines (GPU available, tips, checkpoint notes) are noise in a trial's output."""
    for name in ("pytorch_lightning", "lightning_fabric", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated.*")
    # the built lr_scheduler dict always has monitor/strict; under manual optimization Lightning says it ignores them
    warnings.filterwarnings("ignore", message=".*lr scheduler dict contains the key.*will be ignored.*")


def _setup(config: RunConfig, out: Path | None, result: TrialResult, clock: Any, *, config_id: str,
           epoch_hook: Callable[[int, dict[str, float]], bool] | None, checkpoint: bool,
           num_threads: int | None, progress_bar: bool, save_every_s: float,
           logs: tuple[str | Path | None, str | None] = (None, None)) -> tuple[Any, ...]:
    # lazy: heavy
    import pytorch_lightning as pl
    import torch
    from pytorch_lightning.callbacks import EarlyStopping

    from tune_sched.optim.lightning import configure_optimizers
    from tune_sched.train.callbacks import EpochHook, LastCheckpoint, LossWeightsCallback, MonitorCheck, SaveSchedule
    from tune_sched.train.divergence import DivergenceCheck
    from tune_sched.train.recorder import MetricsRecorder

    _check_plateau_schedule(config)
    _quiet_lightning()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    result.num_threads = torch.get_num_threads()
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
        if not hasattr(module, "loss_weights"):
            raise UsageError(
                f"is set but {type(module).__name__} does not follow the loss protocol (no 'loss_weights')",
                path="loss_scheduler", fix="remove loss_scheduler, or see docs/loss_protocol.md",
            )
        loss_scheduler = LossScheduler.from_config(config.loss_scheduler)
        if config.loss_scheduler["mode"] == "adaptive":
            monitors.append(("loss_scheduler.monitor", loss_scheduler.monitor))
        loss_cb = LossWeightsCallback(loss_scheduler)

    saves = SaveSchedule(save_every_s)
    recorder = MetricsRecorder(out, keys={"config_id": config_id, "seed": config.seed}, saves=saves)
    judge = DivergenceCheck(recorder, config.trainer.divergence, metric=config.metric, mode=config.mode)
    callbacks += [clock, MonitorCheck(monitors), recorder, judge]
    if loss_cb is not None:
        callbacks.append(loss_cb)
    if es is not None:
        callbacks.append(EarlyStopping(monitor=es.monitor, patience=es.patience, mode=es.mode,
                                       min_delta=es.min_delta))
    hook_cb = EpochHook(epoch_hook, clock=clock) if epoch_hook is not None else None
    if hook_cb is not None:
        callbacks.append(hook_cb)
    if checkpoint and out is not None:
        callbacks.append(LastCheckpoint(out / "last.ckpt", saves))

    needs_sanity = any(m.startswith("val") for _, m in monitors)
    # the divergence rule's untrained metric: the sanity check over the whole validation set (-1: every batch)
    sanity_steps = -1 if _is_val(config.metric) and config.trainer.divergence.min_improvement is not None else 1
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
        num_sanity_val_steps=sanity_steps if needs_sanity else 0,
        callbacks=callbacks,
        logger=_loggers(config, out, config_id=config_id, log_root=logs[0], log_name=logs[1]) or False,
        enable_checkpointing=bool(checkpoint and out is not None),
        enable_progress_bar=progress_bar,
        enable_model_summary=False,
        default_root_dir=str(out) if out is not None else None,
    )
    return trainer, module, datamodule, recorder, hook_cb, judge


def _loggers(config: RunConfig, out: Path | None, *, config_id: str, log_root: str | Path | None,
             log_name: str | None) -> list[Any]:
    """``trainer.logger``'s Lightning loggers: under ``log_root`` (default ``<out>/logs``), named ``log_name`` (the
    experiment; default the run directory's name), version ``<config id>-seed<N>``."""
    if not config.trainer.logger:
        return []

    root = Path(log_root) if log_root is not None else (out / "logs" if out is not None else Path("lightning_logs"))
    name = log_name or (out.name if out is not None else "run")
    return build_loggers(config.trainer.logger, save_dir=root, name=name, version=f"{config_id}-seed{config.seed}")


def _is_val(metric: str) -> bool:
    return metric.startswith("val")


def _check_plateau_schedule(config: RunConfig) -> None:
    """Lightning steps ReduceLROnPlateau every ``frequency`` epochs (or steps) and needs its metric every time."""
    block = config.lr_scheduler
    if not block or block["name"] != "ReduceLROnPlateau" or not block["monitor"].startswith("val"):
        return
    monitor, every = block["monitor"], config.trainer.check_val_every_n_epoch
    if block.get("interval") == "step":
        raise UsageError(f"is 'step', but ReduceLROnPlateau's monitor {monitor!r} is a validation metric, logged "
                         "once per validation, not at every step", path="lr_scheduler.interval",
                         fix="use interval: epoch (with a warmup, give it in epochs)")
    frequency = block.get("frequency", 1)
    if frequency % every:
        raise UsageError(f"is {frequency}, but validation runs every {every} epochs "
                         f"(trainer.check_val_every_n_epoch), so ReduceLROnPlateau would step without {monitor!r}",
                         path="lr_scheduler.frequency", fix=f"set frequency to a multiple of {every}")


def _summarize(result: TrialResult, recorder: Any, config: RunConfig) -> None:
    """Best/final metric, counts, and the LR-liveness flag from the recorded rows."""
    values = [(row["epoch"], row.get(config.metric, math.nan)) for row in recorder.epochs]
    finite = [(e, v) for e, v in values if v is not None and math.isfinite(v)]
    result.epochs_run = len(recorder.epochs)
    result.steps_run = len(recorder.steps)
    if values:
        result.final_metric = float(values[-1][1]) if values[-1][1] is not None else math.nan
    if finite:
        result.best_epoch, result.best_metric = best(finite, config.mode, key=lambda ev: ev[1])
    result.lr_changed = lr_changed(recorder.steps)
    if config.lr_scheduler and recorder.steps and result.status != "failed":
        _check_liveness(result, recorder, config)


def lr_changed(steps: Sequence[Mapping[str, Any]]) -> bool | None:
    """Whether the LR of any param group (``lr_group_<i>``) in the step rows ever left its first value.

    None for no rows. A NaN or missing value is not a change.

    Example:
        >>> lr_changed([{"lr_group_0": 0.1}, {"lr_group_0": 0.1}])
        False
        >>> lr_changed([{"lr_group_0": 0.1}, {"lr_group_0": 0.05}])
        True
    """
    if not steps:
        return None
    first: dict[str, float] = {}
    for row in steps:
        for key, value in row.items():
            if not key.startswith("lr_group_") or value is None or value != value:
                continue
            if first.setdefault(key, value) != value:
                return True
    return False


def _check_liveness(result: TrialResult, recorder: Any, config: RunConfig) -> None:
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
