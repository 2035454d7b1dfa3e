"""Across-seed statistics: hand-computed values, scipy cross-checks, edge cases (one seed, all diverged, NaN)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from tune_sched.analysis.stats import (
    BOOTSTRAP_STATISTICS,
    SUMMARY_COLUMNS,
    bootstrap_ci,
    cvar,
    iqm,
    seed_summary,
    summarize_seeds,
    wilson_interval,
    worst,
)
from tune_sched.core.errors import UsageError


@pytest.mark.parametrize(
    ("values", "expected"),
    [([5.0], 5.0), ([1, 3], 2.0), ([1, 2, 9], 4.0), ([1, 2, 3, 100], 2.5), ([1, 2, 3, 4, 100], 3.0),
     ([1, 2, 3, 4, 100, 6, 7, 8], 5.0), ([1, 2, np.nan, 3, np.inf], 2.0), ([], math.nan), ([np.nan], math.nan)],
)
def test_iqm_known_values(values, expected):
    assert iqm(values) == pytest.approx(expected, nan_ok=True)


@pytest.mark.parametrize("n", range(1, 13))
def test_iqm_agrees_with_scipy_trim_mean(n):
    x = np.random.default_rng(n).lognormal(size=n)
    assert iqm(x) == pytest.approx(sps.trim_mean(x, 0.25), rel=1e-12)


@pytest.mark.parametrize(
    ("values", "mode", "fraction", "expected"),
    [
        ([1, 2, 3, 4], "min", 0.25, 4.0),
        ([1, 2, 3, 4, 5, 6, 7, 8], "min", 0.25, 7.5),
        ([1, 2, 3, 4, 5], "min", 0.25, (5 + 0.25 * 4) / 1.25),
        ([1, 2, 3, 4], "max", 0.25, 1.0),
        ([1, 2, 3, 4, 5], "max", 0.25, (1 + 0.25 * 2) / 1.25),
        ([3.0], "min", 0.25, 3.0),
        ([1, 2, 3], "min", 1.0, 2.0),
        ([1, 2, 3], "min", 0.5, (3 + 0.5 * 2) / 1.5),
        ([1, np.nan, 2, 3, 4], "min", 0.25, 4.0),
        ([], "min", 0.25, math.nan),
    ],
)
def test_cvar_known_values(values, mode, fraction, expected):
    assert cvar(values, mode=mode, fraction=fraction) == pytest.approx(expected, nan_ok=True)


def test_worst_flips_with_the_mode_and_skips_nan():
    assert worst([1, 5, np.nan, 3], mode="min") == 5.0
    assert worst([1, 5, np.nan, 3], mode="max") == 1.0
    assert math.isnan(worst([np.nan]))


@pytest.mark.parametrize(("k", "n"), [(0, 1), (1, 1), (0, 4), (1, 4), (2, 4), (4, 4), (3, 17), (0, 10), (10, 10)])
@pytest.mark.parametrize("confidence", [0.9, 0.95])
def test_wilson_interval_agrees_with_scipy(k, n, confidence):
    expected = sps.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    assert wilson_interval(k, n, confidence=confidence) == pytest.approx((expected.low, expected.high), abs=1e-12)


def test_wilson_interval_known_values():
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775328), abs=1e-7)
    assert wilson_interval(1, 4) == pytest.approx((0.0455873, 0.6993582), abs=1e-7)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_bootstrap_is_reproducible_and_seeded():
    x = np.random.default_rng(0).normal(size=6)
    first = bootstrap_ci(x, "mean", seed=3)
    assert bootstrap_ci(x, "mean", seed=3) == first
    assert bootstrap_ci(x, "mean", seed=4) != first
    assert first[0] < x.mean() < first[1]
    low, high = bootstrap_ci(x, "iqm", n_boot=500, confidence=0.8)
    assert low < iqm(x) < high


@pytest.mark.parametrize("statistic", sorted(BOOTSTRAP_STATISTICS))
def test_every_bootstrap_statistic_brackets_its_estimate_and_is_degenerate_for_constants(statistic):
    x = np.array([1.0, 2.0, 4.0, 8.0, 3.0])
    low, high = bootstrap_ci(x, statistic)
    estimate = {"mean": x.mean(), "median": np.median(x), "iqm": iqm(x)}[statistic]
    assert low <= estimate <= high and low < high
    assert bootstrap_ci([2.0, 2.0, 2.0], statistic) == (2.0, 2.0)


def test_bootstrap_needs_two_values():
    assert all(math.isnan(v) for v in bootstrap_ci([1.0]))
    assert all(math.isnan(v) for v in bootstrap_ci([1.0, np.nan]))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: bootstrap_ci([1, 2], "meen"),
            r"^statistic: unknown bootstrap statistic 'meen' \(did you mean 'mean'\?\); use one of: iqm, mean, median$",
        ),
        (lambda: bootstrap_ci([1, 2], n_boot=0), r"^n_boot: must be at least 1, but got 0$"),
        (lambda: bootstrap_ci([1, 2], confidence=95), r"^confidence: must be in \(0, 1\), but got 95; use e.g. 0.95$"),
        (lambda: wilson_interval(5, 4), r"^successes: need 0 <= successes <= trials, but got 5 of 4$"),
        (lambda: cvar([1], fraction=0), r"^fraction: must be in \(0, 1\], but got 0; use e.g. 0.25$"),
        (lambda: worst([1], mode="lowest"), r"^mode: unknown mode 'lowest'; use one of: max, min$"),
        (
            lambda: seed_summary([1, 2], diverged=[True]),
            r"^diverged: must have one flag per value \(2\), but got 1; pass one bool per seed$",
        ),
    ],
)
def test_bad_arguments_are_usage_errors(call, message):
    with pytest.raises(UsageError, match=message):
        call()


def test_seed_summary_hand_computed():
    s = seed_summary([1.0, 2.0, 3.0, 4.0, 100.0], diverged=[False, False, False, False, True], spike_counts=[0, 1, 2, 3, 9])
    assert list(s) == list(SUMMARY_COLUMNS)
    assert (s["n_seeds"], s["n_diverged"], s["divergence_rate"]) == (5, 1, 0.2)
    assert (s["divergence_lo"], s["divergence_hi"]) == pytest.approx(wilson_interval(1, 5))
    assert (s["mean"], s["iqm"], s["worst"], s["cvar"]) == pytest.approx((2.5, 2.5, 4.0, 4.0))
    assert s["std"] == pytest.approx(np.std([1, 2, 3, 4], ddof=1))
    assert (s["spike_mean"], s["spike_var"]) == pytest.approx((3.0, np.var([0, 1, 2, 3, 9], ddof=1)))
    assert s["mean_lo"] <= 2.5 <= s["mean_hi"]


def test_seed_summary_mode_max_flips_the_worst_side():
    s = seed_summary([0.9, 0.8, 0.7, 0.95], mode="max")
    assert (s["worst"], s["cvar"]) == pytest.approx((0.7, 0.7))


def test_seed_summary_with_one_seed():
    s = seed_summary([0.5], spike_counts=[2])
    assert (s["n_seeds"], s["mean"], s["iqm"], s["worst"], s["cvar"], s["spike_mean"]) == (1, 0.5, 0.5, 0.5, 0.5, 2.0)
    assert all(math.isnan(s[k]) for k in ("std", "mean_lo", "mean_hi", "iqm_lo", "iqm_hi", "spike_var"))


def test_seed_summary_when_every_seed_diverged_or_is_nan():
    s = seed_summary([np.nan, np.inf, 3.0], diverged=[False, False, True])
    assert (s["n_diverged"], s["divergence_rate"]) == (3, 1.0)
    assert s["divergence_hi"] == 1.0 and s["divergence_lo"] > 0.0
    assert all(math.isnan(s[k]) for k in ("mean", "std", "iqm", "worst", "cvar", "mean_lo", "iqm_hi", "spike_mean"))


def test_summarize_seeds_groups_by_config_and_reads_status_and_spikes():
    per_run = pd.DataFrame({
        "config_id": ["b", "a", "a", "b", "a"],
        "seed": [0, 0, 1, 1, 2],
        "best_metric": [1.0, 2.0, 4.0, np.nan, 3.0],
        "status": ["completed", "completed", "diverged", "completed", "failed"],
        "spike_count": [1, 0, 5, 2, 1],
    })
    out = summarize_seeds(per_run, n_boot=100)
    assert out["config_id"].tolist() == ["a", "b"] and list(out.columns) == ["config_id", *SUMMARY_COLUMNS]
    a, b = out.iloc[0], out.iloc[1]
    assert (a["n_seeds"], a["n_diverged"], a["mean"], b["n_diverged"], b["mean"]) == (3, 2, 2.0, 1, 1.0)
    assert a["spike_mean"] == 2.0
    no_status = summarize_seeds(per_run.drop(columns=["status", "spike_count"]), n_boot=100)
    assert no_status.iloc[0]["n_diverged"] == 0 and math.isnan(no_status.iloc[0]["spike_mean"])
    with pytest.raises(UsageError, match=r"^metric: unknown column 'best_metrc' \(did you mean 'best_metric'\?\)"):
        summarize_seeds(per_run, metric="best_metrc")
