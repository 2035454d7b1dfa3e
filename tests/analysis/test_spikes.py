"""detect_spikes and run_spike_stats on hand-made series: planted spikes, clean curves, NaN, short series."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tune_sched.analysis.spikes import Episode, detect_spikes, run_spike_stats
from tune_sched.core.errors import UsageError


def _flat(n=80, level=1.0):
    return np.full(n, level)


def test_a_single_planted_spike_gives_the_hand_computed_episode():
    x = _flat()
    x[40] = 5.0
    (ep,) = detect_spikes(x)
    # EMA(0.3) after the spike: 1 + 4 * 0.3 * 0.7**m; within 10 % of 1 first at m = 7 (1.0988), so end = 47.
    assert (ep.start, ep.peak, ep.end, ep.recovery_steps, ep.recovered) == (40, 40, 47, 7, True)
    assert ep.peak_value == 5.0
    assert ep.pre_level == pytest.approx(1.0)
    assert ep.peak_ratio == pytest.approx(5.0)


def test_recovery_tolerance_and_ema_speed_move_the_end():
    x = _flat()
    x[40] = 5.0
    # 1.2 * 0.7**m <= 0.3 first at m = 4; with alpha = 1 the EMA is the series itself: back at once.
    assert detect_spikes(x, recovery_tol=0.3)[0].end == 44
    assert detect_spikes(x, ema_alpha=1.0)[0].end == 41


def test_consecutive_spikes_form_one_episode_with_the_highest_as_peak():
    x = _flat()
    x[40:43] = [5.0, 6.0, 4.0]
    (ep,) = detect_spikes(x)
    assert (ep.start, ep.peak, ep.peak_value) == (40, 41, 6.0)
    assert ep.end > 43 and ep.recovery_steps == ep.end - 41


def test_separate_spikes_form_separate_episodes_in_order():
    x = _flat(300)
    x[[100, 200]] = [4.0, 8.0]
    episodes = detect_spikes(x)
    assert [(e.start, e.peak_value) for e in episodes] == [(100, 4.0), (200, 8.0)]
    assert all(e.recovered for e in episodes)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n", [30, 300, 3000])
@pytest.mark.parametrize("rule", ["robust", "zscore", "median_ratio"])
def test_a_smooth_decaying_noisy_curve_has_no_spikes(seed, n, rule):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    x = (2.0 * np.exp(-5 * t / n) + 0.1) * (1 + 0.03 * rng.standard_normal(n)) + 0.005 * rng.standard_normal(n)
    assert detect_spikes(x, rule=rule) == []


@pytest.mark.parametrize("rule", ["robust", "zscore", "median_ratio"])
def test_spikes_planted_on_a_noisy_curve_are_found(rule):
    rng = np.random.default_rng(7)
    t = np.arange(2000)
    x = (2.0 * np.exp(-t / 400) + 0.1) * (1 + 0.02 * rng.standard_normal(2000))
    planted = [300, 900, 1500]
    x[planted] *= 4.0
    assert [e.start for e in detect_spikes(x, rule=rule)] == planted


def test_an_episode_that_never_recovers_ends_at_the_series_end():
    x = _flat(100)
    x[60:] = 3.0  # the loss jumps and stays up
    (ep,) = detect_spikes(x)
    assert (ep.start, ep.end, ep.recovered, ep.recovery_steps) == (60, 100, False, None)
    stats = run_spike_stats(x)
    assert stats["unrecovered"] and stats["diverged"] and stats["n_nonfinite"] == 0
    assert math.isnan(stats["mean_recovery"]) and stats["frac_in_episodes"] == pytest.approx(0.4)


def test_nan_and_inf_are_skipped_counted_and_mark_the_run_diverged():
    x = _flat(120)
    x[[30, 31]] = np.nan
    x[50] = np.inf
    x[90] = 7.0
    (ep,) = detect_spikes(x)
    assert (ep.start, ep.peak_value, ep.recovered) == (90, 7.0, True)
    stats = run_spike_stats(x)
    assert (stats["n_nonfinite"], stats["first_nonfinite"], stats["diverged"], stats["unrecovered"]) == (3, 30, True, False)
    assert stats["spike_rate"] == pytest.approx(1000 / 117)


def test_a_nan_tail_after_a_spike_is_an_unrecovered_episode():
    x = _flat(100)
    x[70] = 50.0
    x[71:] = np.nan
    (ep,) = detect_spikes(x)
    assert (ep.start, ep.end, ep.recovered) == (70, 100, False)


def test_all_nan_and_empty_series():
    assert detect_spikes(np.full(50, np.nan)) == []
    stats = run_spike_stats(np.full(50, np.nan))
    assert (stats["n_nonfinite"], stats["first_nonfinite"], stats["spike_count"], stats["diverged"]) == (50, 0, 0, True)
    assert math.isnan(stats["spike_rate"]) and math.isnan(stats["max_peak_ratio"])
    assert detect_spikes([]) == []
    empty = run_spike_stats([])
    assert (empty["n_values"], empty["spike_count"], empty["diverged"], empty["first_nonfinite"]) == (0, 0, False, None)
    assert math.isnan(empty["frac_in_episodes"])


@pytest.mark.parametrize(
    ("n", "spike_at", "found"),
    [(5, 4, True), (20, 12, True), (20, 3, False), (40, 4, False), (40, 5, True), (1000, 63, False), (1000, 64, True)],
)
def test_zscore_uses_a_smaller_window_on_short_series_and_needs_half_of_it(n, spike_at, found):
    # W = min(128, max(8, n // 4)); a value needs W // 2 finite values before it: 4 for n = 5, 5 for n = 40, 64 for 1000.
    x = _flat(n)
    x[spike_at] = 9.0
    assert [e.start for e in detect_spikes(x, rule="zscore")] == ([spike_at] if found else [])


@pytest.mark.parametrize(("n", "spike_at"), [(5, 4), (12, 2), (20, 3), (40, 4), (60, 2), (60, 7), (1000, 5), (2000, 63)])
def test_the_default_rule_judges_every_value_from_the_third_on(n, spike_at):
    x = _flat(n)
    x[spike_at] = 9.0
    assert [e.start for e in detect_spikes(x)] == [spike_at]
    x[:2] = 9.0  # the first two values have nothing (or one value) before them: never spikes
    assert [e.start for e in detect_spikes(x[:2])] == []


def _early_curve(seed, n, *, fall):
    """A noisy loss curve falling from about 1 (with ``fall``: from 2.3, within the first few steps)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    level = 0.7 * np.exp(-t / (n / 3)) + 0.3
    if fall:
        level = level * (1.0 + 6.0 * np.exp(-t / 4.0))  # 7x higher at step 0, back to the curve by step ~15
    return level * np.exp(0.1 * rng.standard_normal(n))


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("n", [50, 60, 200, 2000])
def test_the_fast_fall_at_the_start_of_training_is_no_spike(seed, n):
    assert detect_spikes(_early_curve(seed, n, fall=True)) == []


