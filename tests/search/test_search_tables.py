"""A small real Optuna search on the tiny task with two seeds: the experiment's files, tables and printed output."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.search.experiments import OPTUNA_SPACE, OUTCOMES, check_tables

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

CONFIGS = OPTUNA_SPACE["search"]["num_samples"]
SEEDS = OPTUNA_SPACE["seeds"]
MAX_EPOCHS = OPTUNA_SPACE["trainer"]["max_epochs"]


@pytest.fixture(scope="module")
def tables(optuna_run):
    return check_tables(optuna_run.path, configs=CONFIGS, seeds=SEEDS)


def test_trials_table_has_one_row_per_config_and_seed(tables):
    trials = tables["trials"]
    assert sorted(trials.groupby("config_id").size()) == [len(SEEDS)] * CONFIGS
    for config_id, rows in trials.groupby("config_id"):
        assert rows["status"].nunique() == 1, f"{config_id}: seeds of a config end together"
        assert rows["epochs_run"].nunique() == 1
        status = rows["status"].iloc[0]
        assert status in ("completed", "pruned")
        assert (rows["epochs_run"] == MAX_EPOCHS).all() == (status == "completed")
    assert (trials["wall_time_s"] > 0).all()
    assert trials["best_metric"].notna().all()


def test_epochs_and_steps_are_keyed_by_config_seed_and_index(tables):
    epochs, steps = tables["epochs"], tables["steps"]
    assert {"config_id", "seed", "epoch", "val_loss", "train_loss"} <= set(epochs.columns)
    assert {"config_id", "seed", "step", "train_loss", "lr", "grad_norm"} <= set(steps.columns)
    assert epochs["val_loss"].notna().all()
    assert set(epochs["config_id"]) == set(steps["config_id"]) == set(tables["trials"]["config_id"])


def test_sampler_proposes_distinct_configs(tables):
    configs = tables["trials"].drop_duplicates("config_id")["config_json"]
    assert configs.nunique() == CONFIGS
    lrs = {json.loads(c)["optimizer"]["lr"] for c in configs}
    assert len(lrs) == CONFIGS
    assert all(1.0e-3 <= lr <= 3.0e-2 for lr in lrs)


def test_each_trial_has_its_resolved_config(optuna_run, tables):
    from tune_sched.config.run_config import RunConfig

    for row in tables["trials"].drop_duplicates("config_id").itertuples():
        data = yaml.safe_load((optuna_run.path / "trials" / row.config_id / "config.yaml").read_text())
        config = RunConfig.from_dict(data)  # concrete: no distributions left
        assert config.optimizer["name"] in ("Adam", "SGD")
        assert json.loads(row.config_json)["optimizer"] == data["optimizer"]


def test_experiment_keeps_the_space_and_manifest(optuna_run):
    from tune_sched.results.experiment import read_manifest

    assert yaml.safe_load((optuna_run.path / "space.yaml").read_text()) == OPTUNA_SPACE
    manifest = read_manifest(optuna_run.path)
    assert (manifest["metric"], manifest["mode"], manifest["seeds"]) == ("val_loss", "min", SEEDS)


def test_progress_is_plain_lines_without_a_tty(optuna_run):
    output = optuna_run.output
    assert "\r" not in output and "\x1b" not in output
    lines = output.splitlines()
    assert lines[0].startswith(f"search: {CONFIGS} configs x {len(SEEDS)} seeds -> ")
    finished = [line for line in lines if line.split(" ", 1)[0] in OUTCOMES]
    assert len(finished) == CONFIGS, output
    assert any(line.startswith("[") and f"configs done {CONFIGS}/{CONFIGS}" in line for line in lines), output


def test_final_table_ranks_every_config(optuna_run, tables):
    lines = optuna_run.output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("top configs by robust score"))
    rows = lines[header + 2: header + 2 + CONFIGS]
    assert [row.split()[0] for row in rows] == [str(r) for r in range(1, CONFIGS + 1)]
    assert {row.split()[1] for row in rows} == set(tables["trials"]["config_id"])
    assert lines[-1] == f"next: tune-sched analyze {optuna_run.path}"
