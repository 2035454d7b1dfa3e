"""The A/B study: per-arm statistics, the tests between arms, the outcome and verdict, and its outputs."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from tune_sched.analysis.arms import arm_from_experiment
from tune_sched.analysis.compare import compare_arms, probability_of_improvement
from tune_sched.analysis.compare_report import comparison_json, comparison_text, write_comparison
from tune_sched.core.errors import UsageError
from tune_sched.rerun.arms import make_arms


@pytest.fixture(scope="module")
def arms(experiment):
    return {cid: arm_from_experiment(experiment, label="?", config_id=cid)
            for cid in ("steady", "spiky", "blowup", "troubled")}


def _pair(arms, a, b):
    return dataclasses.replace(arms[a], label="A"), dataclasses.replace(arms[b], label="B")


@pytest.mark.parametrize(
    ("a", "b", "mode", "expected"),
    [
        ([3.0, 4.0], [1.0, 3.0], "min", 0.875),
        ([1.0, 2.0], [1.0, 2.0], "min", 0.5),
        ([1.0, 2.0], [5.0, 6.0], "max", 1.0),
        ([1.0, math.nan], [math.nan, 5.0], "min", 0.375),  # NaN (diverged) loses to anything, ties with NaN
        ([], [1.0], "min", math.nan),
    ],
)
def test_probability_of_improvement(a, b, mode, expected):
    got = probability_of_improvement(np.array(a), np.array(b), mode=mode)
    assert got == pytest.approx(expected, nan_ok=True)


def test_arms_that_differ_on_every_seed(arms):
    comparison = compare_arms(*_pair(arms, "spiky", "steady"))
    tests = comparison.tests
    assert comparison.outcome == "b_better" and comparison.too_few_seeds
    assert tests["paired_n"] == 3 and tests["paired_b_wins"] == 3 and tests["prob_b_better"] == 1.0
    assert tests["diff_mean"] < 0 and tests["paired_hi"] < 0
    assert 0 < tests["welch_p"] < 1 and tests["mann_whitney_p"] == pytest.approx(0.1)
    assert comparison.verdict.startswith("**B (`main:steady`) looks better than A (`main:spiky`)**")
    assert "3 seeds per arm are too few to be sure; run at least 5 seeds per arm." in comparison.verdict
    assert "Loss spikes per seed: A 0.6667, B 0" in comparison.verdict


def test_identical_arms_show_no_difference(arms):
    comparison = compare_arms(*_pair(arms, "steady", "steady"))
    assert comparison.outcome == "no_difference"
    assert comparison.tests["diff_mean"] == 0 and comparison.tests["prob_b_better"] == 0.5
    assert comparison.verdict.startswith("**No difference**: A (`main:steady`) and B (`main:steady`) gave identical")
    assert "too few to be sure" in comparison.verdict


def test_an_arm_that_always_diverged_loses_on_divergence(arms):
    comparison = compare_arms(*_pair(arms, "blowup", "steady"))
    assert comparison.outcome == "b_better"
    assert math.isnan(comparison.tests["diff_mean"])
    assert comparison.stats["A"]["divergence_rate"] == 1.0 and comparison.stats["B"]["divergence_rate"] == 0.0
    assert "the other arm diverged on every seed" in comparison.verdict
    assert "A diverged (or failed) on 3 of 3 seeds, B on 0 of 3." in comparison.verdict


def test_too_few_finished_seeds_cannot_tell(arms):
    comparison = compare_arms(*_pair(arms, "troubled", "spiky"))
    assert comparison.outcome == "inconclusive" and comparison.tests["paired_n"] == 0  # seeds {0,1} vs {0,1,2}
    assert comparison.verdict.startswith("**Cannot tell** A (`main:troubled`) from B (`main:spiky`)")


def test_different_metrics_cannot_be_compared(arms):
    a, b = _pair(arms, "steady", "spiky")
    with pytest.raises(UsageError, match=r"^compare: A is judged by val_loss \(min\) but B by val_field \(min\); "
                                         r"compare arms with the same metric and mode$"):
        compare_arms(a, dataclasses.replace(b, metric="val_field"))


def test_outputs_json_markdown_and_text(arms, tmp_path):
    comparison = compare_arms(*_pair(arms, "spiky", "steady"))
    written = write_comparison(comparison, json_path=tmp_path / "ab.json", markdown_path=tmp_path / "ab.md")
    assert [p.name for p in written] == ["ab.json", "ab.md", "ab.png"]
    data = json.loads((tmp_path / "ab.json").read_text())
    assert data["outcome"] == "b_better" and data["too_few_seeds"] is True
    assert data["arms"]["A"]["config_id"] == "spiky" and len(data["arms"]["B"]["seeds"]) == 3
    assert data["arms"]["B"]["statistics"]["std"] > 0
    assert data["tests"]["welch_p"] == comparison.tests["welch_p"]
    assert comparison_json(comparison) == data
    markdown = (tmp_path / "ab.md").read_text()
    assert markdown.startswith("# A/B comparison: `main:spiky` (A, control) against `main:steady` (B, treatment)")
    assert "![loss curves of both arms](ab.png)" in markdown and "| spikes per seed | 0.6667 | 0 |" in markdown
    text = comparison_text(comparison)
    assert "P(B beats A)" in text and "**" not in text and text.splitlines()[-1].startswith("B (main:steady) looks")


def test_json_has_no_nan(arms, tmp_path):
    comparison = compare_arms(*_pair(arms, "blowup", "troubled"))
    write_comparison(comparison, json_path=tmp_path / "x.json")  # allow_nan=False would raise
    assert json.loads((tmp_path / "x.json").read_text())["tests"]["diff_lo"] is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"seeds": [1]}, r"^--seeds: applies to two run configs only \(experiments bring their runs\); remove it$"),
        ({"max_epochs": 2}, r"^--max-epochs: applies to two run configs only"),
        ({"config_a": "nope"}, r"^--config-a: unknown config id 'nope'; use one of: steady, spiky, decay"),
    ],
)
def test_experiment_arm_errors(experiment, kwargs, match):
    with pytest.raises(UsageError, match=match):
        make_arms(experiment, experiment, **kwargs)


def test_mixed_or_wrong_sources_are_errors(experiment, tmp_path):
    config = tmp_path / "a.yaml"
    config.write_text("task: tiny\n")
    with pytest.raises(UsageError, match=r"^compare: A \(.*a.yaml\) is a run config but B \(.*\) is an experiment; "
                                         r"give two experiments or two run configs$"):
        make_arms(config, experiment)
    with pytest.raises(UsageError, match=r"^B \(.*\): is a directory but not an experiment"):
        make_arms(experiment, tmp_path)
    with pytest.raises(UsageError, match=r"^--config-b: applies to two experiments only; remove it$"):
        make_arms(config, config, config_b="x")


@pytest.mark.slow
def test_two_run_configs_trained_on_the_same_seeds(tmp_path):
    """lr 1e-4 (A, learning slowly) against 1e-3 (B) on tiny, 3 seeds, 2 epochs; then A against itself. (At lr 1e-6
    A would not learn at all: its runs count as diverged, "never learned", and leave nothing to compare.)"""
    low, high = tmp_path / "low.yaml", tmp_path / "high.yaml"
    low.write_text("task: tiny\noptimizer: {name: Adam, lr: 1.0e-4}\ntrainer: {max_epochs: 5}\n")
    high.write_text("task: tiny\noptimizer: {name: Adam, lr: 1.0e-3}\ntrainer: {max_epochs: 5}\n")
    a, b = make_arms(low, high, max_epochs=2, out=tmp_path / "runs", num_threads=1)
    assert a.runs["seed"].tolist() == [0, 1, 2] and (tmp_path / "runs" / "B" / "seed=2" / "result.json").is_file()
    comparison = compare_arms(a, b)
    assert comparison.outcome == "b_better" and comparison.too_few_seeds
    assert comparison.tests["paired_b_wins"] == 3
    assert "looks better than" in comparison.verdict and "too few to be sure" in comparison.verdict
    a2, a3 = make_arms(low, low, seeds=[0, 1, 2], max_epochs=2, num_threads=1)
    same = compare_arms(a2, a3)
    assert same.outcome == "no_difference" and same.verdict.startswith("**No difference**")


def _with_values(arm, label, values):
    runs = arm.runs.iloc[[0] * len(values)].reset_index(drop=True).assign(
        seed=list(range(len(values))), best_metric=values, status="completed")
    return dataclasses.replace(arm, label=label, runs=runs)


def test_paired_seeds_decide_and_the_verdict_says_why_the_unpaired_test_disagrees(arms):
    """Seeds that differ a lot from each other, B a little lower on every one: only the paired test sees it."""
    a_values = [0.20, 0.35, 0.50, 0.65, 0.80, 0.95]
    b_values = [v - 0.02 + 0.002 * (i % 2) for i, v in enumerate(a_values)]
    comparison = compare_arms(_with_values(arms["steady"], "A", a_values), _with_values(arms["steady"], "B", b_values))
    tests = comparison.tests
    assert comparison.outcome == "b_better" and not comparison.too_few_seeds
    assert tests["paired_hi"] < 0 and tests["paired_p"] < 0.05
    assert tests["diff_lo"] < 0 < tests["diff_hi"] and tests["welch_p"] > 0.05
    assert tests["rel_diff"] == pytest.approx(tests["paired_diff_mean"] / np.mean(a_values))
    d = np.array(b_values) - np.array(a_values)
    assert tests["effect_size"] == pytest.approx(d.mean() / d.std(ddof=1))
    assert tests["effect_lo"] < tests["effect_size"] < tests["effect_hi"] < 0
    assert "On these seeds B is ahead: B - A is -0.019, -3.3% of A's mean (95% CI" in comparison.verdict
    assert "The paired test finds a difference the unpaired one does not" in comparison.verdict


def test_intervals_agree_with_their_t_tests_and_the_rank_test_floor_is_explained(arms):
    """3 seeds an arm: the t interval excludes 0 exactly when p < 0.05; Mann-Whitney cannot go below p = 0.1."""
    comparison = compare_arms(*_pair(arms, "spiky", "steady"))
    tests = comparison.tests
    assert (tests["paired_hi"] < 0) == (tests["paired_p"] < 0.05)
    assert (tests["diff_hi"] < 0 or tests["diff_lo"] > 0) == (tests["welch_p"] < 0.05)
    assert "The rank test (Mann-Whitney) cannot reach p < 0.05 with 3 and 3 seeds (its smallest p is 0.1)" \
        in comparison.verdict


def test_the_standardised_interval_covers_on_normal_seeds():
    """Cohen's d's noncentral-t interval holds 95 % (normal seeds, 5 per arm, true d = 0.8; 300 experiments)."""
    from tune_sched.analysis.compare import _noncentral_t_ci

    rng = np.random.default_rng(5)
    hits = 0
    for _ in range(300):
        x, y = rng.normal(0.0, 1.0, 5), rng.normal(0.8, 1.0, 5)
        pooled = math.sqrt((x.var(ddof=1) + y.var(ddof=1)) / 2)
        scale = math.sqrt(5 * 5 / 10)
        lo, hi = _noncentral_t_ci((y.mean() - x.mean()) / pooled * scale, 8, 0.95)
        hits += lo / scale <= 0.8 <= hi / scale
    assert abs(hits / 300 - 0.95) <= 0.03


def test_a_large_t_on_one_degree_of_freedom_gives_no_bound_instead_of_raising():
    """Two paired seeds (df 1) with a large t: scipy's nct.cdf turns NaN inside the bracket; that bound is NaN."""
    from tune_sched.analysis.compare import _noncentral_t_ci

    lo, hi = _noncentral_t_ci(40.0, 1, 0.95)
    assert math.isnan(lo) and hi > 40.0
