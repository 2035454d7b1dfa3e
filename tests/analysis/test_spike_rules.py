"""Spike-rule registry and settings: validation messages, window scaling, the flags of each rule."""

from __future__ import annotations

import numpy as np
import pytest

from tune_sched.analysis.spike_rules import RULES, SpikeRule, effective_window, make_rule, spike_flags
from tune_sched.core.errors import UsageError


@pytest.mark.parametrize("name", sorted(RULES))
def test_every_rule_accepts_its_own_settings_and_flags_a_planted_spike(name):
    info = RULES[name]
    assert info.name == name and info.summary
    rule = make_rule(name, **{s: getattr(SpikeRule(), s) for s in info.settings}, ema_alpha=0.5, recovery_tol=0.2)
    assert rule.rule == name and rule.ema_alpha == 0.5 and rule.recovery_tol == 0.2
    x = 1.0 + 0.01 * np.sin(np.arange(100.0))
    x[60] = 10.0
    flags = spike_flags(x[None, :], rule, effective_window(x.size, rule.window))
    assert flags.shape == (1, 100)
    assert np.flatnonzero(flags[0]).tolist() == [60]


@pytest.mark.parametrize("name", sorted(RULES))
def test_every_rule_rejects_the_other_rules_settings(name):
    foreign = ({"k", "threshold"} - set(RULES[name].settings)).pop()
    with pytest.raises(UsageError, match=rf"^{foreign}: unknown {name} setting '{foreign}'; use one of: .*window"):
        make_rule(name, **{foreign: 3.0})


@pytest.mark.parametrize(
    ("n", "window", "expected"),
    [(0, 128, 8), (20, 128, 8), (40, 128, 10), (400, 128, 100), (512, 128, 128), (10**6, 128, 128), (400, 16, 16),
     (400, 4, 4)],
)
def test_effective_window_is_a_quarter_of_the_series_between_8_and_window(n, window, expected):
    assert effective_window(n, window) == expected


def test_defaults_are_robust_128_6_and_twice_the_level():
    rule = make_rule()
    assert (rule.rule, rule.window, rule.k, rule.min_ratio) == ("robust", 128, 6.0, 2.0)
    assert make_rule(rule) is rule


def test_a_rule_object_with_overrides_is_revalidated():
    rule = make_rule("median_ratio", threshold=3.0)
    assert make_rule(rule, window=32) == SpikeRule(rule="median_ratio", window=32, threshold=3.0)
    with pytest.raises(UsageError, match="^threshold: must be greater than 1"):
        make_rule(rule, threshold=0.5)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"rule": "zscor"}, r"^rule: unknown spike rule 'zscor' \(did you mean 'zscore'\?\); use one of: median_ratio, robust, zscore$"),
        ({"kk": 6}, r"^kk: unknown robust setting 'kk' \(did you mean 'k'\?\); use one of: "),
        ({"min_ratio": 1.0}, r"^min_ratio: must be greater than 1 \(a ratio to the median\), but got 1.0"),
        ({"window": 2}, r"^window: must be at least 4, but got 2; "),
        ({"window": 12.5}, r"^window: must be an integer, but got 12.5"),
        ({"k": 0}, r"^k: must be greater than 0, but got 0.0; "),
        ({"k": float("nan")}, r"^k: must be a finite number, but got nan"),
        (
            {"rule": "median_ratio", "threshold": 1.0},
            r"^threshold: must be greater than 1 \(a ratio to the median\), but got 1.0; use e.g. 2.0$",
        ),
        ({"ema_alpha": 1.5}, r"^ema_alpha: must be in \(0, 1\], but got 1.5; use e.g. 0.3"),
        ({"ema_alpha": 0}, r"^ema_alpha: must be greater than 0"),
        ({"recovery_tol": -0.1}, r"^recovery_tol: must be at least 0.0, but got -0.1; "),
    ],
)
def test_bad_settings_name_the_key_rule_and_value(settings, message):
    with pytest.raises(UsageError, match=message):
        make_rule(**settings)


def test_yaml_block_errors_carry_the_key_path():
    assert SpikeRule.from_dict({"rule": "median_ratio", "threshold": 3}) == SpikeRule(rule="median_ratio", threshold=3.0)
    assert SpikeRule.from_dict(None) == SpikeRule()
    with pytest.raises(UsageError, match=r"^analysis.spikes.k: must be greater than 0"):
        SpikeRule.from_dict({"k": -1}, path="analysis.spikes")
    with pytest.raises(UsageError, match=r"^spikes: must be a mapping of keys to values, but got \[1\]"):
        SpikeRule.from_dict([1])


