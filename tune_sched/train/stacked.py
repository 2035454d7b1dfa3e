"""run_stacked and Stacked: one config's seeds trained as one stacked model, each seed recorded as if alone.

A seed's tables (``steps.parquet``, ``epochs.parquet``), ``result.json`` and ``config.yaml`` are written to its own
folder by its own :class:`~tune_sched.train.recorder.MetricsRecorder`, judged by its own
:class:`~tune_sched.train.divergence.DivergenceCheck`, and its result carries ``seed_mode: stacked``. A seed that
diverges is recorded as diverged at the step (or epoch) it would have stopped at alone; the others go on. The
stacked model's checkpoint (``stacked-<seeds>.ckpt`` in the first seed's folder) holds every seed's state, so an
interrupted run continues where it was saved. :class:`Stacked` has :class:`~tune_sched.train.lockstep.Lockstep`'s
interface (``step``, ``stop``, ``results``, ``done``), so a search drives either the same way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from tune_sched.config.run_config import RunConfig
from tune_sched.core.errors import UsageError
from tune_sched.core.yaml_io import dump_yaml
from tune_sched.losses.scheduler import LossScheduler
from tune_sched.results.io import atomic_write_text, write_json
from tune_sched.train.callbacks import LastCheckpoint, LossWeightsCallback, MonitorCheck, SaveSchedule, TrialClock
from tune_sched.train.divergence import DivergenceCheck
from tune_sched.train.modules import build_module
from tune_sched.train.precision import resolve_device
from tune_sched.train.recorder import MetricsRecorder, TrialDiverged
from tune_sched.train.rng import rng_state, set_rng_state
from tune_sched.train.seed_batches import SeedBatches, stacked_loader
from tune_sched.train.seed_modes import module_blocker, stacking_blocker
from tune_sched.train.stacked_model import StackedModule
from tune_sched.train.trial import (
    OUTPUT_FILES,
    TrialResult,
    _check_epochs_left,
    _check_same_config,
    _failure_reason,
    _fit,
    _is_val,
    _quiet_lightning,
    _summarize,
    coerce_run_config,
)

__all__ = ["Stacked", "run_stacked", "stacked_checkpoint"]

EpochCallback = Callable[[int, Mapping[int, Mapping[str, float]]], bool]


def stacked_checkpoint(out_dirs: Mapping[int, str | Path], seeds: Sequence[int]) -> Path:
    """Where the stacked checkpoint of ``seeds`` lives: ``stacked-<s1>-<s2>-....ckpt`` in the first seed's folder."""
    return Path(out_dirs[seeds[0]]) / f"stacked-{'-'.join(str(s) for s in seeds)}.ckpt"


