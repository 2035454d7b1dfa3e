"""SeedAggregate: the per-config value the searcher and pruner see, from every seed (no Ray run)."""

from __future__ import annotations

import math

import pytest

from tune_sched.analysis.score import robust_score
from tune_sched.search.aggregate import STATUSES, WORST, SeedAggregate
from tune_sched.train.trial import TrialResult


def result(seed: int, status: str, best: float) -> TrialResult:
    return TrialResult(config_id="c", seed=seed, status=status, best_metric=best)


def test_statuses_are_the_trial_statuses():
    assert STATUSES == ("completed", "pruned", "failed", "diverged")


def test_running_score_is_the_robust_score_of_each_seeds_best():
    agg = SeedAggregate([0, 1, 2], metric="val_loss", mode="min")
    agg.update({0: {"val_loss": 3.0}, 1: {"val_loss": 2.0}, 2: {"val_loss": 4.0}})
    agg.update({0: {"val_loss": 1.0}, 1: {"val_loss": 2.5}, 2: {"val_loss": 4.0}})
    report = agg.report()
    assert report["score"] == robust_score([1.0, 2.0, 4.0])
    assert report["val_loss_mean"] == pytest.approx(7.0 / 3)
    assert (report["epoch"], report["diverged_seeds"]) == (2, 0.0)
    assert all(report[f"seeds_{s}"] == 0.0 for s in STATUSES)  # none finished yet


@pytest.mark.parametrize("status", ["failed", "diverged"])
def test_a_failed_or_diverged_seed_counts_as_diverged_like_in_the_ranking(status):
    agg = SeedAggregate([0, 1], metric="val_loss", mode="min")
    agg.finish({0: result(0, "completed", 1.0), 1: result(1, status, 0.5)})
    report = agg.report()
    assert report["score"] == robust_score([1.0, 0.5], diverged=[False, True])
    assert report["score"] > 1.0  # worse than the healthy seed alone: the failure costs
    assert (report["seeds_completed"], report[f"seeds_{status}"], report["diverged_seeds"]) == (1.0, 1.0, 1.0)


@pytest.mark.parametrize("mode,worst", [("min", WORST), ("max", -WORST)])
def test_every_seed_lost_is_the_worst_finite_score(mode, worst):
    agg = SeedAggregate([0, 1], metric="val_acc", mode=mode)
    agg.update({0: {"val_acc": math.nan}, 1: {"val_acc": 0.5}})
    agg.finish({1: result(1, "failed", 0.5)})
    report = agg.report()
    assert report["score"] == worst
    assert math.isnan(report["val_acc_mean"])
