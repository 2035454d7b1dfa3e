"""ConfigRunner: what one Tune trial does — one sampled config trained on every seed — without Ray.

Each ``step`` advances every seed by one epoch and returns one seed-aggregated result (the robust score), so the
pruner compares configs, not seeds, and stops all seeds of a config together. Every seed writes its own folder of
the experiment; a seed that already finished (a resumed experiment, a retried trial) is not trained again, and an
unfinished one continues from its last checkpoint. The seeds train stacked as one model or separately in lockstep,
as the config's ``trainer.seed_mode`` allows (:func:`~tune_sched.train.seed_modes.seed_runner`); both step alike.

The Tune trainable (:mod:`tune_sched.search.trainable`) drives a runner either in its own process or, through the
fork server (:mod:`tune_sched.search.forkserver`), in a process forked from one that imported torch and Lightning
once for the whole search. Nothing here imports Ray, so both run the same code.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tune_sched.config.run_config import RunConfig
from tune_sched.core.errors import UsageError
from tune_sched.core.yaml_io import dump_yaml
from tune_sched.results.experiment import seed_dir
from tune_sched.results.io import atomic_write_text
from tune_sched.results.storage import FolderSync, work_dir
from tune_sched.search.aggregate import STATUSES, SeedAggregate
from tune_sched.search.reconcile import record_stopped
from tune_sched.train.seed_modes import seed_runner
from tune_sched.train.trial import TrialResult

if TYPE_CHECKING:
    from tune_sched.train.lockstep import Lockstep
    from tune_sched.train.stacked import Stacked

__all__ = ["ConfigRunner", "SearchContext", "failure"]


@dataclass(frozen=True)
class SearchContext:
    """What every trial of one search shares (shipped to the workers once).

    ``forkserver``: the fork server's socket (``None``: each worker trains in its own process). ``score`` and
    ``spikes``: the space's ``score:`` and ``spikes:`` blocks (``SearchSpace.judging()``; None: the defaults).
    """

    experiment_dir: str
    seeds: tuple[int, ...]
    metric: str
    mode: str
    threads: int = 1
    save_every_s: float = 0.0
    max_epochs: int | None = None
    grid: tuple[dict[str, Any], ...] | None = None
    forkserver: str | None = None
    storage_uri: str | None = None  # the experiment's URI: train in a node-local folder and upload to it
    score: dict[str, Any] | None = None
    spikes: dict[str, Any] | None = None


class ConfigRunner:
    """One config on every seed of ``ctx``; ``config`` is ``{"run_config": {...}, ...}`` or ``{"grid_index": i}``."""

    def __init__(self, ctx: SearchContext, config: dict[str, Any], config_id: str) -> None:
        raw = ctx.grid[config["grid_index"]] if ctx.grid is not None else config["run_config"]
        run_config = RunConfig.from_dict(raw).with_overrides(max_epochs=ctx.max_epochs)
        root, self.sync = _storage(ctx)
        self.folders = [f"trials/{config_id}/seed={s}" for s in ctx.seeds]
        base = Path(root) / "trials" / config_id
        base.mkdir(parents=True, exist_ok=True)
        atomic_write_text(base / "config.yaml",
                          dump_yaml({k: v for k, v in run_config.to_dict().items() if k != "seed"}))
        if self.sync is not None:
            self.sync.upload([f"trials/{config_id}"])
            for folder in self.folders:
                self.sync.download(folder)  # what an earlier run of this trial saved (a resume, a retry)
        done: dict[int, TrialResult] = {}
        for seed in ctx.seeds:
            result_file = seed_dir(root, config_id, seed) / "result.json"
            if result_file.exists():
                data = json.loads(result_file.read_text())
                if data.get("status") in STATUSES:
                    done[seed] = TrialResult(**data)
        pending = [s for s in ctx.seeds if s not in done]
        self.aggregate = SeedAggregate(ctx.seeds, metric=ctx.metric, mode=ctx.mode, score=ctx.score,
                                       spikes=ctx.spikes)
        self.aggregate.finish(done)
        # The seeds start at the first step, not here: Tune may set a trial up on a new worker and then hand it
        # to a reused one instead, stopping the first without a step. That copy must not touch the seed folders.
        self.lockstep: Lockstep | Stacked | None = None
        self.config_id = config_id
        self.seed_dirs = {s: seed_dir(root, config_id, s) for s in pending}
        self.spike_dirs = {s: seed_dir(root, config_id, s) for s in ctx.seeds}  # every seed's steps, for the score
        self._make_lockstep = functools.partial(
            seed_runner, run_config, pending, self.seed_dirs,
            config_id=config_id, resume=True, num_threads=ctx.threads, save_every_s=ctx.save_every_s,
            log_root=Path(root) / "logs", log_name=Path(ctx.experiment_dir).name)

    def step(self) -> dict[str, Any]:
        """Train every live seed one more epoch; Tune's result for this iteration."""
        try:
            if self.lockstep is None:
                self.lockstep = self._make_lockstep()
            reports = self.lockstep.step()
        except UsageError as err:  # the config is wrong (found as training was set up): every seed fails with it
            return self._refused(err)
        if self.sync is not None:
            self.sync.upload(self.folders)  # the seeds' latest save point (result.json once they finish)
        if reports:
            self.aggregate.update(reports)
        self.aggregate.read_spikes(self.spike_dirs)  # the seeds' spike counts as last saved (exact once they end)
        self.aggregate.finish(self.lockstep.results)  # seeds that ended this round: a diverged one counts at once
        if self.lockstep.done:
            self.aggregate.finish(self.lockstep.results)
            return {**self.aggregate.report(), **failure(self.lockstep.results.values()), "all_seeds_finished": 1,
                    "done": True}
        return self.aggregate.report()

    def _refused(self, err: Exception) -> dict[str, Any]:
        """Record every unfinished seed as failed with the UsageError's line; the trial's last result."""
        results = {seed: record_stopped(Path(folder), config_id=self.config_id, seed=seed, status="failed",
                                        reason=str(err))
                   for seed, folder in self.seed_dirs.items() if not (Path(folder) / "result.json").exists()}
        self.lockstep = None
        if getattr(self, "sync", None) is not None:
            self.sync.upload(self.folders)
        self.aggregate.finish(results)
        return {**self.aggregate.report(), "failure": str(err), "failure_kind": "usage", "all_seeds_finished": 1,
                "done": True}

    def finish(self) -> None:
        """The trial ends (Tune stops it, or reuses the worker): unfinished seeds stop at their current epoch."""
        lockstep = self.lockstep
        if lockstep is not None and not lockstep.done:
            lockstep.stop()  # pruned: every seed stops at its current epoch end and records it
        if lockstep is not None and self.sync is not None:
            self.sync.upload(self.folders)
        self.lockstep = None


def _storage(ctx: SearchContext) -> tuple[str, Any]:
    """Where the trial writes: the experiment itself, or for a URI a node-local folder synced to it."""
    if ctx.storage_uri is None:
        return ctx.experiment_dir, None

    root = work_dir(ctx.storage_uri)
    return str(root), FolderSync(ctx.storage_uri, root)


def failure(results: Any) -> dict[str, str]:
    """``{"failure": reason, "failure_kind": "error"}`` when every seed of a config failed (the commonest reason),
    else ``{}``: what the search's fail-fast rule (:mod:`tune_sched.search.fail_fast`) reads."""
    results = list(results)
    if not results or any(r.status != "failed" for r in results):
        return {}
    reason, _ = Counter(r.reason or "no reason recorded" for r in results).most_common(1)[0]
    return {"failure": reason, "failure_kind": "error"}