class _SeedFanout(pl.Callback):
    """Feeds every live seed's recorder and divergence judge with that seed's numbers; calls ``on_epoch``."""

    def __init__(self, seeds: Sequence[int], recorders: list[Any], judges: list[Any], monitor: Any,
                 results: dict[int, TrialResult], finish_dead: Callable[[int, Any], None], clock: Any,
                 on_epoch: EpochCallback | None) -> None:
        self.seeds = list(seeds)
        self.recorders, self.judges, self.monitor = recorders, judges, monitor
        self.results = results
        self.finish_dead = finish_dead
        self.clock = clock
        self.on_epoch = on_epoch
        self.stopped_by_hook = False

    def live(self) -> list[int]:
        return [k for k, seed in enumerate(self.seeds) if seed not in self.results]

    def _kill(self, k: int, err: Any, trainer: pl.Trainer, module: Any) -> None:
        module.alive[k] = False
        self.finish_dead(k, err)
        if not self.live():
            trainer.should_stop = True

    def on_sanity_check_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        self.monitor.check(pl_module.seed_metrics[0], sanity=True)
        for judge, metrics in zip(self.judges, pl_module.seed_metrics):
            judge.untrained(metrics)
        pl_module.clear_metrics()

    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: Any, optimizer: Any) -> None:
        lrs = [float(g["lr"]) for g in optimizer.param_groups]
        norms = pl_module.seed_grad_norms().tolist()
        for k in self.live():
            self.recorders[k].record_optimizer(lrs, norms[k])

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: Any, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        names = list(pl_module.last_terms)
        table = torch.stack([pl_module.last_terms[n] for n in names]).tolist()  # [terms][K], one sync
        weights = _weights(pl_module)
        for k in self.live():
            values = {name: row[k] for name, row in zip(names, table)}
            loss = values.pop("loss")
            try:
                self.recorders[k].record_batch(step=trainer.global_step - 1, epoch=trainer.current_epoch,
                                               loss=loss, components=values, weights=weights)
            except TrialDiverged as err:
                self._kill(k, err, trainer, pl_module)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        pl_module.finish_train_epoch()
        live = self.live()
        if not live:
            return
        validated = (trainer.current_epoch + 1) % trainer.check_val_every_n_epoch == 0
        self.monitor.check(pl_module.seed_metrics[live[0]], validated=validated)
        save = self.recorders[live[0]].saves.due(trainer)
        weights = _weights(pl_module)
        for k in live:
            self.recorders[k].record_epoch(epoch=trainer.current_epoch, step=trainer.global_step,
                                           metrics=pl_module.seed_metrics[k], weights=weights, save=save)
            try:
                self.judges[k].check(trainer.global_step - 1)
            except TrialDiverged as err:
                self._kill(k, err, trainer, pl_module)
        live = self.live()
        if self.on_epoch is None or not live:
            return
        reports = {self.seeds[k]: dict(pl_module.seed_metrics[k]) for k in live}
        with self.clock.excluded():
            stop = self.on_epoch(trainer.current_epoch, reports)
        last = trainer.current_epoch + 1 >= (trainer.max_epochs or 0) > 0 or trainer.should_stop
        if stop and not last:
            self.stopped_by_hook = True
            trainer.should_stop = True

    def state_dict(self) -> dict[str, Any]:
        return {"recorders": [r.state_dict() for r in self.recorders], "judges": [j.state_dict() for j in self.judges],
                "dead": {seed: result.to_dict() for seed, result in self.results.items()}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        for recorder, state in zip(self.recorders, state_dict["recorders"]):
            recorder.load_state_dict(state)
        for judge, state in zip(self.judges, state_dict["judges"]):
            judge.load_state_dict(state)
        self.results.update({int(seed): TrialResult(**data) for seed, data in state_dict["dead"].items()})


def _weights(module: Any) -> dict[str, float]:
    return {f"weight_{k}": float(v) for k, v in (getattr(module, "loss_weights", None) or {}).items()}


def run_stacked(
    config: RunConfig | Mapping[str, Any] | str | Path,
    seeds: Sequence[int],
    out_dirs: Mapping[int, str | Path] | None = None,
    *,
    on_epoch: EpochCallback | None = None,
    config_id: str = "run",
    resume: bool = False,
    checkpoint: bool = True,
    raise_errors: bool = False,
    num_threads: int | None = None,
    progress_bar: bool = False,
    save_every_s: float = 0.0,
    log_root: str | Path | None = None,
    log_name: str | None = None,
    results: dict[int, TrialResult] | None = None,
    vectorise: bool | None = None,
) -> dict[int, TrialResult]:
    """Train ``config`` on every seed as one stacked model; ``{seed: TrialResult}``, each as :func:`run_trial`
    would give alone (``seed_mode`` ``"stacked"``; ``wall_time_s`` is the seed's share: the stacked training time
    divided by the number of seeds).

    ``on_epoch(epoch, {seed: metrics})`` is called at every epoch end with the live seeds' metrics; True stops
    them all (``pruned``). The other keyword arguments are :func:`run_trial`'s (``log_root``/``log_name`` are
    unused: a config with ``trainer.logger`` trains its seeds separately). ``results``, when given, is filled as
    seeds end (a diverged seed at once), so another thread can read it while this one trains. ``vectorise``: one
    ``vmap`` call per step (True) or the seeds one after another within it (False); by default ``vmap`` on a GPU
    only (:class:`~tune_sched.train.stacked_model.StackedModule`).

    Raises:
        UsageError: the config cannot train stacked (:func:`~tune_sched.train.seed_modes.stacking_blocker`), or
            is wrong in a way found once training is set up.
    """
    config = coerce_run_config(config)
    seeds = list(seeds)
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, but got {seeds}")
    reason = stacking_blocker(config, len(seeds))
    if reason:
        raise UsageError(f"cannot train seeds stacked: {reason}", path="trainer.seed_mode", fix="use separate")
    configs = {seed: config.with_overrides(seed=seed) for seed in seeds}
    outs = {seed: Path(out_dirs[seed]) for seed in seeds} if out_dirs is not None else None
    ckpt = _prepare_out_dirs(outs, configs, seeds, resume=resume) if outs is not None else None
    results = {} if results is None else results
    state: dict[str, Any] = {}
    error: BaseException | None = None
    try:
        trainer, module, fanout = _setup(config, configs, seeds, outs, results, state, config_id=config_id,
                                         on_epoch=on_epoch, checkpoint=checkpoint, num_threads=num_threads,
                                         progress_bar=progress_bar, save_every_s=save_every_s,
                                         blocker=module_blocker, vectorise=vectorise)
        _fit(trainer, module, None, ckpt)
        for k, seed in enumerate(seeds):
            if seed in results:
                continue
            result = state["new"](k)
            if fanout.stopped_by_hook:
                result.status, result.reason = "pruned", "stopped by the search's pruner"
            else:
                verdict = state["judges"][k].judge(finished=True)
                if verdict.diverged:
                    result.status, result.diverged_epoch, result.reason = "diverged", verdict.epoch, verdict.reason
            state["close"](k, result)
    except (UsageError, KeyboardInterrupt):
        for recorder in state.get("recorders", []):
            recorder.flush()
        raise
    except Exception as err:  # noqa: BLE001 - recorded, and re-raised when asked
        if "new" not in state:
            raise
        for k, seed in enumerate(seeds):
            if seed not in results:
                result = state["new"](k)
                result.status, result.reason = "failed", _failure_reason(err, config)
                result.failed_epoch = state["trainer"].current_epoch
                state["close"](k, result)
        error = err
    if outs is not None:
        for seed in seeds:
            write_json(outs[seed] / "result.json", results[seed].to_dict())
    if error is not None and raise_errors:
        raise error
    return {seed: results[seed] for seed in seeds}


def _prepare_out_dirs(outs: dict[int, Path], configs: dict[int, RunConfig], seeds: list[int], *,
                      resume: bool) -> Path | None:
    """Write each seed's ``config.yaml``; the stacked checkpoint to resume from, or None after clearing."""
    ckpt = stacked_checkpoint(outs, seeds)
    resuming = resume and ckpt.exists()
    for seed in seeds:
        out = outs[seed]
        out.mkdir(parents=True, exist_ok=True)
        if resuming:
            _check_same_config(out / "config.yaml", configs[seed])
        else:
            for name in OUTPUT_FILES:
                (out / name).unlink(missing_ok=True)
        (out / "result.json").unlink(missing_ok=True)
        atomic_write_text(out / "config.yaml", dump_yaml(configs[seed].to_dict()))
    if not resuming:
        ckpt.unlink(missing_ok=True)
        return None
    _check_epochs_left(ckpt, configs[seeds[0]])
    return ckpt


def _setup(config: RunConfig, configs: dict[int, RunConfig], seeds: list[int], outs: dict[int, Path] | None,
           results: dict[int, TrialResult], state: dict[str, Any], *, config_id: str,
           on_epoch: EpochCallback | None, checkpoint: bool, num_threads: int | None, progress_bar: bool,
           save_every_s: float, blocker: Callable[[Any], str | None],
           vectorise: bool | None) -> tuple[Any, Any, Any]:
    clock = TrialClock()
    _quiet_lightning()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    precision, accelerator, note = resolve_device(config.trainer.precision, config.trainer.accelerator)

    modules, states, datamodule = [], [], None
    for seed in seeds:
        pl.seed_everything(seed, workers=True, verbose=False)
        module, data = build_module(configs[seed])
        reason = blocker(module)
        if reason:
            raise UsageError(f"cannot train seeds stacked: {reason}", path="trainer.seed_mode", fix="use separate")
        modules.append(module)
        states.append(rng_state())  # where this seed's data order starts, as alone
        datamodule = datamodule or data
    source = datamodule if datamodule is not None else modules[0]
    if datamodule is not None:
        datamodule.prepare_data()
        datamodule.setup("fit")
    train = source.train_dataloader()
    val = source.val_dataloader()
    batches = SeedBatches(train, states)
    stacked = StackedModule(modules, config, stacked_loader(train, batches), val, batches,
                            vectorise=accelerator == "gpu" if vectorise is None else vectorise)

    saves = SaveSchedule(save_every_s)
    recorders = [MetricsRecorder(None if outs is None else outs[s], keys={"config_id": config_id, "seed": s},
                                 saves=saves) for s in seeds]
    judges = [DivergenceCheck(r, config.trainer.divergence, metric=config.metric, mode=config.mode)
              for r in recorders]

    def new(k: int) -> TrialResult:
        seed = seeds[k]
        return TrialResult(config_id=config_id, seed=seed, status="completed", metric=config.metric,
                           mode=config.mode, seed_mode="stacked", precision=precision,
                           num_threads=torch.get_num_threads(), notes=[note] if note else [])

    def close(k: int, result: TrialResult) -> None:
        result.wall_time_s = clock.elapsed / len(seeds)
        result.untrained_loss, result.untrained_metric = judges[k].untrained_loss, judges[k].untrained_metric
        _summarize(result, recorders[k], configs[seeds[k]])
        recorders[k].flush()
        results[seeds[k]] = result

    def finish_dead(k: int, err: Any) -> None:
        result = new(k)
        result.status, result.diverged_step, result.reason = "diverged", err.step, str(err)
        result.diverged_epoch = err.epoch
        close(k, result)

    monitors: list[tuple[str, str]] = [("metric", config.metric)]
    fanout = _SeedFanout(seeds, recorders, judges, MonitorCheck(monitors), results, finish_dead, clock, on_epoch)
    callbacks: list[Any] = [clock, fanout]
    if config.loss_scheduler is not None:
        callbacks.append(LossWeightsCallback(LossScheduler.from_config(config.loss_scheduler)))
    ckpt_path = stacked_checkpoint(outs, seeds) if outs is not None else None
    if checkpoint and ckpt_path is not None:
        callbacks.append(LastCheckpoint(ckpt_path, saves))
    needs_sanity = _is_val(config.metric)
    sanity_steps = -1 if needs_sanity and config.trainer.divergence.min_improvement is not None else 1
    trainer = pl.Trainer(
        max_epochs=config.trainer.max_epochs, precision=precision, accelerator=accelerator, devices=1,
        gradient_clip_val=config.trainer.gradient_clip_val,
        accumulate_grad_batches=config.trainer.accumulate_grad_batches,
        deterministic=config.trainer.deterministic, limit_train_batches=config.trainer.limit_train_batches,
        check_val_every_n_epoch=config.trainer.check_val_every_n_epoch,
        num_sanity_val_steps=sanity_steps if needs_sanity else 0, callbacks=callbacks, logger=False,
        enable_checkpointing=bool(checkpoint and outs is not None), enable_progress_bar=progress_bar,
        enable_model_summary=False, default_root_dir=str(outs[seeds[0]]) if outs is not None else None,
    )
    state.update(new=new, close=close, judges=judges, recorders=recorders, trainer=trainer)
    return trainer, stacked, fanout


class Stacked:
    """:func:`run_stacked` advanced one epoch at a time by :meth:`step`, with :class:`~tune_sched.train.lockstep
    .Lockstep`'s interface (``trial_kwargs`` go to :func:`run_stacked`)."""

    def __init__(self, config: Any, seeds: Sequence[int], out_dirs: Mapping[int, str | Path] | None = None,
                 **trial_kwargs: Any) -> None:
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be distinct, but got {list(seeds)}")
        self.live = list(seeds)
        self.rounds = 0
        self._results: dict[int, TrialResult] = {}
        self._cond = threading.Condition()
        self._worker_turn = False
        self._report: dict[int, dict[str, float]] | None = None
        self._stop = False
        self._finished = False
        self._error: BaseException | None = None

        def hook(epoch: int, reports: Mapping[int, Mapping[str, float]]) -> bool:
            saved = rng_state()
            self._report = {seed: dict(m) for seed, m in reports.items()}
            self._hand_over(to_worker=False)
            set_rng_state(saved)
            return self._stop

        def work() -> None:
            self._wait_turn(worker=True)
            try:
                run_stacked(config, seeds, out_dirs, on_epoch=hook, results=self._results, **trial_kwargs)
            except BaseException as err:  # noqa: BLE001 - handed to the caller's thread
                self._error = err
            finally:
                self._finished = True
                with self._cond:
                    self._worker_turn = False
                    self._cond.notify_all()

        self._thread = threading.Thread(target=work, name="tune-sched-stacked", daemon=True)
        self._thread.start()

    def _wait_turn(self, *, worker: bool) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._worker_turn == worker)

    def _hand_over(self, *, to_worker: bool) -> None:
        with self._cond:
            self._worker_turn = to_worker
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._worker_turn != to_worker)

    @property
    def done(self) -> bool:
        return not self.live

    @property
    def results(self) -> dict[int, TrialResult]:
        return dict(sorted(self._results.items()))

    def step(self) -> dict[int, dict[str, float]]:
        """Train every live seed one more epoch; their epoch metrics (a seed that ended reports nothing)."""
        if self.done:
            return {}
        self._report = None
        self._hand_over(to_worker=True)
        reports = {} if self._finished else (self._report or {})
        self.live = [] if self._finished else [s for s in self.live if s in reports]
        self.rounds += 1
        if self._finished:
            self._thread.join()
            if self._error is not None:
                raise self._error
        return reports

    def stop(self) -> dict[int, TrialResult]:
        """Stop every seed at its current epoch end (``pruned``) and wait for them."""
        self._stop = True
        while not self.done:
            self.step()
        return self.results

