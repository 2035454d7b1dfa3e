"""Faults inside trials during a real search (the fault grid of tests.search.experiments): a worker SIGKILLed in
the middle of a trial is retried from its seeds' last checkpoints; a worker that dies on every attempt, a trial
that raises, one whose loss turns NaN and one that runs out of memory are recorded with their reason; the search
finishes, and load_experiment and the ranking handle every outcome. No table is ever half-written and no row is
lost."""

from __future__ import annotations

import json
import math

import pytest

from tests.search.experiments import FAULTS_IN_GRID, check_tables

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

SEEDS = (0, 1)


@pytest.fixture(scope="module")
def tables(fault_run):
    return check_tables(fault_run.path, configs=len(FAULTS_IN_GRID), seeds=SEEDS)


@pytest.fixture(scope="module")
def by_fault(tables):
    trials = tables["trials"]
    fault = trials["config_json"].map(lambda c: json.loads(c)["module_kwargs"]["fault"])
    return {name: trials[fault == name].sort_values("seed").reset_index(drop=True) for name in FAULTS_IN_GRID}


def test_a_killed_worker_is_retried_from_the_seeds_checkpoints(fault_run, tables, by_fault):
    assert len(fault_run.kills) == 1, "the kill fault's worker was SIGKILLed once"
    rows = by_fault["kill"]
    assert list(rows["status"]) == ["completed", "completed"]
    assert list(rows["epochs_run"]) == [3, 3]
    config_id = rows["config_id"].iloc[0]
    for name, table in (("epochs", tables["epochs"]), ("steps", tables["steps"])):
        mine = table[table.config_id == config_id]
        assert not mine.duplicated(["seed", name[:-1]]).any(), f"duplicated {name}"
    assert len(tables["steps"][tables["steps"].config_id == config_id]) == 2 * 12  # 3 epochs x 4 steps, per seed
    # resuming from a checkpoint is exact: the retried config ends with the same numbers as the undisturbed one
    assert list(rows["best_metric"]) == list(by_fault["none"]["best_metric"])
    assert f"retrying  {config_id}" in fault_run.output


def test_the_killed_process_was_a_training_process_forked_by_the_fork_server(fault_run):
    # the search's Ray is on this machine, so its workers train in processes forked by the fork server
    assert [p.split()[1:3] for p in fault_run.killed_parents] == [["-m", "tune_sched.search.forkserver"]]


def test_out_of_memory_is_failed_with_advice(by_fault):
    rows = by_fault["oom"]
    assert list(rows["status"]) == ["failed", "failed"]
    assert rows["reason"].str.startswith("out of memory (OutOfMemoryError: CUDA out of memory.").all()
    assert rows["reason"].str.contains("lower trainer.batch_size").all()
    assert list(rows["failed_epoch"]) == [1, 1]


def test_a_config_whose_worker_always_dies_is_failed_after_its_retries(fault_run, by_fault):
    rows = by_fault["die"]
    config_id = rows["config_id"].iloc[0]
    assert list(rows["status"]) == ["failed", "failed"]
    assert (rows["reason"] == "its worker process died 2 time(s), more than search.max_failures allows (Ray's error: "
            f"{fault_run.path / 'tune' / config_id / 'error.txt'})").all()
    assert list(rows["epochs_run"]) == [1, 1]  # each seed's epoch 0, recorded once across both attempts
    assert f"retrying  {config_id}" in fault_run.output
    assert (f"failed    {config_id}  module_kwargs.fault=die  (its worker died; Ray's error: "
            f"{fault_run.path / 'tune' / config_id / 'error.txt'})") in fault_run.output
    assert (fault_run.path / "tune" / config_id / "error.txt").exists()


@pytest.mark.parametrize("fault,status", [("crash", "failed"), ("nan", "diverged"), ("oom", "failed")])
def test_each_fault_is_one_config_outcome_in_the_progress(fault_run, by_fault, fault, status):
    config_id = by_fault[fault]["config_id"].iloc[0]
    line = next(line for line in fault_run.output.splitlines() if f" {config_id} " in line)
    assert line.startswith(f"{status:9s} {config_id}  score n/a  module_kwargs.fault={fault}")
    assert line.endswith(f"(seeds: 2 {status})")


@pytest.mark.parametrize("fault", ["crash", "nan", "oom", "die"])
def test_ranking_puts_failed_and_diverged_configs_last(fault_run, by_fault, fault):
    from tune_sched.analysis.score import rank_configs
    from tune_sched.results.experiment import load_experiment

    trials = load_experiment(fault_run.path)["trials"].to_pandas()
    ranked = rank_configs(trials, mode="min").set_index("config_id")
    bad = by_fault[fault]["config_id"].iloc[0]
    for ok in ("none", "worse", "kill"):
        assert ranked.loc[bad, "rank"] > ranked.loc[by_fault[ok]["config_id"].iloc[0], "rank"]
    assert math.isinf(ranked.loc[bad, "score"])
    assert ranked.loc[bad, "divergence_rate"] == 1.0


def test_no_table_was_ever_half_written(fault_run):
    assert fault_run.reads > 100, "the reader ran during the search"
    assert fault_run.torn == ()


def test_fault_accounting(fault_run, tables, capsys):
    """Faults injected and survived, rows lost (printed with -s; the numbers the reliability report quotes)."""
    trials = tables["trials"]
    injected = {"worker SIGKILL from outside": len(fault_run.kills), "worker SIGKILL from inside": 2,
                "exception": 2, "NaN loss": 2, "out of memory": 2}
    expected_rows = len(FAULTS_IN_GRID) * len(SEEDS)
    lost = expected_rows - len(trials)
    with capsys.disabled():
        print(f"\nfaults injected {sum(injected.values())} ({injected}); search finished: "
              f"{'top configs by robust score' in fault_run.output}; trials rows {len(trials)}/{expected_rows}, "
              f"lost {lost}; table reads during the search {fault_run.reads}, torn {len(fault_run.torn)}; "
              f"search {fault_run.seconds:.0f} s")
    assert lost == 0
