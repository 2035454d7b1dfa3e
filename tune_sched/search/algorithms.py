"""The searcher (Optuna TPE, random, grid) and the pruner (ASHA, median stopping, none) a space asks for."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from tune_sched.config.space import SearchSpace

__all__ = ["make_scheduler", "make_searcher", "max_epochs_of"]

METRIC = "score"  # the seed-aggregated robust score every trial reports (tune_sched.analysis.score.robust_score)


def make_searcher(space: SearchSpace, experiment: Path) -> tuple[Any, dict[str, Any]]:
    """(search_alg or None, param_space) for the space's ``search.algorithm``.

    ``optuna`` and ``random`` keep their Optuna study in the experiment (:mod:`tune_sched.search.study`).
    """
    # lazy: heavy
    from ray import tune

    settings = space.settings
    if settings.algorithm == "grid":
        return None, {"grid_index": tune.grid_search(list(range(space.grid_size())))}
    # lazy: heavy
    import optuna

    from tune_sched.search.study import STUDY_FILE, StudySearcher

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if settings.algorithm == "random":
        sampler = optuna.samplers.RandomSampler(seed=settings.sampler_seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=settings.sampler_seed)
    searcher = StudySearcher(space, sampler=sampler, mode=space.mode, study_file=Path(experiment) / STUDY_FILE,
                             study_name=Path(experiment).name)
    return searcher, {}


def max_epochs_of(space: SearchSpace) -> int:
    """The most epochs any config of the space trains (for the pruner's horizon)."""
    value = (space.source.get("trainer") or {}).get("max_epochs", 10)
    if isinstance(value, dict):
        candidates = [v for v in (value.get("max"), value.get("value"), *(value.get("values") or [])) if v]
        value = max(candidates) if candidates else 10
    return int(value)


def make_scheduler(space: SearchSpace) -> Any:
    """Tune's trial scheduler for ``search.pruner`` (it acts on configs: each trial is one config's seeds)."""
    # lazy: heavy
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, MedianStoppingRule

    pruner = space.settings.pruner
    horizon = max_epochs_of(space) + 1  # the last iteration reports the finished seeds
    if pruner.rule == "asha":
        return ASHAScheduler(time_attr="training_iteration", metric=METRIC, mode=space.mode, max_t=horizon,
                             grace_period=min(pruner.grace_period, horizon),
                             reduction_factor=pruner.reduction_factor)
    if pruner.rule == "median":
        # min_time_slice=inf: never *pause* a config to let another run (a paused trial would restart).
        return MedianStoppingRule(time_attr="training_iteration", metric=METRIC, mode=space.mode,
                                  grace_period=pruner.grace_period, min_time_slice=math.inf,
                                  min_samples_required=pruner.min_samples_required)
    return FIFOScheduler()
