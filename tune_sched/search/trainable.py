"""The Ray Tune trainable: one Tune trial is one sampled config, trained on every seed in lockstep in one process.

Each lockstep round reports one seed-aggregated result (the robust score) to Tune, so the pruner compares configs,
not seeds, and stops all seeds of a config together. Every seed writes its own folder of the experiment; a seed
that already finished (a resumed experiment, a retried trial) is not trained again, and an unfinished one continues
from its last checkpoint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["SearchContext", "train_config"]

FINAL_STATUSES = ("completed", "pruned", "failed", "diverged")


@dataclass(frozen=True)
class SearchContext:
    """What every trial of one search shares (shipped to the workers once)."""

    experiment_dir: str
    seeds: tuple[int, ...]
    metric: str
    mode: str
    threads: int = 1
    grid: tuple[dict[str, Any], ...] | None = None


def train_config(config: dict[str, Any], ctx: SearchContext) -> None:
    """Tune function trainable: ``config`` is ``{"run_config": {...}}`` (or ``{"grid_index": i}`` for grids)."""
    from ray import tune

    from tune_sched.config._yaml import dump_yaml
    from tune_sched.config.run_config import RunConfig
    from tune_sched.results.experiment import seed_dir
    from tune_sched.results.io import atomic_write_text
    from tune_sched.search.aggregate import SeedAggregate
    from tune_sched.train.lockstep import run_seeds
    from tune_sched.train.trial import TrialResult

    trial_id = tune.get_context().get_trial_id()
    raw = ctx.grid[config["grid_index"]] if ctx.grid is not None else config["run_config"]
    run_config = RunConfig.from_dict(raw)
    base = Path(ctx.experiment_dir) / "trials" / trial_id
    base.mkdir(parents=True, exist_ok=True)
    atomic_write_text(base / "config.yaml", dump_yaml({k: v for k, v in run_config.to_dict().items() if k != "seed"}))

    done: dict[int, TrialResult] = {}
    for seed in ctx.seeds:
        result_file = seed_dir(ctx.experiment_dir, trial_id, seed) / "result.json"
        if result_file.exists():
            data = json.loads(result_file.read_text())
            if data.get("status") in FINAL_STATUSES:
                done[seed] = TrialResult(**data)
    pending = [s for s in ctx.seeds if s not in done]
    aggregate = SeedAggregate(ctx.seeds, metric=ctx.metric, mode=ctx.mode)
    aggregate.finish(done)

    def on_epoch(round_index: int, reports: Any) -> bool:
        aggregate.update(reports)
        tune.report(aggregate.report())
        return False

    results = run_seeds(run_config, pending, {s: seed_dir(ctx.experiment_dir, trial_id, s) for s in pending},
                        on_epoch=on_epoch, config_id=trial_id, resume=True, num_threads=ctx.threads)
    aggregate.finish(results)
    tune.report({**aggregate.report(), "done": 1.0})
