"""A search trial trains its config's seeds stacked where it can (ConfigRunner, without Ray): one row per seed in
the experiment's tables, marked stacked, and the same seed-aggregated score as separate training gives."""

from __future__ import annotations

import math

import pandas as pd

from tune_sched.results.experiment import trial_rows
from tune_sched.search.config_runner import ConfigRunner, SearchContext

CONFIG = {"task": "tiny", "optimizer": {"name": "Adam", "lr": 0.01}, "trainer": {"max_epochs": 3}}


def _search(tmp_path, mode: str) -> tuple[float, pd.DataFrame]:
    ctx = SearchContext(experiment_dir=str(tmp_path / mode), seeds=(0, 1, 2), metric="val_loss", mode="min")
    config = {**CONFIG, "trainer": {**CONFIG["trainer"], "seed_mode": mode}}
    runner = ConfigRunner(ctx, {"run_config": config}, "c0")
    report = runner.step()
    while not report.get("done"):
        report = runner.step()
    runner.finish()
    return report["score"], pd.DataFrame(trial_rows(tmp_path / mode))


def test_a_trials_seeds_train_stacked_and_score_as_separately(tmp_path):
    stacked_score, stacked = _search(tmp_path, "auto")
    separate_score, separate = _search(tmp_path, "separate")
    assert sorted(stacked["seed"]) == [0, 1, 2] and set(stacked["seed_mode"]) == {"stacked"}
    assert set(separate["seed_mode"]) == {"separate"} and set(stacked["status"]) == {"completed"}
    assert math.isclose(stacked_score, separate_score, rel_tol=1e-5)
    a, b = stacked.sort_values("seed"), separate.sort_values("seed")
    for column in ("final_metric", "best_metric", "steps_run", "epochs_run"):
        assert all(math.isclose(x, y, rel_tol=1e-5) for x, y in zip(a[column], b[column])), column
