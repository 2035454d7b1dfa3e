"""The search's Optuna study is told what happened to each config (tune_sched/search/study.py): after a real search
its trial states match the experiment's statuses config by config, pruned trials carry their intermediate values,
and a config stopped by the time budget is a failed trial that says so."""

from __future__ import annotations

import copy
import math

import pytest

from tests.search.experiments import OPTUNA_SPACE, run_in_process


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


@pytest.mark.slow
@pytest.mark.timeout(400)
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


@pytest.mark.slow
@pytest.mark.timeout(400)
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


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_configs_the_time_budget_stopped_are_failed_trials_that_say_so(ray_cluster, tmp_path):
    space = copy.deepcopy(OPTUNA_SPACE)
    space["search"].update(num_samples=2, time_budget_s=30, pruner="none")
    space["trainer"]["max_epochs"] = 100_000  # no config finishes in the budget
    experiment, _, _ = run_in_process(space, tmp_path, "budget")

    statuses = config_statuses(experiment)
    trials = study_trials(experiment)
    assert set(statuses) <= set(trials) and statuses
    for config_id, trial in trials.items():
        assert trial.state.name == "FAIL", config_id
        assert trial.user_attrs["outcome"] == "stopped"
        assert trial.user_attrs["stopped"] == "search.time_budget_s (30.0 s) ran out"
        if config_id in statuses:  # it trained: its reports are there; its seeds' rows say pruned (see results.md)
            assert statuses[config_id] == "pruned"
            assert trial.intermediate_values, config_id


# -- Tune's save and restore, called as Tune calls them on a resume (no cluster needed) -------------------------------
def searcher_for(experiment):
    import pickle

    from tune_sched.config.space import SearchSpace
    from tune_sched.search.algorithms import make_searcher

    searcher, _ = make_searcher(SearchSpace.from_dict(copy.deepcopy(OPTUNA_SPACE)), experiment)
    return searcher, pickle.dumps(searcher)  # and what tuner.pkl keeps: the searcher as the search began


def test_a_resume_continues_the_same_study(tmp_path):
    import pickle

    from tune_sched.search.study import open_study

    experiment = tmp_path / "exp"
    experiment.mkdir()
    searcher, as_begun = searcher_for(experiment)
    searcher.suggest("a")
    searcher.on_trial_result("a", {"score": 2.0, "training_iteration": 1})
    searcher.suggest("b")
    searcher.on_trial_complete("b", {"score": 3.0, "training_iteration": 1})  # pruned after one report
    searcher.save(str(tmp_path / "searcher.pkl"))
    searcher.suggest("c")  # after Tune's last save: the resumed search never hears of it

    resumed = pickle.loads(as_begun)
    resumed.restore(str(tmp_path / "searcher.pkl"))
    resumed.on_trial_result("a", {"score": 1.5, "training_iteration": 1})  # a restarted trial counts from 1 again
    resumed.on_trial_complete("a", {"score": 1.0, "training_iteration": 2, "all_seeds_finished": 1,
                                    "seeds_completed": 2})
    resumed.suggest("d")

    trials = {t.user_attrs["config_id"]: t for t in open_study(experiment).get_trials()}
    assert [trials[c].number for c in "abcd"] == [0, 1, 2, 3]
    assert trials["a"].state.name == "COMPLETE" and trials["a"].value == 1.0
    assert trials["a"].intermediate_values == {1: 2.0, 2: 1.5, 3: 1.0}
    assert (trials["b"].state.name, trials["b"].value) == ("PRUNED", 3.0)
    assert (trials["c"].state.name, trials["c"].user_attrs["outcome"]) == ("FAIL", "lost")
    assert trials["d"].state.name == "RUNNING"


def test_a_resume_without_the_study_file_restores_it_from_tunes_state(tmp_path):
    """Another machine resuming an experiment at a URI, or a moved experiment: the study comes with Tune's state,
    into the experiment being resumed, and the sampler continues where it was."""
    import pickle

    from tune_sched.search.study import STUDY_FILE, open_study, study_home

    first = tmp_path / "first"
    first.mkdir()
    searcher, as_begun = searcher_for(first)
    searcher.suggest("a")
    searcher.on_trial_result("a", {"score": 2.0, "training_iteration": 1})
    searcher.save(str(tmp_path / "searcher.pkl"))
    next_params = {k: v for k, v in searcher.suggest("b").items() if k != "run_config"}
    (first / STUDY_FILE).unlink()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    resumed = pickle.loads(as_begun)
    with study_home(elsewhere):
        resumed.restore(str(tmp_path / "searcher.pkl"))
    assert {k: v for k, v in resumed.suggest("b").items() if k != "run_config"} == next_params
    assert not (first / STUDY_FILE).exists()
    trials = open_study(elsewhere).get_trials()
    assert [(t.user_attrs["config_id"], t.state.name, t.intermediate_values) for t in trials] == [
        ("a", "RUNNING", {1: 2.0}), ("b", "RUNNING", {})]


@pytest.mark.parametrize(("fault", "state", "outcome"), [("nan", "COMPLETE", "diverged"), ("crash", "FAIL", "failed")])
def test_a_config_whose_every_seed_diverged_or_failed(tmp_path, fault, state, outcome):
    """Real training (ConfigRunner, as a Tune trial runs it) to the config's last result, told to the searcher as
    Tune tells it: every seed diverged is the worst finite score, every seed failed is a failed trial."""
    from tune_sched.search.aggregate import WORST
    from tune_sched.search.config_runner import ConfigRunner, SearchContext
    from tune_sched.search.study import open_study

    config = {"module": "tests.search.user_modules:Faulty", "module_kwargs": {"fault": fault, "at_epoch": 1},
              "optimizer": {"name": "Adam", "lr": 0.01}, "trainer": {"max_epochs": 3}}
    runner = ConfigRunner(SearchContext(experiment_dir=str(tmp_path), seeds=(0, 1), metric="val_loss", mode="min"),
                          {"run_config": config}, "c0")
    searcher, _ = searcher_for(tmp_path)
    searcher.suggest("c0")
    results = [runner.step()]
    while not results[-1].get("done"):
        searcher.on_trial_result("c0", {**results[-1], "training_iteration": len(results)})
        results.append(runner.step())
    runner.finish()
    searcher.on_trial_complete("c0", {**results[-1], "training_iteration": len(results)})

    [trial] = open_study(tmp_path).get_trials()
    assert (trial.state.name, trial.user_attrs["outcome"]) == (state, outcome)
    if outcome == "diverged":
        assert trial.value == WORST
    else:
        assert trial.value is None and "injected crash" in trial.user_attrs["reason"]


def test_ctrl_c_waits_until_the_study_is_written(tmp_path):
    """Optuna's journal file lock breaks when a KeyboardInterrupt lands inside it: a Ctrl-C (or SIGTERM) that
    arrives while the searcher writes the study is raised once the write is done."""
    import os
    import signal

    from tune_sched.search.study import open_study

    searcher, _ = searcher_for(tmp_path)
    searcher.suggest("a")
    trial = searcher._trial("a")
    report = trial.report
    trial.report = lambda value, step: (os.kill(os.getpid(), signal.SIGINT), report(value, step))  # mid-write
    with pytest.raises(KeyboardInterrupt):
        searcher.on_trial_result("a", {"score": 2.0, "training_iteration": 1})
    assert open_study(tmp_path).get_trials()[0].intermediate_values == {1: 2.0}
