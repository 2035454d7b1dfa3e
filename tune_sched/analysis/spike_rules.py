"""Spike rules: when one value of a loss series counts as a spike (the registry; its settings are ``SpikeRule``).

Three rules, each comparing a value with the finite values of the trailing window before it (never itself):

- ``robust`` (default): in log units, ``log x[i] - median > max(k * noise * sqrt(1 + pi / 2m), log(min_ratio))``
  where ``median`` is the median of the ``m`` log values before it in the window (at least 2: every value from the
  third on is judged) and ``noise`` a robust standard deviation of the log loss: the median absolute second
  difference in the block of ``W`` values before (``_rolling.block_noise``; the first block uses itself and the
  next one). The square root widens the bar while few values stand behind the median. A loss that falls fast at
  the start of training is never above the values before it, and its steady fall does not count as noise. On a
  row with a value <= 0 the same test runs on the values themselves, with ``(min_ratio - 1) * |median|`` as the
  least rise.
- ``zscore``: ``x[i] > mean + k * std`` of the window (sample std, floored at ``1e-6 * |mean|`` so that a
  numerically flat window does not turn rounding noise into spikes). Tests a value only when at least ``W // 2``
  of the ``W`` values before it are finite, so the first ``W // 2`` values are never spikes.
- ``median_ratio``: ``x[i] > threshold * median`` of the window (only where that median is positive; from
  ``W // 2`` finite values on, like ``zscore``).

Window scaling: the window is ``window`` values (default 128) but at most a quarter of the series and at least 8:
``W = min(window, max(8, n // 4))`` for a series of ``n`` values.

Episodes: consecutive spikes are grouped until a fast exponential moving average of the series (``ema_alpha``,
non-finite values read as the last finite one) is back within ``recovery_tol`` (relative) of the pre-spike level; see
``tune_sched.analysis.spikes``. Detection quality on synthetic curves: ``docs/BENCHMARKS.md``.

YAML (the same keys as the keyword arguments of ``detect_spikes``)::

    spikes:
      rule: robust        # or zscore (k), median_ratio (threshold instead of k and min_ratio)
      window: 128
      k: 6
      min_ratio: 2.0
      ema_alpha: 0.3
      recovery_tol: 0.1
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tune_sched.analysis._rolling import block_noise, trailing_mean_std, trailing_median
from tune_sched.config.judging import RULE_SETTINGS, SpikeRule, make_rule, rule_settings

__all__ = [
    "RULES", "MIN_WINDOW", "RuleInfo", "SpikeRule", "effective_window", "make_rule", "rule_settings", "spike_flags",
]

MIN_WINDOW = 8
STD_FLOOR = 1e-6  # zscore: relative to |mean|; robust: absolute, in log units
_NOISE_SCALE = 0.6745 * 6**0.5  # median |a - 2b + c| of three independent standard normal values
_MEDIAN_VARIANCE = np.pi / 2  # a median of m normal values varies pi / 2 times as much as their mean: sigma^2 pi / 2m
_ROBUST_MIN_COUNT = 2  # values before a value that robust needs to judge it


def effective_window(n: int, window: int) -> int:
    """The window used on a series of ``n`` values: ``min(window, max(8, n // 4))``."""
    return min(window, max(MIN_WINDOW, n // 4))


def spike_flags(x: np.ndarray, rule: SpikeRule, window: int) -> np.ndarray:
    """Boolean array (same shape as the 2-D batch ``x``): which values are spikes under ``rule``.

    ``window`` is the effective window (see ``effective_window``); non-finite values are never spikes.
    """
    with np.errstate(invalid="ignore"):
        flags = RULES[rule.rule].flags(x, rule, window)
    return flags & np.isfinite(x)


def _robust_flags(x: np.ndarray, rule: SpikeRule, window: int) -> np.ndarray:
    y, logged = _log_rows(x)
    count, level = trailing_median(y, window)
    noise = block_noise(y, window) / _NOISE_SCALE  # the noise's standard deviation, were it Gaussian
    with np.errstate(divide="ignore"):
        spread = rule.k * np.fmax(noise, STD_FLOOR) * np.sqrt(1.0 + _MEDIAN_VARIANCE / count)
    least = np.where(logged[:, None], np.log(rule.min_ratio), (rule.min_ratio - 1.0) * np.abs(level))
    return (count >= _ROBUST_MIN_COUNT) & (y - level > np.fmax(spread, least))


def _log_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The series in log space, row by row where every finite value is positive (else the row as it is)."""
    finite = np.isfinite(x)
    logged = ~(finite & (x <= 0)).any(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(logged[:, None], np.log(np.where(finite, x, np.nan)), x), logged


def _zscore_flags(x: np.ndarray, rule: SpikeRule, window: int) -> np.ndarray:
    count, mean, std = trailing_mean_std(x, window)
    spread = np.maximum(std, STD_FLOOR * np.abs(mean))
    return (count >= window // 2) & (x > mean + rule.k * spread)


def _median_ratio_flags(x: np.ndarray, rule: SpikeRule, window: int) -> np.ndarray:
    count, median = trailing_median(x, window)
    return (count >= window // 2) & (median > 0) & (x > rule.threshold * median)


@dataclass(frozen=True)
class RuleInfo:
    """One spike rule: its name, its own settings and the function that flags spikes in a 2-D batch."""

    name: str
    settings: tuple[str, ...]
    flags: Callable[[np.ndarray, SpikeRule, int], np.ndarray]
    summary: str


RULES: dict[str, RuleInfo] = {
    "robust": RuleInfo(
        "robust", RULE_SETTINGS["robust"], _robust_flags,
        "log x > median + max(k * noise, log min_ratio) of the values before it (from the third value on)",
    ),
    "zscore": RuleInfo(
        "zscore", RULE_SETTINGS["zscore"], _zscore_flags, "x > mean + k * std of the trailing window",
    ),
    "median_ratio": RuleInfo(
        "median_ratio", RULE_SETTINGS["median_ratio"], _median_ratio_flags,
        "x > threshold * median of the trailing window",
    ),
}
