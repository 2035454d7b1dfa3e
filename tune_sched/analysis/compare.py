"""The A/B study: is the treatment arm (B) better than the control arm (A), and can the seeds tell?

Per arm: the across-seed statistics of ``stats.seed_summary`` (diverged and failed seeds count in the divergence
rate, not in the metric statistics) and the spike figures. Between the arms, on each seed's best metric:

- probability of improvement: the chance that a random seed of B beats a random seed of A (the common-language
  effect size, ``U_B / (n_A n_B)`` of the Mann-Whitney test, ties counting half), with the Mann-Whitney U test's
  two-sided p-value. Here a diverged seed counts as worse than any seed that did not diverge.
- Welch's t-test (two-sided, unequal variances) and its interval of the difference of the means
  (``mean(B) - mean(A)``), over the seeds that did not diverge.
- paired, when both arms ran the same seeds (the same initialisations and data order, so seed-to-seed noise
  cancels): the per-seed differences ``B - A``, how many seeds B won, their t interval and a one-sample t-test
  (seeds that diverged in either arm left out).
- how much: the difference relative to A's mean (``rel_diff``, its interval the difference's divided by
  ``|mean(A)|``) and standardised (``effect_size``: Cohen's d of the unpaired values with the pooled std, or d_z =
  mean / std of the paired differences), with the exact interval from the noncentral t distribution (for normal
  seeds). All are ``B - A`` in the metric's units and signs: negative means B is lower.

The intervals are the t-tests' own (Student / Welch), so an interval excludes 0 exactly when its test's p is below
``1 - confidence``; the verdict always says which arm looks better and by how much, and one sentence says why the
tests agree or not (pairing, or the rank test's floor on few seeds).

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
from tune_sched.analysis.stats import mean_ci, run_diverged, seed_summary
from tune_sched.core.errors import UsageError
from tune_sched.core.words import better, oriented

__all__ = ["MIN_SEEDS", "Comparison", "Outcome", "arm_statistics", "compare_arms", "probability_of_improvement"]

MIN_SEEDS = 5
ALPHA = 0.05
Outcome = Literal["a_better", "b_better", "no_difference", "inconclusive"]


@dataclass(frozen=True)
class Comparison:
    """The result of ``compare_arms``: per-arm statistics, the tests, the outcome and the verdict paragraph.

    ``tests`` keys: ``n_a``, ``n_b`` (seeds), ``prob_b_better``, ``mann_whitney_u`` (B's U), ``mann_whitney_p``,
    ``welch_t``, ``welch_p``, ``diff_mean`` (B - A), ``diff_lo``, ``diff_hi``, ``paired_n``, ``paired_b_wins``,
    ``paired_diff_mean``, ``paired_lo``, ``paired_hi``, ``paired_t``, ``paired_p``, ``confidence``, ``rel_diff``,
    ``rel_lo``, ``rel_hi``, ``effect_size``, ``effect_lo``, ``effect_hi`` (of the basis the outcome uses); NaN where
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
    # lazy: heavy
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
    out["diff_lo"], out["diff_hi"] = _welch_ci(ok_a, ok_b, confidence)
    out.update(_paired(a, b, n_boot=n_boot, confidence=confidence, seed=seed))
    out.update(_effect_sizes(ok_a, ok_b, out, confidence))
    return out


def _welch_ci(ok_a: np.ndarray, ok_b: np.ndarray, confidence: float) -> tuple[float, float]:
    """Welch's interval of ``mean(B) - mean(A)`` (what Welch's t-test inverts); NaN below two seeds an arm."""
    # lazy: heavy
    from scipy import stats as sps

    if ok_a.size < 2 or ok_b.size < 2:
        return math.nan, math.nan
    if ok_a.std() == 0 and ok_b.std() == 0:
        d = float(ok_b.mean() - ok_a.mean())
        return d, d
    ci = sps.ttest_ind(ok_b, ok_a, equal_var=False).confidence_interval(confidence)
    return float(ci.low), float(ci.high)


def _effect_sizes(ok_a: np.ndarray, ok_b: np.ndarray, tests: dict[str, float], confidence: float) -> dict[str, float]:
    """Relative and standardised size of ``B - A`` on the basis the outcome uses (paired when >= 2 pairs)."""
    paired = tests["paired_n"] >= 2
    diff, lo, hi = ((tests["paired_diff_mean"], tests["paired_lo"], tests["paired_hi"]) if paired
                    else (tests["diff_mean"], tests["diff_lo"], tests["diff_hi"]))
    level = abs(float(ok_a.mean())) if ok_a.size else math.nan
    rel = [v / level if math.isfinite(v) and level > 0 else math.nan for v in (diff, lo, hi)]
    if paired:
        t, df, scale = tests["paired_t"], tests["paired_n"] - 1, math.sqrt(tests["paired_n"])
    elif ok_a.size >= 2 and ok_b.size >= 2:
        na, nb = ok_a.size, ok_b.size
        pooled = math.sqrt(((na - 1) * ok_a.var(ddof=1) + (nb - 1) * ok_b.var(ddof=1)) / (na + nb - 2))
        scale = math.sqrt(na * nb / (na + nb))
        t = (ok_b.mean() - ok_a.mean()) / pooled * scale if pooled > 0 else math.nan
        df = na + nb - 2
    else:
        t, df, scale = math.nan, math.nan, math.nan
    d_lo, d_hi = _noncentral_t_ci(t, df, confidence)
    return {"rel_diff": rel[0], "rel_lo": rel[1], "rel_hi": rel[2], "effect_size": t / scale,
            "effect_lo": d_lo / scale, "effect_hi": d_hi / scale}


def _noncentral_t_ci(t: float, df: float, confidence: float) -> tuple[float, float]:
    """The interval of the noncentrality parameter of an observed t (exact for normal data); NaN for NaN t."""
    # lazy: heavy
    from scipy import optimize
    from scipy import stats as sps

    if not (math.isfinite(t) and math.isfinite(df) and df >= 1):
        return math.nan, math.nan
    tail = (1.0 - confidence) / 2.0

    def solve(target: float) -> float:
        f = lambda ncp: float(sps.nct.cdf(t, df, ncp)) - target  # noqa: E731 - decreasing in ncp
        step = 1.0
        while not (f(t - step) > 0 > f(t + step)):  # widen the bracket around t until it holds the root
            step *= 2.0
            if step > 1e6:
                return math.nan
        try:
            return float(optimize.brentq(f, t - step, t + step, xtol=1e-10))
        except ValueError:  # nct.cdf is NaN somewhere in the bracket (a large t on few degrees of freedom)
            return math.nan

    return solve(1.0 - tail), solve(tail)


def _paired(a: Arm, b: Arm, *, n_boot: int, confidence: float, seed: int) -> dict[str, float]:
    """Seed-by-seed differences ``B - A`` when both arms ran the same seeds (so the same initialisations).

    Seeds that diverged in either arm are left out; NaN (and ``paired_n`` 0) when the seed sets differ.
    """
    # lazy: heavy
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
    out["paired_b_wins"] = float(better(d, 0, a.mode).sum())
    out["paired_diff_mean"] = float(d.mean())
    out["paired_lo"], out["paired_hi"] = mean_ci(d, confidence=confidence)
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
        sentences += [_size_sentence(a, tests, basis), poi, _agreement_sentence(tests, basis, n_a, n_b)]
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


def _size_sentence(a: Arm, tests: dict[str, float], basis: str) -> str:
    """Which arm looks better on these seeds and by how much, relative and standardised, with intervals."""
    diff = tests["paired_diff_mean"] if basis == "paired" else tests["diff_mean"]
    if not math.isfinite(diff) or diff == 0:
        return ""
    b_ahead = (diff < 0) == (a.mode == "min")
    conf = f"{tests['confidence']:.0%}"
    rel = (f"{_pct(tests['rel_diff'])} of A's mean ({conf} CI {_pct(tests['rel_lo'])} to {_pct(tests['rel_hi'])})"
           if math.isfinite(tests["rel_diff"]) else "")
    kind = "d_z, the mean paired difference over its std" if basis == "paired" else "Cohen's d, pooled std"
    std = (f"{_n(tests['effect_size'])} standard deviations ({kind}; {conf} CI {_n(tests['effect_lo'])} to "
           f"{_n(tests['effect_hi'])})" if math.isfinite(tests["effect_size"]) else "")
    size = " and ".join(x for x in (rel, std) if x)
    return (f"On these seeds {'B' if b_ahead else 'A'} is ahead: B - A is {_n(diff)}"
            + (f", {size}." if size else "."))


def _agreement_sentence(tests: dict[str, float], basis: str, n_a: int, n_b: int) -> str:
    """One sentence on why the tests agree or disagree."""
    alpha = 1.0 - tests["confidence"]
    sig = {name: math.isfinite(p) and p < alpha for name, p in (
        ("paired", tests["paired_p"]), ("unpaired", tests["welch_p"]), ("ranks", tests["mann_whitney_p"]))}
    main = sig[basis]
    if basis == "paired" and sig["paired"] != sig["unpaired"]:
        if sig["paired"]:
            return ("The paired test finds a difference the unpaired one does not: the seeds differ from each other "
                    "more than the arms do, and running both arms on the same seeds cancels that.")
        return ("The unpaired test finds a difference the paired one does not: the per-seed differences B - A "
                "vary a lot from seed to seed, so seed by seed the arms are not consistently apart.")
    if main and not sig["ranks"]:
        floor = 2.0 / math.comb(n_a + n_b, n_a)
        if floor >= alpha:
            return (f"The rank test (Mann-Whitney) cannot reach p < {alpha:g} with {n_a} and {n_b} seeds (its "
                    f"smallest p is {_n(floor)}), so it cannot confirm the t-test yet.")
        return ("The rank test (Mann-Whitney) is less sure than the t-test: it sees only the order of the seeds, "
                "and some seeds of the two arms interleave.")
    if sig["ranks"] and not main:
        return ("The rank test (Mann-Whitney) finds a difference the t-test does not: the seeds of one arm are "
                "consistently ahead, but their spread (or one outlying seed) widens the t interval.")
    return "The t-test and the rank test agree." if main else "Neither the t-test nor the rank test finds a difference."


def _pct(value: float) -> str:
    return f"{100 * value:+.3g}%" if math.isfinite(value) else "-"


def _evidence_text(tests: dict[str, float], basis: str) -> str:
    conf = f"{tests['confidence']:.0%}"
    if basis == "paired":
        n, wins = int(tests["paired_n"]), int(tests["paired_b_wins"])
        p = f"; paired t-test p = {_n(tests['paired_p'])}" if math.isfinite(tests["paired_p"]) else ""
        return (f"seed by seed (both arms ran the same seeds) B was better on {wins} of {n}, and B - A averaged "
                f"{_n(tests['paired_diff_mean'])} ({conf} t interval {_n(tests['paired_lo'])} to "
                f"{_n(tests['paired_hi'])}{p})")
    p = f"; Welch's t-test p = {_n(tests['welch_p'])}" if math.isfinite(tests["welch_p"]) else ""
    return f"{conf} Welch interval of the difference {_n(tests['diff_lo'])} to {_n(tests['diff_hi'])}{p}"


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
    x = oriented(x, mode)
    return np.where(np.isnan(x), np.inf, x)


def _n(value: Any) -> str:
    return format_value(float(value)) if value is not None else "-"