def test_zscore_floors_the_std_so_a_flat_window_does_not_flag_rounding_noise():
    x = np.full(64, 0.5)
    x[40] = 0.5 * (1 + 1e-9)  # invisible rise in an exactly flat window
    x[50] = 0.5 * (1 + 1e-4)  # a real (if small) rise: 100 times the floor
    flags = spike_flags(x[None, :], make_rule("zscore"), effective_window(64, 128))
    assert np.flatnonzero(flags[0]).tolist() == [50]


def test_zscore_flags_nothing_before_half_a_window_of_finite_values_nor_non_finite_values():
    x = np.ones(64)
    x[[1, 2, 3]] = 100.0  # too early: fewer than W // 2 = 8 values before them
    x[30] = np.inf
    x[31] = np.nan
    x[[40, 60]] = 50.0  # windows 24..39 and 44..59: finite, flat (non-finite values skipped)
    flags = spike_flags(x[None, :], make_rule("zscore"), 16)
    assert np.flatnonzero(flags[0]).tolist() == [40, 60]


def test_median_ratio_needs_a_positive_median():
    x = -np.ones(40)
    x[30] = 5.0
    assert not spike_flags(x[None, :], make_rule("median_ratio"), 10).any()
    x = np.ones(40)
    x[30] = 2.5  # 2.5 > 2 * median 1
    x[35] = 1.9
    assert np.flatnonzero(spike_flags(x[None, :], make_rule("median_ratio"), 10)[0]).tolist() == [30]


def test_robust_judges_from_the_third_value_and_skips_non_finite_values():
    x = np.ones(64)
    x[[0, 1]] = 100.0  # nothing, or one value, before them: never spikes
    x[[2, 3]] = 100.0  # the median of what came before is 100 for these: no spike either
    x[30] = np.inf
    x[31] = np.nan
    x[[40, 60]] = 50.0
    flags = spike_flags(x[None, :], make_rule(), 16)
    assert np.flatnonzero(flags[0]).tolist() == [40, 60]
    x[:4] = 1.0
    x[2] = 2.5
    assert np.flatnonzero(spike_flags(x[None, :], make_rule(), 16)[0]).tolist() == [2, 40, 60]


@pytest.mark.parametrize(("ratio", "flagged"), [(1.9, False), (2.1, True)])
def test_robust_needs_min_ratio_above_the_median_on_a_quiet_curve(ratio, flagged):
    x = 0.5 + 0.001 * np.sin(np.arange(200.0))  # so little noise that only min_ratio stands in the way
    x[150] *= ratio
    assert spike_flags(x[None, :], make_rule(), 50)[0, 150] == flagged
    assert spike_flags(x[None, :], make_rule(min_ratio=1.5), 50)[0, 150]


def test_robust_scales_with_the_noise_in_log_units():
    rng = np.random.default_rng(0)
    noisy = np.exp(0.3 * rng.standard_normal(2000))  # k * sigma = 1.8 in log units: about 6x
    noisy[[500, 1500]] = [3.0, 20.0]  # the level is 1: 3x is within the noise here, 20x is not
    flags = spike_flags(noisy[None, :], make_rule(), 128)[0]
    assert not flags[500] and flags[1500]
    assert flags.sum() == 1
    assert np.array_equal(spike_flags(100.0 * noisy[None, :], make_rule(), 128)[0], flags)  # unit-free


def test_robust_on_a_row_with_non_positive_values_works_on_the_values_themselves():
    x = np.r_[np.full(50, -1.0), 3.0, np.full(20, -1.0)]  # 3 - (-1) > (min_ratio - 1) * |-1|
    x[::2] -= 0.01
    assert np.flatnonzero(spike_flags(x[None, :], make_rule(), 16)[0]).tolist() == [50]
    y = np.ones(71)
    y[50] = 3.0
    both = spike_flags(np.vstack([x, y]), make_rule(), 16)  # rows are judged each on its own scale
    assert np.flatnonzero(both[0]).tolist() == [50] and np.flatnonzero(both[1]).tolist() == [50]
