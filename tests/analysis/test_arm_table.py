"""The arm section: configs grouped by LR scheduler family (and other one_of choices), on real runs.

The session fixture ``experiment`` (see conftest) has constant-LR arms (``steady``, ``blowup``, ``troubled``), a
StepLR arm (``decay``), a MultiStepLR arm (``spiky``), two optimizers (Adam, SGD) and one loss scheduler (ramp).
``plateau_experiment`` trains the tiny task with a ReduceLROnPlateau that cannot act in 3 epochs (patience 10)
beside a constant LR, and one that acts at once (patience 0, a threshold no epoch can meet).
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from tune_sched.analysis.arm_table import arm_sentences, arm_table, format_arm_section
from tune_sched.analysis.experiment_analysis import analyze_experiment, config_families, write_analysis_table
from tune_sched.analysis.ranking_table import format_ranking
from tune_sched.analysis.stats import iqm, mean_ci, wilson_interval

BASE = {"task": "tiny", "trainer": {"max_epochs": 3, "batch_size": 8}, "optimizer": {"name": "Adam", "lr": 0.01}}
IDLE_PLATEAU = {**BASE, "lr_scheduler": {"name": "ReduceLROnPlateau", "monitor": "val_loss", "patience": 10}}
EAGER_PLATEAU = {**BASE, "lr_scheduler": {"name": "ReduceLROnPlateau", "monitor": "val_loss", "patience": 0,
                                          "threshold": 0.99, "factor": 0.5}}


@pytest.fixture(scope="module")
def plateau_experiment(tmp_path_factory):
    import torch

    from tune_sched.results.experiment import create_experiment, seed_dir
    from tune_sched.train.trial import run_trial

    torch.set_num_threads(1)
    exp = create_experiment(tmp_path_factory.mktemp("arms") / "plateau", space_source={"task": "tiny"},
                            metric="val_loss", mode="min", seeds=[0, 1])
    results = {}
    for config_id, config in (("idle", IDLE_PLATEAU), ("flat", BASE), ("eager", EAGER_PLATEAU)):
        for seed in (0, 1):
            results[config_id, seed] = run_trial(config, seed, seed_dir(exp, config_id, seed), config_id=config_id)
    return exp, results


def test_lr_changed_is_recorded_per_run(plateau_experiment):
    exp, results = plateau_experiment
    assert all(results["idle", s].lr_changed is False and results["idle", s].status == "completed" for s in (0, 1))
    assert all(results["flat", s].lr_changed is False for s in (0, 1))
    assert all(results["eager", s].lr_changed is True for s in (0, 1))
    analysis = analyze_experiment(exp)
    trials = pq.read_table(exp / "trials.parquet").to_pandas().set_index(["config_id", "seed"])
    assert trials["lr_changed"].to_dict() == {(c, s): c == "eager" for c in ("eager", "flat", "idle") for s in (0, 1)}
    assert analysis.runs["lr_changed"].notna().all()


def test_a_scheduler_that_never_acted_is_named(plateau_experiment):
    analysis = analyze_experiment(plateau_experiment[0])
    table = arm_table(analysis).set_index("arm")
    assert table.loc["ReduceLROnPlateau", "lr_known"] == 4 and table.loc["ReduceLROnPlateau", "lr_changed"] == 2
    sentences = arm_sentences(analysis)
    assert any("ReduceLROnPlateau lowered the LR in 2 of 4 runs; in the other 2 it never acted" in s
               for s in sentences)

    idle_only = _only(analysis, ["idle", "flat"])
    sentences = arm_sentences(idle_only)
    assert "ReduceLROnPlateau never lowered the LR in 2 of 2 runs: this arm behaved as a constant LR." in sentences
    assert sentences[0].startswith("`ReduceLROnPlateau`: 0 spike episodes per run (0 of 2 runs) against ")
    assert "with a constant LR" in sentences[0]
    # a scheduler that never acts trains exactly as its constant twin
    assert ("matched with its twin on the same seed and otherwise the same config (2 pairs of runs), "
            "`ReduceLROnPlateau` had fewer spike episodes in 0, more in 0 and as many in 2") in sentences[0]


def test_lr_changed_falls_back_to_the_recorded_lr(plateau_experiment, copy_of):
    """An experiment recorded before the column: the LR columns of the steps decide."""
    analysis = analyze_experiment(plateau_experiment[0])
    old = _replace(analysis, runs=analysis.runs.drop(columns="lr_changed"))
    table = arm_table(old).set_index("arm")
    assert table.loc["ReduceLROnPlateau", "lr_changed"] == 2 and table.loc["constant", "lr_changed"] == 0


def test_arm_numbers_on_a_real_experiment(analysis):
    table = arm_table(analysis)
    assert set(table["grouping"]) == {"lr_scheduler", "optimizer", "loss_scheduler"}
    sched = table[table["grouping"] == "lr_scheduler"].set_index("arm")
    assert sorted(sched.index) == ["MultiStepLR", "StepLR", "constant"]
    runs = analysis.runs
    constant = runs[runs["config_id"].isin(["steady", "blowup", "troubled"])]
    row = sched.loc["constant"]
    assert (row["n_configs"], row["n_runs"]) == (3, 8)
    bad = constant["status"].isin(["diverged", "failed"]) | ~np.isfinite(constant["best_metric"].astype(float))
    assert row["n_diverged"] == bad.sum() >= 4  # blowup on every seed, troubled's failed seed
    assert (row["divergence_lo"], row["divergence_hi"]) == pytest.approx(wilson_interval(int(bad.sum()), 8))
    counts = constant["spike_count"].dropna()
    assert row["spike_runs"] == (counts > 0).sum()
    assert row["episodes_per_run"] == pytest.approx(counts.mean())
    assert row["iqm"] == pytest.approx(iqm(constant.loc[~bad, "best_metric"].astype(float)))
    assert row["iqm_lo"] <= row["iqm"] <= row["iqm_hi"]
    assert row["episodes_lo"] <= row["episodes_per_run"] <= row["episodes_hi"]
    assert (row["lr_known"], row["lr_changed"]) == (8, 0)
    assert (sched.loc["StepLR", "lr_changed"], sched.loc["MultiStepLR", "lr_changed"]) == (3, 3)
    assert table.set_index(["grouping", "arm"]).loc[("optimizer", "SGD"), "n_runs"] == 3
    assert table.set_index(["grouping", "arm"]).loc[("loss_scheduler", "ramp"), "n_configs"] == 1
    spiky = runs[runs["config_id"] == "spiky"]["spike_count"]
    assert sched.loc["MultiStepLR", "spike_runs"] == (spiky > 0).sum()


def test_the_section_reads(analysis):
    text = format_arm_section(analysis, markdown=True)
    assert text.startswith("| grouping | arm | configs | runs | spike rate | episodes/run | IQM val_loss |")
    assert "against" in text and "with a constant LR" in text and "configs as the units" in text
    assert "StepLR changed the LR in every one of its 3 runs." in text
    # spiky is steady with a MultiStepLR: their runs on one seed are twins; decay differs in more than its arm
    runs = analysis.runs.set_index(["config_id", "seed"])["spike_count"]
    more = sum(runs["spiky", s] > runs["steady", s] for s in (0, 1, 2))
    assert (f"(3 pairs of runs), `MultiStepLR` had fewer spike episodes in 0, more in {more} and as many in "
            f"{3 - more}") in text and more >= 1
    assert "`StepLR` had fewer" not in text


def test_families_are_columns_everywhere(analysis, tmp_path):
    ranking = analysis.ranking.set_index("config_id")
    assert ranking.loc["steady", "lr_scheduler"] == "constant" and ranking.loc["decay", "lr_scheduler"] == "StepLR"
    assert ranking.loc["blowup", "optimizer"] == "SGD" and ranking.loc["decay", "loss_scheduler"] == "ramp"
    assert ranking.loc["steady", "loss_scheduler"] == "none"
    written = pq.read_table(write_analysis_table(analysis, tmp_path)).to_pandas().set_index("config_id")
    assert written.loc["spiky", "lr_scheduler"] == "MultiStepLR" and written.loc["troubled", "optimizer"] == "Adam"
    header = format_ranking(analysis).splitlines()[0].split()
    assert header.index("optimizer") + 1 == header.index("lr_scheduler")
    assert "loss_scheduler" in header


def test_loss_scheduler_column_only_when_some_config_has_one(plateau_experiment):
    analysis = analyze_experiment(plateau_experiment[0])
    assert {"optimizer", "lr_scheduler"} <= set(analysis.ranking.columns)
    assert "loss_scheduler" not in analysis.ranking.columns


@pytest.mark.parametrize(("config", "expected"), [
    ({"optimizer": {"name": "SGD"}, "lr_scheduler": {"name": "OneCycleLR", "max_lr": 0.1}},
     {"optimizer": "SGD", "lr_scheduler": "OneCycleLR", "loss_scheduler": "none"}),
    ('{"optimizer": {"name": "Adam"}, "loss_scheduler": {"mode": "adaptive"}}',
     {"optimizer": "Adam", "lr_scheduler": "constant", "loss_scheduler": "adaptive"}),
    (None, {"optimizer": "?", "lr_scheduler": "constant", "loss_scheduler": "none"}),
])
def test_config_families(config, expected):
    assert config_families(config) == expected


def _only(analysis, config_ids):
    keep = analysis.runs["config_id"].isin(config_ids)
    return _replace(analysis, runs=analysis.runs[keep].reset_index(drop=True),
                    ranking=analysis.ranking[analysis.ranking["config_id"].isin(config_ids)].reset_index(drop=True))


def _replace(analysis, **changes):
    import dataclasses

    return dataclasses.replace(analysis, **changes)


def test_interval_of_one_config_counts_its_runs():
    from tune_sched.analysis.arm_table import _config_interval

    lo, hi = _config_interval(np.array(["a"] * 4), np.array([0.0, 0.0, 2.0, 2.0]), "mean")
    assert (lo, hi) == pytest.approx(mean_ci([0.0, 0.0, 2.0, 2.0]))  # symmetric runs: Student's t over the runs
    assert all(math.isnan(v) for v in _config_interval(np.array(["a"]), np.array([1.0]), "mean"))
    # two configs with constant runs: the configs' means are the units
    lo, hi = _config_interval(np.array(["a", "a", "b", "b"]), np.array([0.0, 0.0, 1.0, 1.0]), "mean")
    assert (lo, hi) == pytest.approx(mean_ci([0.0, 1.0]))


def test_with_equal_runs_per_config_the_units_are_the_configs_means():
    from tune_sched.analysis.arm_table import _config_units

    values = np.random.default_rng(3).lognormal(size=(6, 3))
    configs = np.repeat(np.arange(6), 3)
    centre, units = _config_units(configs, values.ravel(), "mean")
    assert centre == pytest.approx(values.mean()) and units == pytest.approx(values.mean(axis=1))
    centre, units = _config_units(configs, values.ravel(), "iqm")
    assert centre == pytest.approx(iqm(values.ravel())) and units.mean() == pytest.approx(centre)


def _arm_coverage(statistic, draw, truth, configs, reps=1500, seeds=3):
    from tune_sched.analysis.arm_table import _config_interval

    rng = np.random.default_rng(configs)
    hits = 0
    for _ in range(reps):
        lo, hi = _config_interval(np.repeat(np.arange(configs), seeds), draw(rng, configs, seeds).ravel(), statistic)
        hits += lo <= truth <= hi
    return hits / reps


def _normal(rng, k, s):
    return rng.normal(size=(k, 1)) + rng.normal(size=(k, s))


def _counts(rng, k, s):  # spike episodes per run: Poisson around a config's own rate (mean 0.5, overdispersed)
    return rng.poisson(np.repeat(rng.gamma(2.0, 0.25, size=(k, 1)), s, axis=1)).astype(float)


def _lognormal(rng, k, s):  # sigma 1 in all, half of the variance the config's
    return np.exp(math.sqrt(0.5) * (rng.normal(size=(k, 1)) + rng.normal(size=(k, s))))


def _lognormal_iqm() -> float:
    q1, q3 = NormalDist().inv_cdf(0.25), NormalDist().inv_cdf(0.75)
    return math.exp(0.5) / 0.5 * (NormalDist().cdf(q3 - 1) - NormalDist().cdf(q1 - 1))


@pytest.mark.parametrize(("statistic", "draw", "truth", "configs"), [
    *[(statistic, _normal, 0.0, k) for statistic in ("mean", "iqm") for k in (5, 10)],
    *[("iqm", _lognormal, _lognormal_iqm(), k) for k in (5, 10)],
    *[("mean", _counts, 0.5, k) for k in (6, 10)],
], ids=lambda v: getattr(v, "__name__", None) if callable(v) else None)
def test_the_arm_intervals_reach_their_coverage_with_configs_as_the_units(statistic, draw, truth, configs):
    """Seeds of a config share its level (half the variance is the config's): a bootstrap over configs covered
    76-86 % here; configs as the units of a t interval reach 95 % within 3 points. Not covered here, and said in
    docs/analysis.md: sparse spike counts over 5 configs (91 %), the mean of log-normal runs (90-91 %)."""
    coverage = _arm_coverage(statistic, draw, truth, configs)
    assert abs(coverage - 0.95) <= 0.03, coverage


def test_the_text_section_fits_a_width_and_names_what_it_left_out(analysis):
    wide = format_arm_section(analysis)
    narrow = format_arm_section(analysis, width=100)
    tables = narrow.rsplit("\n\n", 1)[0].splitlines()  # one table per grouping, then the sentences
    assert [line for line in tables if line.startswith("arms by ")] == [
        f"arms by {g} (95% intervals in brackets):" for g in ("lr_scheduler", "optimizer", "loss_scheduler")]
    assert max(len(line) for line in tables if not line.startswith("(left out")) <= 100, narrow
    assert "(left out to fit 100 columns: configs" in narrow and "--wide shows them" in narrow
    assert "configs" in wide.splitlines()[1] and "left out" not in wide