@pytest.mark.parametrize(("n", "spike_at", "height"), [(60, 7, 12.0), (60, 2, 4.8), (400, 2, 4.8), (2000, 7, 12.0)])
def test_early_spikes_are_found_even_on_the_fast_fall(n, spike_at, height):
    # the two reported cases: a seed going 0.3 -> 3.8 at step 7 (12x), another 1 -> 4.8 at step 2; on noisy curves
    # (10 % noise) at most one of 20 may be missed, and nothing else may be flagged
    found = 0
    for seed in range(20):
        x = _early_curve(seed, n, fall=spike_at == 7)
        x[spike_at] *= height
        x[spike_at + 1] *= 1.0 + (height - 1.0) / 3  # decaying back
        starts = [e.start for e in detect_spikes(x)]
        assert starts in ([], [spike_at])
        found += starts == [spike_at]
    assert found >= 19


def test_the_reported_short_runs_spike_at_step_7_and_at_step_2():
    curves_3 = [2.1, 1.4, 0.9, 0.62, 0.45, 0.36, 0.3, 3.8, 1.6, 0.7, 0.4, 0.33, 0.3, 0.29, 0.28, 0.27] + [0.26] * 34
    compare = [1.0, 0.97, 4.8, 2.0, 1.1, 0.95, 0.9, 0.88, 0.86, 0.85] + [0.84] * 40
    assert [e.start for e in detect_spikes(curves_3)] == [7]
    assert [e.start for e in detect_spikes(compare)] == [2]


