"""Across-seed statistics of one config: location, spread, the worst seeds, intervals and the divergence rate.

All functions are pure. "Worst" follows the metric's mode: the largest value when lower is better (``"min"``), the
smallest when higher is better (``"max"``). Diverged seeds never enter the metric statistics (their values, if
any, are meaningless); they count in the divergence rate. Non-finite metric values count as diverged.

The intervals of a config's mean and IQM are analytic, not bootstrapped: a percentile bootstrap of the IQM of 3
seeds is exactly [min, max] of the seeds whatever the resamples, and covers about 75 % where it claims 95 %.
``iqm_ci`` is the trimmed-t interval of the IQM (Yuen's standard error from the winsorized values) with Hall's
correction for skewness; ``mean_ci`` is Student's t interval, or with ``correct_skew`` Hall's, which a config's
summary uses. ``tests/analysis/test_interval_coverage.py`` measures their coverage on normal and log-normal seeds.

Example:
    >>> iqm([1, 2, 3, 4, 100, 6, 7, 8])  # drops 1, 2 and 8, 100
    5.0
    >>> cvar([1, 2, 3, 4], mode="min")  # the worst quarter of four seeds: the largest value
    4.0
    >>> [round(v, 4) for v in wilson_interval(0, 10)]
    [0.0, 0.2775]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from tune_sched.core.checks import as_choice
from tune_sched.core.errors import UsageError, unknown_name
from tune_sched.core.words import COUNTS_AS_DIVERGED, Mode

__all__ = [
    "BOOTSTRAP_STATISTICS", "SUMMARY_COLUMNS", "bootstrap_ci", "bootstrap_diff_ci", "cvar", "iqm", "iqm_ci", "mean_ci",
    "run_diverged", "seed_summary", "summarize_seeds", "t_quantile", "wilson_interval", "worst",
]

ArrayLike = Sequence[float] | np.ndarray
SUMMARY_COLUMNS = (
    "n_seeds", "n_diverged", "divergence_rate", "divergence_lo", "divergence_hi", "mean", "std", "iqm", "worst",
    "cvar", "mean_lo", "mean_hi", "iqm_lo", "iqm_hi", "spike_mean", "spike_var",
)
# The fewest values whose skewness the intervals correct for: below it the estimate is too noisy, and the
# correction doubles a 3-seed interval on normal values, where the plain t already holds its level.
MIN_SKEW_SAMPLE = 5


def iqm(values: ArrayLike) -> float:
    """Interquartile mean: the mean after dropping ``floor(n / 4)`` values at each end (``scipy.stats.trim_mean``).

    Non-finite values are dropped first; NaN for no values. One to three values: their mean.
    """
    x = _finite(values)
    return float(_iqm_rows(np.sort(x)[None, :])[0]) if x.size else math.nan


def cvar(values: ArrayLike, *, mode: Mode = "min", fraction: float = 0.25) -> float:
    """Conditional value at risk: the mean of the worst ``fraction`` of the values (default the worst quarter).

    The tail holds ``fraction * n`` values, the last of them with a fractional weight: for n = 5 and a quarter, the
    worst value has weight 1 and the second worst 0.25 (``(w1 + 0.25 * w2) / 1.25``). Non-finite values are
    dropped first; NaN for no values; one value: itself.

    Raises:
        UsageError: ``fraction`` outside (0, 1] or an unknown mode.
    """
    _check_mode(mode)
    if not 0 < fraction <= 1:
        raise UsageError(f"must be in (0, 1], but got {fraction}", path="fraction", fix="use e.g. 0.25")
    x = _finite(values)
    if not x.size:
        return math.nan
    return float(_cvar_rows(_worst_first(x[None, :], mode), fraction)[0])


def worst(values: ArrayLike, *, mode: Mode = "min") -> float:
    """The worst finite value (the largest for ``"min"``, the smallest for ``"max"``); NaN for none."""
    _check_mode(mode)
    x = _finite(values)
    if not x.size:
        return math.nan
    return float(x.max() if mode == "min" else x.min())


def bootstrap_ci(
    values: ArrayLike, statistic: str = "mean", *, n_boot: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of ``statistic`` (``"mean"``, ``"median"`` or ``"iqm"``).

    Resamples the finite values with replacement ``n_boot`` times with ``numpy.random.default_rng(seed)``, so the
    same inputs give the same interval. (NaN, NaN) for fewer than two finite values: one seed has no interval.

    Raises:
        UsageError: an unknown statistic (listing the valid ones), ``n_boot < 1`` or ``confidence`` outside (0, 1).
    """
    if statistic not in BOOTSTRAP_STATISTICS:
        raise unknown_name("bootstrap statistic", statistic, BOOTSTRAP_STATISTICS, path="statistic")
    if n_boot < 1:
        raise UsageError(f"must be at least 1, but got {n_boot}", path="n_boot")
    _check_confidence(confidence)
    x = _finite(values)
    if x.size < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    samples = np.sort(x[rng.integers(0, x.size, size=(n_boot, x.size))], axis=1)
    stats = BOOTSTRAP_STATISTICS[statistic](samples)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(stats, [tail, 1.0 - tail])
    return float(low), float(high)


