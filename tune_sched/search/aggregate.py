"""One config's seeds seen as one: the running per-seed best and spike count, and the robust score the searcher and
pruner see (the same ``robust_score``, spike term included, that ``analyze`` ranks by)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tune_sched.core.words import COUNTS_AS_DIVERGED, STATUSES, better, oriented

__all__ = ["COUNTS_AS_DIVERGED", "STATUSES", "SeedAggregate"]



class SeedAggregate:
    """Track each seed's best value of ``metric`` and whether it diverged; ``report()`` is one dict for Tune.

    A seed counts as diverged when its trial ended ``diverged`` or ``failed`` (worst for the searcher, as in the
    ranking: ``rank_configs``'s ``diverged_statuses``), or has no finite best value. The trial alone judges
    divergence (``tune_sched.config.divergence``, at every epoch end, stopping the seed at once), so the search and
    ``analyze`` count the same seeds; fold in finished seeds every round (``finish``) to see them at once. Seeds
    that finished early (early stopping) keep their best value. ``report()`` also counts the finished seeds by status
    (``seeds_<status>``), so the driver can tell a config whose seeds all failed from one that completed.

    Spikes: each seed's spike episodes in its per-step training loss (``detect_spikes`` with the ``spikes`` rule,
    the count ``spike_table`` gives ``analyze``), from ``spike_losses`` or the seeds' saved ``steps.parquet``
    (``read_spikes``); a seed with no steps yet has no count and adds nothing to the spike term.

    ``score`` and ``spikes`` are the space's ``score:`` and ``spikes:`` blocks as the manifest stores them (None:
    the defaults), the settings ``analyze`` reads back from the manifest.
    """

    def __init__(self, seeds: Iterable[int], *, metric: str, mode: str, score: Mapping[str, Any] | None = None,
                 spikes: Mapping[str, Any] | None = None) -> None:
        # lazy: heavy
        from tune_sched.analysis.score import ScoreSettings
        from tune_sched.analysis.spike_rules import SpikeRule

        self.score = ScoreSettings.from_dict(dict(score or {}), "settings.score")
        self.rule = SpikeRule.from_dict(dict(spikes or {}), "settings.spikes")
        self.seeds = list(seeds)
        self.metric = metric
        self.mode = mode
        self.best: dict[int, float] = {s: math.nan for s in self.seeds}
        self.last: dict[int, float] = {s: math.nan for s in self.seeds}
        self.diverged: dict[int, bool] = {s: False for s in self.seeds}
        self.statuses: dict[int, str] = {}
        self.spikes: dict[int, float] = {s: math.nan for s in self.seeds}
        self._steps_seen: dict[int, tuple[int, int]] = {}
        self.epoch = 0

    def update(self, reports: Mapping[int, Mapping[str, float]]) -> None:
        """Fold in one lockstep round of per-seed epoch metrics."""
        self.epoch += 1
        for seed, metrics in reports.items():
            value = metrics.get(self.metric, math.nan)
            self.last[seed] = value
            best = self.best[seed]
            if math.isfinite(value) and (not math.isfinite(best) or better(value, best, self.mode)):
                self.best[seed] = value

    def finish(self, results: Mapping[int, Any]) -> None:
        """Fold in the seeds' TrialResults (status, best metric)."""
        for seed, result in results.items():
            self.statuses[seed] = result.status
            if result.status in COUNTS_AS_DIVERGED:
                self.diverged[seed] = True
            if math.isfinite(result.best_metric):
                self.best[seed] = result.best_metric

    def spike_losses(self, losses: Mapping[int, Any]) -> None:
        """Count each seed's spike episodes in its per-step training losses (its whole run so far)."""
        # lazy: heavy
        from tune_sched.analysis.spikes import detect_spikes

        for seed, values in losses.items():
            self.spikes[seed] = float(len(detect_spikes(values, rule=self.rule)))

    def read_spikes(self, folders: Mapping[int, str | Path]) -> None:
        """``spike_losses`` from each seed folder's ``steps.parquet`` as last saved (only files that changed)."""
        # lazy: heavy
        import pyarrow.parquet as pq

        changed = {}
        for seed, folder in folders.items():
            path = Path(folder) / "steps.parquet"
            try:
                stat = path.stat()
            except OSError:
                continue  # nothing saved yet
            if self._steps_seen.get(seed) != (stat.st_mtime_ns, stat.st_size):
                self._steps_seen[seed] = (stat.st_mtime_ns, stat.st_size)
                table = pq.read_table(path)
                if not {"step", "train_loss"} <= set(table.column_names):
                    continue  # no step trained yet (a seed that failed at once writes an empty table)
                table = table.select(["step", "train_loss"]).sort_by("step")
                changed[seed] = table.column("train_loss").to_numpy(zero_copy_only=False).astype(float)
        self.spike_losses(changed)

    def report(self) -> dict[str, float]:
        # lazy: heavy
        from tune_sched.analysis.score import robust_score

        seeds = [s for s in self.seeds]
        values = [self.best[s] for s in seeds]
        diverged = [self.diverged[s] or not math.isfinite(self.best[s]) for s in seeds]
        finite = [v for v, d in zip(values, diverged) if not d]
        return {
            "score": _finite(robust_score(values, diverged=diverged, spikes=[self.spikes[s] for s in seeds],
                                          mode=self.mode, **asdict(self.score)), self.mode),
            f"{self.metric}_mean": sum(finite) / len(finite) if finite else math.nan,
            "diverged_seeds": float(sum(diverged)),
            "epoch": self.epoch,
            **{f"seeds_{status}": float(sum(1 for s in self.statuses.values() if s == status))
               for status in STATUSES},
        }


WORST = 1e30


def _finite(score: float, mode: str) -> float:
    """Searchers and schedulers want finite numbers: the worst possible score stays worst, but finite."""
    if math.isfinite(score):
        return score
    return oriented(WORST, mode)