def test_peak_ratio_is_nan_when_the_level_is_not_positive():
    x = _flat(60, level=-1.0)
    x[40] = 3.0
    (ep,) = detect_spikes(x)
    assert ep.pre_level == pytest.approx(-1.0) and math.isnan(ep.peak_ratio)


def test_run_stats_summarise_the_episodes():
    x = _flat(400)
    x[[100, 300]] = [5.0, 3.0]
    episodes = detect_spikes(x)
    stats = run_spike_stats(x)
    assert stats["spike_count"] == 2 and stats["spike_rate"] == pytest.approx(5.0)
    assert stats["max_peak_ratio"] == pytest.approx(5.0)
    assert stats["mean_recovery"] == pytest.approx(np.mean([e.recovery_steps for e in episodes]))
    assert stats["frac_in_episodes"] == pytest.approx(sum(e.end - e.start for e in episodes) / 400)
    assert not stats["diverged"] and stats["first_nonfinite"] is None
    assert all(type(stats[k]) is bool for k in ("unrecovered", "diverged"))


@pytest.mark.parametrize(
    ("val", "mode", "best", "final", "auc"),
    [
        ([3.0, 2.0, 1.0, 1.5], "min", 1.0, 1.5, (2.5 + 1.5 + 1.25) / 3),
        ([3.0, 2.0, 1.0, 1.5], "max", 3.0, 1.5, (2.5 + 1.5 + 1.25) / 3),
        ([3.0, 2.0, np.nan, 1.0], "min", 1.0, 1.0, (2.5 + 3.0) / 3),  # a gap is bridged
        ([3.0, 2.0, np.nan], "min", 2.0, math.nan, 2.5),  # ended non-finite: no final value
        ([4.0], "min", 4.0, 4.0, 4.0),
        ([np.nan, np.inf], "min", math.nan, math.nan, math.nan),
    ],
)
def test_validation_curve_best_final_and_area(val, mode, best, final, auc):
    stats = run_spike_stats(_flat(20), val, mode=mode)
    for key, expected in (("best_val", best), ("final_val", final), ("val_auc", auc)):
        assert stats[key] == pytest.approx(expected, nan_ok=True), key


def test_without_validation_values_the_validation_keys_are_absent():
    assert "best_val" not in run_spike_stats(_flat(20))


def test_episodes_are_frozen():
    ep = detect_spikes(np.r_[_flat(40), 9.0, _flat(20)])[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ep.start = 3  # type: ignore[misc]
    assert isinstance(ep, Episode)


def test_bad_input_is_a_usage_error():
    message = r"^values: must be one-dimensional, but got shape \(2, 3\); pass one run's series$"
    with pytest.raises(UsageError, match=message):
        detect_spikes(np.ones((2, 3)))
    with pytest.raises(UsageError, match=r"^mode: unknown mode 'maximum' \(did you mean 'max'\?\); use one of: max, min$"):
        run_spike_stats(_flat(), mode="maximum")
    with pytest.raises(UsageError, match=r"^val_values: must be one-dimensional"):
        run_spike_stats(_flat(), [[1.0]])
    with pytest.raises(UsageError, match=r"^threshold: unknown robust setting"):
        detect_spikes(_flat(), threshold=3)


_values = st.one_of(
    st.floats(min_value=0.01, max_value=1e6), st.just(float("nan")), st.just(float("inf")), st.just(1.0)
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_values, max_size=300), st.sampled_from(["robust", "zscore", "median_ratio"]))
def test_episode_invariants_hold_for_any_series(values, rule):
    x = np.asarray(values, dtype=float)
    episodes = detect_spikes(x, rule=rule)
    for ep, nxt in zip(episodes, episodes[1:]):
        assert ep.end < nxt.start  # disjoint and ordered; the recovery point is no spike
    for ep in episodes:
        assert 0 < ep.start <= ep.peak < ep.end <= x.size
        assert ep.recovered == (ep.end < x.size)
        assert ep.recovery_steps == (ep.end - ep.peak if ep.recovered else None)
        window = x[ep.start : ep.end]
        assert np.isfinite(x[ep.start]) and ep.peak_value == window[np.isfinite(window)].max() == x[ep.peak]
    stats = run_spike_stats(x, rule=rule)
    assert stats["spike_count"] == len(episodes)
    assert stats["diverged"] == (bool((~np.isfinite(x)).any()) or any(not e.recovered for e in episodes))
