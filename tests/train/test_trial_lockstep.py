"""run_seeds: several seeds in lockstep give exactly the single runs' numbers, and each seed's own wall time."""

from __future__ import annotations

import time

import pyarrow.parquet as pq
import pytest
from tests.train.trial_configs import tiny

import tune_sched.train.callbacks  # noqa: F401 - Lightning is imported before any timing starts
from tune_sched.train.lockstep import run_seeds
from tune_sched.train.trial import run_trial

CONFIG = tiny(lr_scheduler={"name": "OneCycleLR", "max_lr": 0.02},
              loss_scheduler={"mode": "adaptive", "warmup_epochs": 0, "patience": 1, "min_delta": 10.0})
SEEDS = (1, 2)


def tables(out):
    return [pq.read_table(out / f"{name}.parquet").to_pandas() for name in ("steps", "epochs")]


def test_lockstep_equals_separate_runs_bit_for_bit(tmp_path):
    rounds = []
    results = run_seeds(CONFIG, SEEDS, {s: tmp_path / f"lock{s}" for s in SEEDS},
                        on_epoch=lambda i, reports: rounds.append((i, sorted(reports))) or False)
    assert rounds == [(0, [1, 2]), (1, [1, 2]), (2, [1, 2])]
    for seed in SEEDS:
        alone = run_trial(CONFIG, seed, tmp_path / f"alone{seed}")
        for a, b in zip(tables(tmp_path / f"lock{seed}"), tables(tmp_path / f"alone{seed}")):
            assert a.equals(b)
        assert results[seed].best_metric == alone.best_metric and results[seed].status == "completed"
    assert not tables(tmp_path / "lock1")[0]["train_loss"].equals(tables(tmp_path / "lock2")[0]["train_loss"])


def test_on_epoch_returning_true_stops_every_seed_as_pruned():
    results = run_seeds(CONFIG, SEEDS, on_epoch=lambda i, reports: i == 1)
    assert {r.status for r in results.values()} == {"pruned"} and {r.epochs_run for r in results.values()} == {2}


def test_each_seeds_wall_time_is_its_own_training_time():
    """The seeds take turns, so their own times add up to at most the whole call; waiting does not count."""
    start = time.perf_counter()
    results = run_seeds(CONFIG, SEEDS, on_epoch=lambda i, reports: time.sleep(0.2) or False)
    total = time.perf_counter() - start
    own = [r.wall_time_s for r in results.values()]
    assert all(t > 0 for t in own)
    assert sum(own) <= total - 3 * 0.2  # 3 rounds of the caller's 0.2 s belong to no seed


def test_an_epoch_hooks_time_is_not_training_time():
    start = time.perf_counter()
    result = run_trial(CONFIG, 1, epoch_hook=lambda epoch, metrics: time.sleep(0.2) or False)
    assert result.wall_time_s <= time.perf_counter() - start - 3 * 0.2


def test_seeds_must_be_distinct():
    with pytest.raises(ValueError, match=r"seeds must be distinct, but got \[1, 1\]"):
        run_seeds(CONFIG, [1, 1])
