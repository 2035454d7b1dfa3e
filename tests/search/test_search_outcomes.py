"""How a search records each outcome: the pruner stops all seeds of a config together, a failing trial and a
diverging trial are recorded with their reason and the search goes on (the fault grid of tests.search.experiments).
"""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from tests.search.experiments import FAULTS_IN_GRID, OUTCOMES, check_tables

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

SEEDS = (0, 1)


@pytest.fixture(scope="module")
def by_fault(fault_run):
    """The trials table rows of each fault (grid configs are numbered in FAULTS_IN_GRID order)."""
    import json

    trials = check_tables(fault_run.path, configs=len(FAULTS_IN_GRID), seeds=SEEDS)["trials"]
    fault = trials["config_json"].map(lambda c: json.loads(c)["module_kwargs"]["fault"])
    return {name: trials[fault == name].sort_values("seed") for name in FAULTS_IN_GRID}


def test_a_normal_config_completes(by_fault):
    rows = by_fault["none"]
    assert list(rows["status"]) == ["completed", "completed"]
    assert list(rows["epochs_run"]) == [3, 3]


def test_pruner_stops_every_seed_of_a_worse_config_at_the_same_epoch(by_fault):
    rows = by_fault["worse"]
    assert list(rows["status"]) == ["pruned", "pruned"]
    assert rows["epochs_run"].nunique() == 1 and rows["epochs_run"].iloc[0] < 3
    assert (rows["reason"] == "stopped by the search's pruner").all()


def test_a_trial_that_raises_is_failed_with_reason_and_epoch(by_fault):
    rows = by_fault["crash"]
    assert list(rows["status"]) == ["failed", "failed"]
    assert (rows["reason"] == "RuntimeError: injected crash").all()
    assert list(rows["failed_epoch"]) == [1, 1]
    assert list(rows["epochs_run"]) == [1, 1]


def test_a_diverging_trial_is_diverged_with_its_step(by_fault):
    rows = by_fault["nan"]
    assert list(rows["status"]) == ["diverged", "diverged"]
    assert list(rows["diverged_step"]) == [4, 4]  # the first step of epoch 1 (4 steps per epoch)
    assert rows["reason"].str.contains("train loss became nan at step 4").all()


def test_the_search_goes_on_and_prints_each_outcome(fault_run):
    lines = fault_run.output.splitlines()
    finished = [line for line in lines if line.split(" ", 1)[0] in OUTCOMES]
    assert len(finished) == len(FAULTS_IN_GRID), fault_run.output
    assert f"configs done {len(FAULTS_IN_GRID)}/{len(FAULTS_IN_GRID)}" in fault_run.output
    assert "top configs by robust score" in fault_run.output


def test_the_final_table_ranks_like_analyze(fault_run):
    """The search's final table and ``analyze`` rank the same experiment (completed, pruned, failed, diverged and
    retried seeds) in the same order with the same scores; configs whose every seed failed are not ranked."""
    from tune_sched.analysis.experiment_analysis import analyze_experiment
    from tune_sched.search.summary import _fmt

    lines = fault_run.output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("top configs by robust score"))
    rows = [line.split() for line in lines[header + 2:] if line[:4].strip().isdigit()]
    ranking = analyze_experiment(fault_run.path).ranking
    trials = pq.read_table(fault_run.path / "trials.parquet").to_pandas()
    failed = {cid for cid, statuses in trials.groupby("config_id")["status"] if set(statuses) == {"failed"}}
    assert failed, "the fault grid has configs whose every seed failed"
    expected = ranking[~ranking["config_id"].isin(failed)].head(5)
    assert [row[1] for row in rows] == list(expected["config_id"])
    assert [row[2] for row in rows] == [_fmt(float(s)) for s in expected["score"]]
    assert f"{len(failed)} of {trials['config_id'].nunique()} configs failed on every seed and are not ranked" \
        in fault_run.output
