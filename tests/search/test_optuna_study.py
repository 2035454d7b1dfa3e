"""The search's Optuna study is told what happened to each config (tune_sched/search/study.py): after a real search
its trial states match the experiment's statuses config by config, pruned trials carry their intermediate values,
and a config stopped by the time budget is a failed trial that says so."""

from __future__ import annotations

import copy
import math

import pytest

from tests.search.experiments import OPTUNA_SPACE, run_in_process

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

STATE_OF = {"completed": "COMPLETE", "diverged": "COMPLETE", "pruned": "PRUNED", "failed": "FAIL"}
"""The Optuna state of a config by its status in trials.parquet (every seed of a config ends alike)."""


def config_statuses(experiment) -> dict[str, str]:
    from tune_sched.results.experiment import load_experiment

    trials = load_experiment(experiment)["trials"].to_pandas()
    statuses = trials.groupby("config_id")["status"].agg(lambda s: "completed" if "completed" in set(s) else s.iloc[0])
    return statuses.to_dict()


def study_trials(experiment) -> dict[str, object]:
    from tune_sched.search.study import open_study

    trials = open_study(experiment).get_trials()
    by_config = {t.user_attrs["config_id"]: t for t in trials}
    assert len(by_config) == len(trials), "one Optuna trial per config"
    return by_config


def test_study_states_match_the_experiment_config_by_config(optuna_run):
    from tune_sched.results.experiment import load_experiment

    statuses = config_statuses(optuna_run.path)
    epochs_run = load_experiment(optuna_run.path)["trials"].to_pandas().groupby("config_id")["epochs_run"].max()
    trials = study_trials(optuna_run.path)
    assert set(trials) == set(statuses)
    for config_id, status in statuses.items():
        trial = trials[config_id]
        assert (trial.state.name, trial.user_attrs["outcome"]) == (STATE_OF[status], status), config_id
        assert trial.intermediate_values, f"{config_id}: one score per report"
        assert sorted(trial.intermediate_values) == list(range(1, len(trial.intermediate_values) + 1))
        assert all(math.isfinite(v) for v in trial.intermediate_values.values())
        if status == "pruned":
            assert len(trial.intermediate_values) == epochs_run[config_id], f"{config_id}: one per epoch"
        # a pruned trial's value is its last intermediate value; a completed one's its final score, reported last
        assert trial.value == trial.intermediate_values[trial.last_step], config_id


def test_study_keeps_the_sampler_settings(optuna_run):
    """The study's configs are the experiment's, sampled with search.sampler_seed: the same seed samples them again."""
    import json

    import optuna

    from tune_sched.config.space import SearchSpace
    from tune_sched.results.experiment import load_experiment

    trials = study_trials(optuna_run.path)
    table = load_experiment(optuna_run.path)["trials"].to_pandas().drop_duplicates("config_id")
    for row in table.itertuples():
        trial = trials[row.config_id]
        assert trial.params["optimizer.lr"] == json.loads(row.config_json)["optimizer"]["lr"]
    first = min(trials.values(), key=lambda t: t.number)
    again = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=OPTUNA_SPACE["search"]["sampler_seed"]))
    SearchSpace.from_dict(copy.deepcopy(OPTUNA_SPACE)).sample(trial := again.ask())
    assert trial.params == first.params
