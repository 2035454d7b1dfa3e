"""The A/B study: is the treatment arm (B) better than the control arm (A), and can the seeds tell?

Per arm: the across-seed statistics of ``stats.seed_summary`` (diverged and failed seeds count in the divergence
rate, not in the metric statistics) and the spike figures. Between the arms, on each seed's best metric:

- probability of improvement: the chance that a random seed of B beats a random seed of A (the common-language
  effect size, ``U_B / (n_A n_B)`` of the Mann-Whitney test, ties counting half), with the Mann-Whitney U test's
  two-sided p-value. Here a diverged seed counts as worse than any seed that did not diverge.
- Welch's t-test (two-sided, unequal variances) and a bootstrap interval of the difference of the means
  (``mean(B) - mean(A)``), over the seeds that did not diverge.
- paired, when both arms ran the same seeds (the same initialisations and data order, so seed-to-seed noise
  cancels): the per-seed differences ``B - A``, how many seeds B won, their bootstrap interval and a one-sample
  t-test (seeds that diverged in either arm left out).

The outcome: ``no_difference`` when both arms gave the same values on the same number of seeds; ``b_better`` or
``a_better`` when the interval of the difference excludes 0 and the t-test's p < 0.05 (where defined), using the
paired differences when there are at least two and the unpaired ones otherwise; when the metric cannot be
compared, the arm that never diverged beats one that always did; else ``inconclusive``. ``too_few_seeds`` is set
when an arm has fewer than ``min_seeds`` (5) seeds, and the verdict then says that the seeds are too few to be sure.
scipy is imported here only.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from tune_sched.analysis.arms import Arm
from tune_sched.analysis.ranking_table import format_value
from tune_sched.analysis.stats import bootstrap_ci, bootstrap_diff_ci, run_diverged, seed_summary
from tune_sched.errors import UsageError

__all__ = ["MIN_SEEDS", "Comparison", "Outcome", "arm_statistics", "compare_arms", "probability_of_improvement"]

MIN_SEEDS = 5
ALPHA = 0.05
Outcome = Literal["a_better", "b_better", "no_difference", "inconclusive"]


@dataclass(frozen=True)
class Comparison:
    """The result of ``compare_arms``: per-arm statistics, the tests, the outcome and the verdict paragraph.

    ``tests`` keys: ``n_a``, ``n_b`` (seeds), ``prob_b_better``, ``mann_whitney_u`` (B's U), ``mann_whitney_p``,
    ``welch_t``, ``welch_p``, ``diff_mean`` (B - A), ``diff_lo``, ``diff_hi``, ``paired_n``, ``paired_b_wins``,
    ``paired_diff_mean``, ``paired_lo``, ``paired_hi``, ``paired_t``, ``paired_p``, ``confidence``; NaN where
    undefined (fewer than two seeds that did not diverge in an arm, different seeds, or no spread at all).
    """

    a: Arm
    b: Arm
    stats: dict[str, dict[str, float]]
    tests: dict[str, float]
    outcome: Outcome
    too_few_seeds: bool
    verdict: str


def compare_arms(
    a: Arm,
    b: Arm,
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    min_seeds: int = MIN_SEEDS,
) -> Comparison:
    """Compare the control arm ``a`` with the treatment arm ``b`` (see the module docstring).

    Raises:
        UsageError: the arms measure different metrics or directions, or an arm has no seeds.
    """
    if (a.metric, a.mode) != (b.metric, b.mode):
        raise UsageError(f"A is judged by {a.metric} ({a.mode}) but B by {b.metric} ({b.mode})", path="compare",
                         fix="compare arms with the same metric and mode")
    for arm in (a, b):
        if arm.runs.empty:
            raise UsageError("has no finished seed", path=f"arm {arm.label} ({arm.source})",
                             fix="train it first, or pick another config")
    stats = {arm.label: arm_statistics(arm, n_boot=n_boot, confidence=confidence, seed=seed) for arm in (a, b)}
    tests = _tests(a, b, n_boot=n_boot, confidence=confidence, seed=seed)
    outcome, basis = _outcome(a, b, stats, tests)
    too_few = min(len(a.runs), len(b.runs)) < min_seeds
    verdict = _verdict(a, b, stats, tests, outcome, basis, too_few, min_seeds)
    return Comparison(a=a, b=b, stats=stats, tests=tests, outcome=outcome, too_few_seeds=too_few, verdict=verdict)


def arm_statistics(arm: Arm, *, n_boot: int = 2000, confidence: float = 0.95, seed: int = 0) -> dict[str, float]:
    """``seed_summary`` of the arm's best metric per seed plus spike figures.

    Extra keys: ``runs_with_spikes``, ``spike_episodes``, ``max_peak_ratio`` (NaN: no spike), ``unrecovered``.
    """
    runs = arm.runs
    diverged = run_diverged(runs, metric="best_metric")
    out: dict[str, float] = seed_summary(runs["best_metric"].to_numpy(dtype=np.float64, na_value=np.nan),
                                         diverged=diverged, spike_counts=runs["spike_count"].to_numpy(
                                             dtype=np.float64, na_value=np.nan),
                                         mode=arm.mode, n_boot=n_boot, confidence=confidence, seed=seed)
    counts = runs["spike_count"].to_numpy(dtype=np.float64, na_value=np.nan)
    peaks = arm.episodes["peak_ratio"].to_numpy(dtype=np.float64, na_value=np.nan) if len(arm.episodes) else []
    peaks = np.asarray(peaks, dtype=np.float64)
    out.update({
        "runs_with_spikes": float(np.sum(counts > 0)),
        "spike_episodes": float(len(arm.episodes)),
        "max_peak_ratio": float(np.nanmax(peaks)) if np.isfinite(peaks).any() else math.nan,
        "unrecovered": float((~arm.episodes["recovered"].astype(bool)).sum()) if len(arm.episodes) else 0.0,
    })
    return out


def probability_of_improvement(a: np.ndarray, b: np.ndarray, *, mode: str = "min") -> float:
    """P(a random value of ``b`` beats a random value of ``a``), ties counting half; NaN (diverged) is worst.

    Example:
        >>> probability_of_improvement(np.array([3.0, 4.0]), np.array([1.0, 3.0]))  # lower is better
        0.875
    """
    x, y = _oriented(a, mode), _oriented(b, mode)
    if not x.size or not y.size:
        return math.nan
    wins = (y[:, None] < x[None, :]).sum() + 0.5 * (y[:, None] == x[None, :]).sum()
    return float(wins / (x.size * y.size))


def _tests(a: Arm, b: Arm, *, n_boot: int, confidence: float, seed: int) -> dict[str, float]:
    from scipy import stats as sps

    va, vb = _values(a), _values(b)
    ok_a, ok_b = va[np.isfinite(va)], vb[np.isfinite(vb)]
    out = {"n_a": float(va.size), "n_b": float(vb.size), "confidence": confidence,
           "prob_b_better": probability_of_improvement(va, vb, mode=a.mode)}
    xa, xb = _oriented(va, a.mode), _oriented(vb, a.mode)
    finite = np.concatenate([xa, xb])
    finite = finite[np.isfinite(finite)]
    worst = (finite.max() + 1.0) if finite.size else 1.0  # diverged seeds: worse than every finite one
    xa, xb = np.where(np.isinf(xa), worst, xa), np.where(np.isinf(xb), worst, xb)
    if np.unique(np.concatenate([xa, xb])).size > 1:
        u = sps.mannwhitneyu(-xb, -xa, alternative="two-sided")  # U counts B's wins: larger -x is better
        out["mann_whitney_u"], out["mann_whitney_p"] = float(u.statistic), float(u.pvalue)
    else:
        out["mann_whitney_u"], out["mann_whitney_p"] = 0.5 * xa.size * xb.size, 1.0
    out["welch_t"], out["welch_p"] = _t_test(sps.ttest_ind, ok_b, ok_a, equal_var=False) \
        if ok_a.size >= 2 and ok_b.size >= 2 else (math.nan, math.nan)
    out["diff_mean"] = float(ok_b.mean() - ok_a.mean()) if ok_a.size and ok_b.size else math.nan
    out["diff_lo"], out["diff_hi"] = bootstrap_diff_ci(ok_a, ok_b, n_boot=n_boot, confidence=confidence, seed=seed)
    out.update(_paired(a, b, n_boot=n_boot, confidence=confidence, seed=seed))
    return out


def _paired(a: Arm, b: Arm, *, n_boot: int, confidence: float, seed: int) -> dict[str, float]:
    """Seed-by-seed differences ``B - A`` when both arms ran the same seeds (so the same initialisations).

    Seeds that diverged in either arm are left out; NaN (and ``paired_n`` 0) when the seed sets differ.
    """
    from scipy import stats as sps

    out = dict.fromkeys(("paired_diff_mean", "paired_lo", "paired_hi", "paired_t", "paired_p"), math.nan)
    out["paired_n"], out["paired_b_wins"] = 0.0, math.nan
    seeds_a, seeds_b = a.runs["seed"].tolist(), b.runs["seed"].tolist()
    if sorted(seeds_a) != sorted(seeds_b):
        return out
    va = dict(zip(seeds_a, _values(a)))
    vb = dict(zip(seeds_b, _values(b)))
    both = [s for s in sorted(va) if math.isfinite(va[s]) and math.isfinite(vb[s])]
    d = np.array([vb[s] - va[s] for s in both])
    out["paired_n"] = float(d.size)
    if not d.size:
        return out
    better = d < 0 if a.mode == "min" else d > 0
    out["paired_b_wins"] = float(better.sum())
    out["paired_diff_mean"] = float(d.mean())
    out["paired_lo"], out["paired_hi"] = bootstrap_ci(d, "mean", n_boot=n_boot, confidence=confidence, seed=seed)
    if d.size >= 2:
        out["paired_t"], out["paired_p"] = _t_test(sps.ttest_1samp, d, 0.0)
    return out


def _t_test(test: Any, *args: Any, **kwargs: Any) -> tuple[float, float]:
    """(t, p) of a scipy t-test; NaN when the samples have no spread (t undefined)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = test(*args, **kwargs)
    return float(result.statistic), float(result.pvalue)


def _outcome(a: Arm, b: Arm, stats: dict[str, dict[str, float]], tests: dict[str, float]) -> tuple[Outcome, str]:
    """The outcome and what decided it: ``"identical"``, ``"paired"``, ``"unpaired"``, ``"divergence"`` or ``""``.

    Paired differences decide when there are at least two (same seeds in both arms), else the unpaired ones.
    """
    va, vb = np.sort(_values(a)), np.sort(_values(b))
    if va.size == vb.size and np.array_equal(va, vb, equal_nan=True):
        return "no_difference", "identical"
    basis = "paired" if tests["paired_n"] >= 2 else "unpaired"
    lo, hi, p = _evidence(tests, basis)
    if math.isfinite(lo) and math.isfinite(hi):
        if (lo > 0 or hi < 0) and not (math.isfinite(p) and p >= ALPHA):
            b_lower = hi < 0
            return ("b_better" if b_lower == (a.mode == "min") else "a_better"), basis
        return "inconclusive", basis
    rate_a, rate_b = stats[a.label]["divergence_rate"], stats[b.label]["divergence_rate"]
    if {rate_a, rate_b} == {0.0, 1.0}:
        return ("b_better" if rate_a == 1.0 else "a_better"), "divergence"
    return "inconclusive", ""


def _evidence(tests: dict[str, float], basis: str) -> tuple[float, float, float]:
    """The interval of the difference and the t-test's p-value the outcome rests on."""
    if basis == "paired":
        return tests["paired_lo"], tests["paired_hi"], tests["paired_p"]
    return tests["diff_lo"], tests["diff_hi"], tests["welch_p"]


def _verdict(a: Arm, b: Arm, stats: dict[str, dict[str, float]], tests: dict[str, float], outcome: Outcome,
             basis: str, too_few: bool, min_seeds: int) -> str:
    sa, sb = stats[a.label], stats[b.label]
    names = f"A (`{a.name}`)", f"B (`{b.name}`)"
    n_a, n_b = len(a.runs), len(b.runs)
    seeds = f"{n_a} seed{'s' if n_a > 1 else ''} per arm" if n_a == n_b else f"{n_a} and {n_b} seeds"
    few = f"{seeds} are too few to be sure; run at least {min_seeds} seeds per arm."
    means = (f"mean {a.metric} {_n(sa['mean'])} for A and {_n(sb['mean'])} for B (B - A = "
             f"{_n(tests['diff_mean'])})")
    poi = (f"A random seed of B beats a random seed of A with probability {_n(tests['prob_b_better'])} "
           f"(Mann-Whitney U p = {_n(tests['mann_whitney_p'])}).")
    if basis == "identical":
        sentences = [f"**No difference**: {names[0]} and {names[1]} gave identical {a.metric} values ({seeds})."
                     + (f" A small difference could still hide, and {few}" if too_few else "")]
    elif basis in ("paired", "unpaired"):
        evidence = _evidence_text(tests, basis)
        if outcome in ("a_better", "b_better"):
            winner, loser = (names[1], names[0]) if outcome == "b_better" else names
            verb = "looks better than" if too_few else "is better than"
            sentences = [f"**{winner} {verb} {loser}**: {means}; {evidence}." + (f" But {few}" if too_few else "")]
        else:
            lo, hi, _ = _evidence(tests, basis)
            why = "its interval spans 0" if lo <= 0 <= hi else "the t-test is not significant"
            sentences = [f"**No clear difference** between {names[0]} and {names[1]}: {means}; {evidence}, and "
                         f"{why}." + (f" {few}" if too_few else "")]
        sentences.append(poi)
    elif basis == "divergence":
        winner = names[1] if outcome == "b_better" else names[0]
        sentences = [f"**{winner} is better**: the other arm diverged on every seed, so the metric cannot be "
                     "compared." + (f" {few}" if too_few else "")]
    else:
        sentences = [f"**Cannot tell** {names[0]} from {names[1]}: an arm has fewer than two seeds that finished "
                     f"without diverging, so the metric cannot be compared; run at least {min_seeds} seeds per arm."]
    sentences.append(_divergence_sentence(a, b, sa, sb))
    sentences.append(_spike_sentence(a, b, sa, sb))
    return " ".join(s for s in sentences if s)


def _evidence_text(tests: dict[str, float], basis: str) -> str:
    conf = f"{tests['confidence']:.0%}"
    if basis == "paired":
        n, wins = int(tests["paired_n"]), int(tests["paired_b_wins"])
        p = f"; paired t-test p = {_n(tests['paired_p'])}" if math.isfinite(tests["paired_p"]) else ""
        return (f"seed by seed (both arms ran the same seeds) B was better on {wins} of {n}, and B - A averaged "
                f"{_n(tests['paired_diff_mean'])} ({conf} bootstrap CI {_n(tests['paired_lo'])} to "
                f"{_n(tests['paired_hi'])}{p})")
    p = f"; Welch's t-test p = {_n(tests['welch_p'])}" if math.isfinite(tests["welch_p"]) else ""
    return f"{conf} bootstrap CI of the difference {_n(tests['diff_lo'])} to {_n(tests['diff_hi'])}{p}"


def _divergence_sentence(a: Arm, b: Arm, sa: dict[str, float], sb: dict[str, float]) -> str:
    if not sa["n_diverged"] and not sb["n_diverged"]:
        return "No seed diverged in either arm."
    return (f"A diverged (or failed) on {int(sa['n_diverged'])} of {int(sa['n_seeds'])} seeds, B on "
            f"{int(sb['n_diverged'])} of {int(sb['n_seeds'])}.")


def _spike_sentence(a: Arm, b: Arm, sa: dict[str, float], sb: dict[str, float]) -> str:
    if not (math.isfinite(sa["spike_mean"]) or math.isfinite(sb["spike_mean"])):
        return ""
    if not sa["spike_episodes"] and not sb["spike_episodes"]:
        return "Neither arm had a loss spike."
    peaks = ", ".join(f"{arm.label} {_n(s['max_peak_ratio'])}x" for arm, s in ((a, sa), (b, sb))
                      if math.isfinite(s["max_peak_ratio"]))
    return (f"Loss spikes per seed: A {_n(sa['spike_mean'])}, B {_n(sb['spike_mean'])} (largest peak: {peaks}).")


def _values(arm: Arm) -> np.ndarray:
    """Each seed's best metric, NaN where the seed diverged or failed."""
    values = arm.runs["best_metric"].to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(run_diverged(arm.runs, metric="best_metric"), np.nan, values)


def _oriented(values: np.ndarray, mode: str) -> np.ndarray:
    """Lower is better, NaN (diverged) as +inf."""
    x = np.asarray(values, dtype=np.float64)
    x = x if mode == "min" else -x
    return np.where(np.isnan(x), np.inf, x)


def _n(value: Any) -> str:
    return format_value(float(value)) if value is not None else "-"