def bootstrap_diff_ci(
    a: ArrayLike,
    b: ArrayLike,
    statistic: str = "mean",
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(b) - statistic(a)`` for two independent samples (A/B arms).

    Each sample's finite values are resampled with replacement on its own, ``n_boot`` times, with
    ``numpy.random.default_rng(seed)``. (NaN, NaN) when either sample has fewer than two finite values.

    Example:
        >>> bootstrap_diff_ci([1.0, 1.0, 1.0], [3.0, 3.0, 3.0])
        (2.0, 2.0)

    Raises:
        UsageError: an unknown statistic, ``n_boot < 1`` or ``confidence`` outside (0, 1).
    """
    if statistic not in BOOTSTRAP_STATISTICS:
        raise unknown_name("bootstrap statistic", statistic, BOOTSTRAP_STATISTICS, path="statistic")
    if n_boot < 1:
        raise UsageError(f"must be at least 1, but got {n_boot}", path="n_boot")
    _check_confidence(confidence)
    x, y = _finite(a), _finite(b)
    if x.size < 2 or y.size < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    stat = BOOTSTRAP_STATISTICS[statistic]
    sx = stat(np.sort(x[rng.integers(0, x.size, size=(n_boot, x.size))], axis=1))
    sy = stat(np.sort(y[rng.integers(0, y.size, size=(n_boot, y.size))], axis=1))
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(sy - sx, [tail, 1.0 - tail])
    return float(low), float(high)


def mean_ci(values: ArrayLike, *, confidence: float = 0.95, correct_skew: bool = False) -> tuple[Any, Any]:
    """The interval of the mean: Student's t, ``mean -+ t(n - 1) * std / sqrt(n)``, or Hall's skew-corrected t.

    Student's t is exact for normal values at any n >= 2 and is the interval a one-sample t-test inverts. With
    ``correct_skew`` (and at least ``MIN_SKEW_SAMPLE`` values) it is Hall's transformation of the same t statistic
    (see ``iqm_ci``), which leans towards the values' long tail; it is Student's t for symmetric values.
    ``values`` is one sample (non-finite values dropped; (NaN, NaN) for fewer than two) or a 2-D array of finite
    samples, one per row (two arrays back).

    Example:
        >>> [round(v, 4) for v in mean_ci([1.0, 2.0, 3.0])]
        [-0.4841, 4.4841]

    Raises:
        UsageError: ``confidence`` outside (0, 1).
    """
    _check_confidence(confidence)
    rows = _sample_rows(values)
    if rows is None:
        return math.nan, math.nan
    low, high = _trimmed_t_interval(np.sort(rows, axis=1), 0, confidence, correct_skew)
    return _unwrap(values, low, high)


def iqm_ci(values: ArrayLike, *, confidence: float = 0.95) -> tuple[Any, Any]:
    """The interval of the IQM: the trimmed t (Tukey-McLaughlin, with Yuen's standard error), corrected for skew.

    With ``g = floor(n / 4)`` values trimmed at each end (as ``iqm`` does) and ``h = n - 2g`` kept, the statistic is
    ``T = (iqm - IQM) / se`` with ``se = sqrt(SS_w / (h (h - 1)))``, where ``SS_w`` is the sum of squared deviations
    of the winsorized values (the ``g`` lowest set to the lowest kept value, the ``g`` highest to the highest kept
    one). Seeds' metrics are often skewed (a few seeds end far worse), and then ``T`` is skewed too and the plain
    ``iqm -+ t(h - 1) se`` misses the long tail more often than it claims. From ``MIN_SKEW_SAMPLE`` values on, the
    interval inverts Hall's (1992) transformation ``T + a T^2 + a^2 T^3 / 3 + a / 2`` against ``t(h - 1)``, with
    ``a = skewness / (3 sqrt(h))`` and the skewness of the winsorized values (the trimmed-mean form of Luh and Guo,
    1999): the transformation removes the skewness of ``T`` to first order, so the interval reaches further towards
    the long tail. For symmetric values, and below ``MIN_SKEW_SAMPLE`` values, it is the plain trimmed t; with fewer
    than four values nothing is trimmed (the mean's t interval). Its estimand is the IQM of the seeds'
    distribution. ``values``: as for ``mean_ci``.

    Example:
        >>> [round(v, 4) for v in iqm_ci([1.0, 2.0, 3.0, 4.0, 100.0])]  # winsorized: 2, 2, 3, 4, 4 (symmetric)
        [-0.5131, 6.5131]
        >>> [round(v, 4) for v in iqm_ci([1.0, 2.0, 3.0, 9.0, 100.0])]  # winsorized: 2, 2, 3, 9, 9 (a long tail)
        [-5.4796, 29.4364]

    Raises:
        UsageError: ``confidence`` outside (0, 1).
    """
    _check_confidence(confidence)
    rows = _sample_rows(values)
    if rows is None:
        return math.nan, math.nan
    rows = np.sort(rows, axis=1)
    low, high = _trimmed_t_interval(rows, rows.shape[1] // 4, confidence, correct_skew=True)
    return _unwrap(values, low, high)


def _trimmed_t_interval(sorted_rows: np.ndarray, g: int, confidence: float,
                        correct_skew: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the interval of the ``g``-trimmed mean (``g = 0``: the mean) by the t statistic with Yuen's standard
    error, and with ``correct_skew`` Hall's transformation of it (``iqm_ci`` gives the formulas)."""
    n = sorted_rows.shape[1]
    h = n - 2 * g
    winsorized = np.clip(sorted_rows, sorted_rows[:, [g]], sorted_rows[:, [n - g - 1]])
    deviations = winsorized - winsorized.mean(axis=1, keepdims=True)
    ss = (deviations**2).sum(axis=1)
    se = np.sqrt(ss / (h * (h - 1)))
    centre = sorted_rows[:, g : n - g].mean(axis=1)
    t = t_quantile(confidence, h - 1)
    if not correct_skew or n < MIN_SKEW_SAMPLE:
        return centre - t * se, centre + t * se
    with np.errstate(divide="ignore", invalid="ignore"):
        skewness = np.where(ss > 0, (deviations**3).sum(axis=1) / n / (ss / n) ** 1.5, 0.0)
    a = skewness / (3.0 * math.sqrt(h))

    def inverse(u: float) -> np.ndarray:  # T with T + a T^2 + a^2 T^3 / 3 + a / 2 = u: T = (cbrt(1 + 3 a v) - 1) / a
        v = u - a / 2.0  # for v = u - a / 2, written without dividing by a (exact as a -> 0: T -> v)
        c = np.cbrt(1.0 + 3.0 * a * v)
        return 3.0 * v / (c * c + c + 1.0)

    return centre - se * inverse(t), centre - se * inverse(-t)


def wilson_interval(successes: int, trials: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (here: the divergence rate over seeds).

    ``(c - h, c + h)`` with ``c = (p + z^2 / 2n) / (1 + z^2 / n)`` and
    ``h = z * sqrt(p (1 - p) / n + z^2 / 4n^2) / (1 + z^2 / n)``, clipped to [0, 1]; (NaN, NaN) for no trials.

    Raises:
        UsageError: ``successes`` outside [0, trials] or ``confidence`` outside (0, 1).
    """
    _check_confidence(confidence)
    if trials < 0 or not 0 <= successes <= max(trials, 0):
        raise UsageError(f"need 0 <= successes <= trials, but got {successes} of {trials}", path="successes")
    if trials == 0:
        return math.nan, math.nan
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    p = successes / trials
    shrink = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / shrink
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / shrink
    return max(0.0, centre - half), min(1.0, centre + half)


def seed_summary(
    values: ArrayLike,
    *,
    diverged: Sequence[bool] | np.ndarray | None = None,
    spike_counts: ArrayLike | None = None,
    mode: Mode = "min",
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """Every across-seed statistic of one config (the keys of ``SUMMARY_COLUMNS``).

    Args:
        values: the metric of each seed (e.g. its best validation loss).
        diverged: per seed, whether it diverged (or failed); non-finite values count as diverged too.
        spike_counts: per seed, its number of spike episodes (all seeds, diverged ones included).
        mode: whether a lower or higher metric is better ("worst" and CVaR flip).
        confidence: the level of every interval (default 95 %).
        n_boot, seed: not used (the intervals are analytic); accepted so calls that pass them keep working.

    Returns:
        ``n_seeds``, ``n_diverged``, ``divergence_rate`` with its Wilson interval (``divergence_lo/hi``); over the
        seeds that did not diverge: ``mean``, ``std`` (ddof=1; NaN for one seed), ``iqm``, ``worst``, ``cvar`` (worst
        quarter), ``mean_lo/hi`` (``mean_ci``) and ``iqm_lo/hi`` (``iqm_ci``), NaN for fewer than two seeds;
        ``spike_mean`` and ``spike_var`` (ddof=1) of the finite spike counts. Metric statistics are NaN when every
        seed diverged; everything is NaN for no seeds.
    """
    _check_mode(mode)
    x = np.asarray(values, dtype=np.float64).ravel()
    bad = _diverged_mask(x, diverged)
    ok = x[~bad]
    n, n_bad = x.size, int(bad.sum())
    lo, hi = wilson_interval(n_bad, n, confidence=confidence)
    mean_lo, mean_hi = mean_ci(ok, confidence=confidence, correct_skew=True)
    iqm_lo, iqm_hi = iqm_ci(ok, confidence=confidence)
    spikes = _finite([] if spike_counts is None else spike_counts)
    return {
        "n_seeds": n,
        "n_diverged": n_bad,
        "divergence_rate": n_bad / n if n else math.nan,
        "divergence_lo": lo,
        "divergence_hi": hi,
        "mean": float(ok.mean()) if ok.size else math.nan,
        "std": float(ok.std(ddof=1)) if ok.size > 1 else math.nan,
        "iqm": iqm(ok),
        "worst": worst(ok, mode=mode),
        "cvar": cvar(ok, mode=mode),
        "mean_lo": mean_lo,
        "mean_hi": mean_hi,
        "iqm_lo": iqm_lo,
        "iqm_hi": iqm_hi,
        "spike_mean": float(spikes.mean()) if spikes.size else math.nan,
        "spike_var": float(spikes.var(ddof=1)) if spikes.size > 1 else math.nan,
    }


def summarize_seeds(
    per_run: pd.DataFrame,
    *,
    mode: Mode = "min",
    by: str = "config_id",
    metric: str = "best_metric",
    status: str = "status",
    spikes: str = "spike_count",
    diverged_statuses: Sequence[str] = COUNTS_AS_DIVERGED,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """``seed_summary`` for every config of a per-run table (one row per config and seed), sorted by ``by``.

    A run counts as diverged when its ``status`` (if that column exists) is in ``diverged_statuses`` or its metric
    is not finite; ``spikes`` is used when that column exists (e.g. after merging ``spike_table``). Every config
    gets the same bootstrap seed, so its intervals do not depend on the other configs.

    Raises:
        UsageError: ``by`` or ``metric`` missing from the table (listing its columns), or an unknown mode.
    """
    _check_mode(mode)
    for name, column in (("by", by), ("metric", metric)):
        if column not in per_run.columns:
            raise unknown_name("column", column, [str(c) for c in per_run.columns], path=name)
    diverged = run_diverged(per_run, metric=metric, status=status, diverged_statuses=diverged_statuses)
    has_spikes = spikes in per_run.columns
    rows = []
    for key, idx in per_run.groupby(by, sort=True).indices.items():
        rows.append({by: key, **seed_summary(
            per_run[metric].to_numpy(dtype=np.float64, na_value=np.nan)[idx],
            diverged=diverged[idx],
            spike_counts=per_run[spikes].to_numpy(dtype=np.float64, na_value=np.nan)[idx] if has_spikes else None,
            mode=mode, n_boot=n_boot, confidence=confidence, seed=seed,
        )})
    return pd.DataFrame(rows, columns=[by, *SUMMARY_COLUMNS])


def run_diverged(
    per_run: pd.DataFrame,
    *,
    metric: str,
    status: str = "status",
    diverged_statuses: Sequence[str] = COUNTS_AS_DIVERGED,
) -> np.ndarray:
    """Per row: its ``status`` (when that column exists) is in ``diverged_statuses`` or its metric is not finite."""
    bad = ~np.isfinite(per_run[metric].to_numpy(dtype=np.float64, na_value=np.nan))
    if status in per_run.columns:
        bad |= per_run[status].isin(list(diverged_statuses)).to_numpy()
    return bad


def _sample_rows(values: Any) -> np.ndarray | None:
    x = np.asarray(values, dtype=np.float64)
    rows = x if x.ndim == 2 else _finite(x)[None, :]
    return rows if rows.shape[1] >= 2 else None


def _unwrap(values: Any, low: np.ndarray, high: np.ndarray) -> tuple[Any, Any]:
    if np.ndim(values) == 2:
        return low, high
    return float(low[0]), float(high[0])


def t_quantile(confidence: float, df: int) -> float:
    """The two-sided Student-t critical value: ``t`` with ``P(|T| <= t) = confidence`` for ``df`` degrees of freedom
    (scipy's ``t.ppf(0.5 + confidence / 2, df)``), by bisection on the closed form of that probability for an
    integer ``df`` (Abramowitz & Stegun 26.7.3-4), so ``analyze`` does not import scipy (about 1-2 s)."""
    if not 0.0 < confidence < 1.0 or df < 1:
        return math.nan
    low, high = 0.0, 1.0
    while _t_central(high, int(df)) < confidence:
        high *= 2.0
    for _ in range(200):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if _t_central(mid, int(df)) < confidence else (low, mid)
        if high - low <= 1e-12 * high:
            break
    return 0.5 * (low + high)


def _t_central(t: float, df: int) -> float:
    """``P(|T| <= t)`` for Student's t with an integer ``df`` >= 1 (finite sums in ``cos(theta)``)."""
    theta = math.atan(t / math.sqrt(df))
    c2, term = math.cos(theta) ** 2, 1.0
    if df % 2:  # odd: (2/pi) (theta + sin cos (1 + 2/3 cos^2 + 2*4/(3*5) cos^4 + ...)), the sum empty for df 1
        total = 1.0 if df > 1 else 0.0
        for k in range(1, (df - 3) // 2 + 1):
            term *= c2 * (2 * k) / (2 * k + 1)
            total += term
        return 2.0 / math.pi * (theta + math.sin(theta) * math.cos(theta) * total)
    total = 1.0  # even: sin (1 + 1/2 cos^2 + 1*3/(2*4) cos^4 + ...)
    for k in range(1, (df - 2) // 2 + 1):
        term *= c2 * (2 * k - 1) / (2 * k)
        total += term
    return math.sin(theta) * total


def _iqm_rows(sorted_rows: np.ndarray) -> np.ndarray:
    cut = sorted_rows.shape[1] // 4
    return sorted_rows[:, cut : sorted_rows.shape[1] - cut].mean(axis=1)


def _cvar_rows(worst_first: np.ndarray, fraction: float) -> np.ndarray:
    n = worst_first.shape[1]
    mass = fraction * n
    whole = min(int(math.floor(mass + 1e-9)), n)
    weights = np.zeros(n)
    weights[:whole] = 1.0
    if whole < n:
        weights[whole] = mass - whole
    return worst_first @ weights / mass


def _worst_first(x: np.ndarray, mode: Mode) -> np.ndarray:
    ordered = np.sort(x, axis=-1)
    return ordered[..., ::-1] if mode == "min" else ordered


def _finite(values: Any) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64).ravel()
    return x[np.isfinite(x)]


def _diverged_mask(x: np.ndarray, diverged: Sequence[bool] | np.ndarray | None) -> np.ndarray:
    bad = ~np.isfinite(x)
    if diverged is not None:
        flags = np.asarray(diverged, dtype=bool).ravel()
        if flags.shape != x.shape:
            raise UsageError(
                f"must have one flag per value ({x.size}), but got {flags.size}", path="diverged",
                fix="pass one bool per seed",
            )
        bad |= flags
    return bad


def _check_mode(mode: str) -> None:
    as_choice(mode, ("min", "max"), "mode", what="mode")


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise UsageError(f"must be in (0, 1), but got {confidence}", path="confidence", fix="use e.g. 0.95")


BOOTSTRAP_STATISTICS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mean": lambda rows: rows.mean(axis=1),
    "median": lambda rows: np.median(rows, axis=1),
    "iqm": _iqm_rows,
}
