"""analyze_experiment on real experiment directories: ranking, statuses, spikes, varying parameters, ties, errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow.parquet as pq
import pytest

from tune_sched.analysis.experiment_analysis import (
    ANALYSIS_FILE,
    analyze_experiment,
    select_config,
    write_analysis_table,
)
from tune_sched.core.errors import UsageError
from tune_sched.results.experiment import create_experiment, seed_dir


def test_the_ranking_puts_the_steady_config_first_and_the_diverging_one_last(analysis):
    ranking = analysis.ranking
    assert ranking["config_id"].tolist()[0] == "steady"
    assert ranking["config_id"].tolist()[-1] == "blowup"
    assert ranking["rank"].tolist() == list(range(1, 6))
    blowup = ranking.set_index("config_id").loc["blowup"]
    assert math.isinf(blowup["score"]) and blowup["n_diverged"] == 3 and math.isnan(blowup["iqm"])
    assert blowup["best_seed"] is None or blowup["best_seed"] is __import__("pandas").NA


def test_statuses_are_counted_and_failed_seeds_count_as_diverged(analysis):
    troubled = analysis.ranking.set_index("config_id").loc["troubled"]
    assert (troubled["n_seeds"], troubled["n_pruned"], troubled["n_failed"], troubled["n_completed"]) == (2, 1, 1, 0)
    assert troubled["n_diverged"] == 1  # the failed seed; the pruned one keeps its metric
    assert troubled["best_seed"] == 0


def test_the_best_seed_is_the_one_with_the_best_metric(analysis):
    runs = analysis.runs[analysis.runs["config_id"] == "steady"]
    best = runs.loc[runs["best_metric"].idxmin(), "seed"]
    row = analysis.ranking.set_index("config_id").loc["steady"]
    assert row["best_seed"] == best and row["best_seed_metric"] == pytest.approx(runs["best_metric"].min())


def test_spikes_are_found_in_the_spiky_config_only(analysis):
    assert set(analysis.episodes["config_id"]) == {"spiky"}
    spiky = analysis.ranking.set_index("config_id").loc["spiky"]
    assert spiky["spike_mean"] > 0 and spiky["max_peak_ratio"] > 2
    steady = analysis.runs[analysis.runs["config_id"] == "steady"]
    assert (steady["spike_count"] == 0).all()


def test_diverged_runs_show_their_non_finite_loss(analysis):
    blowup = analysis.runs[analysis.runs["config_id"] == "blowup"]
    assert (blowup["n_nonfinite"] >= 1).all() and (blowup["status"] == "diverged").all()


def test_only_the_values_that_differ_between_configs_are_parameters(analysis):
    # loss_scheduler: set in one config only -> one column for the block (its mode), not its 18 keys
    assert set(analysis.params) == {
        "cfg.optimizer.name", "cfg.optimizer.lr", "cfg.lr_scheduler.name", "cfg.lr_scheduler.gamma",
        "cfg.loss_scheduler.mode",
    }
    assert "cfg.trainer.max_epochs" not in analysis.params


def test_the_config_of_a_config_id_is_its_recorded_config(analysis):
    config = analysis.config("decay")
    assert config["optimizer"] == {"name": "Adam", "lr": 0.003} and "seed" not in config


def test_one_seed_per_config_gives_no_spread_and_no_front(single_seed):
    analysis = analyze_experiment(single_seed, n_boot=50)
    ranking = analysis.ranking
    assert analysis.n_seeds == 1
    assert ranking["std"].isna().all() and ranking["spike_var"].isna().all() and not ranking["pareto"].any()
    assert np.allclose(ranking["score"], ranking["iqm"])  # one seed: no spread term


def test_identical_configs_tie_and_the_tie_goes_to_the_smaller_id(tmp_path):
    from tune_sched.train.trial import run_trial

    exp = create_experiment(tmp_path / "ties", space_source={}, metric="val_loss", mode="min", seeds=[0])
    config = {"task": "tiny", "trainer": {"max_epochs": 1}, "optimizer": {"name": "Adam", "lr": 0.01}}
    for config_id in ("b_twin", "a_twin"):
        run_trial(config, 0, seed_dir(exp, config_id, 0), config_id=config_id, num_threads=1)
    ranking = analyze_experiment(exp, n_boot=50).ranking
    assert ranking["score"].iloc[0] == ranking["score"].iloc[1]
    assert ranking["config_id"].tolist() == ["a_twin", "b_twin"]


def test_the_analysis_table_has_one_row_per_config_with_every_statistic(analysis, tmp_path):
    path = write_analysis_table(analysis, tmp_path)
    assert path == tmp_path / ANALYSIS_FILE
    table = pq.read_table(path).to_pandas()
    assert table["config_id"].tolist() == analysis.ranking["config_id"].tolist()
    for column in ("rank", "score", "iqm", "std", "worst", "cvar", "divergence_rate", "spike_mean", "spike_var",
                   "pareto", "best_seed", "n_pruned", "n_failed", "config_json", "cfg.optimizer.lr"):
        assert column in table.columns
    assert json.loads(table["config_json"].iloc[0])["optimizer"]["name"] == "Adam"


def test_the_manifest_settings_choose_the_score(tmp_path, experiment):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(experiment, copy)
    manifest = json.loads((copy / "experiment.json").read_text())
    manifest["settings"]["score"] = {"spread_weight": 0.0}
    (copy / "experiment.json").write_text(json.dumps(manifest))
    ranking = analyze_experiment(copy, n_boot=50).ranking.set_index("config_id")
    assert ranking.loc["steady", "score"] == pytest.approx(ranking.loc["steady", "iqm"])

    manifest["settings"]["score"] = {"spread_weigth": 1.0}
    (copy / "experiment.json").write_text(json.dumps(manifest))
    with pytest.raises(UsageError, match=r"settings\.score\.spread_weigth: unknown score setting .*did you mean "
                                         r"'spread_weight'"):
        analyze_experiment(copy)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rank": 0}, r"^--rank: must be between 1 and 5 \(the experiment's configs\), but got 0; pick a rank"),
        ({"rank": 6}, r"^--rank: must be between 1 and 5 .* but got 6"),
        ({"config_id": "stedy"}, r"^--trial: unknown config id 'stedy' \(did you mean 'steady'\?\); use one of: "
                                 r"steady, spiky, decay, troubled, blowup$"),
        ({"rank": 1, "config_id": "steady"}, r"^--rank: cannot be combined with --trial; give one of them$"),
    ],
)
def test_select_config_errors(analysis, kwargs, match):
    with pytest.raises(UsageError, match=match):
        select_config(analysis, **kwargs)


def test_select_config_by_rank_and_by_id(analysis):
    assert select_config(analysis)["config_id"] == "steady"
    assert select_config(analysis, rank=2)["config_id"] == analysis.ranking["config_id"].iloc[1]
    assert select_config(analysis, config_id="blowup")["rank"] == 5


def test_many_config_ids_are_listed_only_in_part():
    from tune_sched.analysis.experiment_analysis import unknown_config

    err = unknown_config("x", [f"c{i:02d}" for i in range(25)], path="--trial")
    assert str(err).endswith("use one of: c00, c01, c02, c03, c04, c05, c06, c07, c08, c09, ... (15 more)")


def test_an_experiment_without_finished_trials_is_an_error(tmp_path):
    exp = create_experiment(tmp_path / "empty", space_source={}, metric="val_loss", mode="min", seeds=[0])
    with pytest.raises(UsageError, match=r"empty: has no finished trial yet; wait until a trial writes"):
        analyze_experiment(exp)


def test_a_directory_that_is_no_experiment_is_an_error(tmp_path):
    with pytest.raises(UsageError, match=r"is not an experiment directory \(no experiment.json\); pass a directory"):
        analyze_experiment(tmp_path)


def test_runs_that_failed_before_their_first_step_are_analysed(single_seed, copy_of, tmp_path):
    """A crash before any step (say, out of memory) leaves a result.json but no tables."""
    from tune_sched.analysis.report import write_report

    exp = copy_of(single_seed)
    for table in exp.glob("*.parquet"):
        table.unlink()
    for run in exp.glob("trials/*/seed=*"):
        (run / "steps.parquet").unlink()
        (run / "epochs.parquet").unlink()
        result = json.loads((run / "result.json").read_text())
        result.update(status="failed", reason="RuntimeError: out of memory", best_metric=None, epochs_run=0)
        (run / "result.json").write_text(json.dumps(result))
    analysis = analyze_experiment(exp, n_boot=50)
    assert analysis.steps.empty and analysis.episodes.empty
    assert analysis.ranking["score"].tolist() == [math.inf, math.inf]
    assert analysis.ranking["spike_mean"].isna().all() and (analysis.ranking["n_failed"] == 1).all()
    report = write_report(analysis, tmp_path / "report")
    assert "No config trained stably" in report.verdict and "out of memory" in report.verdict
