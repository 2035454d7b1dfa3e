"""The robust score: one number per config from its seeds, used by both the search objective and the ranking.

The score is in the metric's own units and oriented like it: with ``mode="min"`` lower is better, with
``mode="max"`` higher is better (pass the same ``mode`` to Ray Tune / Optuna as for the raw metric). For
``mode="min"``, over the seeds that did not diverge, with ``r`` the divergence rate::

    base    = IQM(values) + spread_weight * std(values)               (std with ddof=1; 0 for one seed)
    level   = max(|IQM| + spread_weight * std, 1e-12)
    spikes  = spike_weight * (mean(episodes) + std(episodes)) * level  (episodes per seed; see spike_burden)
    penalty = divergence_penalty * r / (1 - r) * level
    score   = base + spikes + penalty                                 (+inf when every seed diverged)

The penalty is relative to the config's own level, grows with the odds of divergence (at the default
``divergence_penalty=3`` one diverged seed of four costs the whole level, doubling the score; one of three, 1.5
levels) and is positive whenever a seed diverged, so a config that diverged on any seed always scores worse than one
with the same IQM and std that did not. For ``mode="max"`` the
score is the mirror image, ``-robust_score(-values, mode="min")``: ``IQM - spread_weight * std - penalty``,
``-inf`` when every seed diverged. A seed counts as diverged when flagged or when its value is not finite.

The default ``spread_weight=3`` makes the base pessimistic: with 3 seeds, ``mean + 3 std`` is close to the 95 %
upper prediction bound of the next seed's value (3.4 std for normal seeds). The defaults were chosen with
``scripts/bench_decision.py``, which measures how a pick holds up on seeds not used to make it: spread and penalty
on the ``tiny`` task, the spike weight after a pool of Adam runs of ``fno2d``, all three then confirmed on a second
pool of ``fno2d`` (clipped SGD, built after the weights were fixed) and on fresh seeds of every pool
(``docs/analysis.md`` gives the evidence).

The spike term charges a config for the loss-spike episodes of its seeds that did not diverge: their expected
number per seed plus their spread over seeds, as a fraction of the config's own level, like the penalty. At the
default ``spike_weight=0.2`` one episode per seed on every seed costs 20 % of the level; the same mean spread
unevenly over the seeds costs more. Seeds without a spike count (no steps recorded) are left out of it; with none
known, or ``spike_weight=0``, the term is 0 and the score is exactly the score without it. Why this form:
``docs/analysis.md``.

YAML (for the search and ``analyze``)::

    score:
      spread_weight: 3.0        # lambda: how much seed-to-seed spread costs
      divergence_penalty: 3.0   # beta: how much divergence costs (must be > 0)
      spike_weight: 0.2         # how much one spike episode per seed (and one of spread) costs, per unit of level
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from tune_sched.analysis.stats import SUMMARY_COLUMNS, iqm, run_diverged, summarize_seeds
from tune_sched.config.judging import ScoreSettings, check_score_weights
from tune_sched.core.checks import as_choice
from tune_sched.core.errors import UsageError
from tune_sched.core.words import COUNTS_AS_DIVERGED, Mode, oriented

__all__ = ["RANK_COLUMNS", "ScoreSettings", "pareto_front", "rank_configs", "robust_score", "spike_burden"]

RANK_COLUMNS = ("rank", "score", *SUMMARY_COLUMNS, "spike_term", "pareto")
_LEVEL_FLOOR = 1e-12


def robust_score(
    values: Sequence[float] | np.ndarray,
    *,
    diverged: Sequence[bool] | np.ndarray | None = None,
    spikes: Sequence[float] | np.ndarray | None = None,
    mode: Mode = "min",
    spread_weight: float = 3.0,
    divergence_penalty: float = 3.0,
    spike_weight: float = 0.2,
) -> float:
    """The robust score of one config from its per-seed metric values (formula in the module docstring).

    Args:
        values: one metric value per seed (e.g. the best validation loss); NaN/inf count as diverged.
        diverged: one flag per seed (diverged or failed runs), or None to judge by the values alone.
        spikes: one spike-episode count per seed (NaN: unknown), or None for no spike term.
        mode: ``"min"`` if lower metric values are better, ``"max"`` if higher are.
        spread_weight: lambda, the cost of one standard deviation across seeds (>= 0).
        divergence_penalty: beta, the scale of the divergence penalty (> 0).
        spike_weight: the cost of one spike episode per seed (and of one of spread over seeds), per unit of the
            config's level (>= 0; 0 leaves spikes out).

    Returns:
        The score, oriented like the metric; +inf (``"min"``) or -inf (``"max"``) when every seed diverged.

    Raises:
        UsageError: no values, a ``diverged`` or ``spikes`` of another length, a bad mode or weight.

    Example:
        >>> robust_score([1.0, 1.0, 1.0, 1.0])
        1.0
        >>> robust_score([1.0, 1.0, 1.0, 1.0], diverged=[False, False, False, True])  # 1 + 3 * (1/4)/(3/4) * 1
        2.0
        >>> robust_score([1.0, 1.0, 1.0, 1.0], spikes=[2, 0, 0, 0])  # 1 + 0.2 * (0.5 + 1) * 1
        1.3
    """
    mode = as_choice(mode, ("min", "max"), "mode", what="mode")  # type: ignore[assignment]
    check_score_weights(spread_weight, divergence_penalty, spike_weight, None)
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        raise UsageError("needs at least one seed's value, but got none", path="values")
    bad = ~np.isfinite(x)
    if diverged is not None:
        flags = np.asarray(diverged, dtype=bool).ravel()
        if flags.shape != x.shape:
            raise UsageError(f"must have one flag per value ({x.size}), but got {flags.size}", path="diverged")
        bad |= flags
    ok = x[~bad]
    std = float(ok.std(ddof=1)) if ok.size > 1 else 0.0
    level = iqm(ok) if ok.size else math.nan
    counts = np.full(x.size, np.nan) if spikes is None else np.asarray(spikes, dtype=np.float64).ravel()
    if counts.shape != x.shape:
        raise UsageError(f"must have one count per value ({x.size}), but got {counts.size}", path="spikes")
    return float(_score(level, std, float(bad.mean()), mode, spread_weight, divergence_penalty,
                        spike_burden(counts[~bad]), spike_weight))


def spike_burden(counts: Sequence[float] | np.ndarray) -> float:
    """Spike episodes per seed plus their spread over seeds: ``mean + std`` (ddof=1) of the finite counts.

    One seed: its count; no finite count: 0 (nothing known, nothing charged).

    Example:
        >>> spike_burden([1, 1, 1]), spike_burden([0, 0, 3]), spike_burden([2.0, float("nan")])
        (1.0, 2.732050807568877, 2.0)
    """
    c = np.asarray(counts, dtype=np.float64).ravel()
    c = c[np.isfinite(c)]
    if not c.size:
        return 0.0
    return float(c.mean() + (c.std(ddof=1) if c.size > 1 else 0.0))


def rank_configs(
    per_run: pd.DataFrame,
    *,
    mode: Mode = "min",
    by: str = "config_id",
    metric: str = "best_metric",
    status: str = "status",
    spikes: str = "spike_count",
    spread_weight: float = 3.0,
    divergence_penalty: float = 3.0,
    spike_weight: float = 0.2,
    diverged_statuses: Sequence[str] = COUNTS_AS_DIVERGED,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Rank configs by ``robust_score`` over their seeds, best first, with every across-seed statistic.

    Args:
        per_run: one row per (config, seed) with columns ``by`` and ``metric``; ``status`` and ``spikes`` are
            used when present (e.g. the trials table merged with ``spike_table`` on config_id and seed).
        mode: whether a lower or higher metric is better.
        spread_weight, divergence_penalty, spike_weight: the score's weights.
        diverged_statuses: statuses that count as diverged (a non-finite metric always does).
        n_boot, confidence, seed: the bootstrap and Wilson interval settings (``stats.seed_summary``).

    Returns:
        One row per config: ``by``, ``rank`` (1 = best), ``score``, the ``stats.SUMMARY_COLUMNS``, ``spike_term``
        (what the seeds' spikes add to the score, in the metric's units; 0 without spike counts) and ``pareto``
        (on the front of IQM against spike variance). Sorted by score (best first), then divergence rate (lower
        first), then spike variance (lower first; unknown last), then ``by`` (ascending): ties never depend on the
        input order.

    Raises:
        UsageError: a missing column, bad mode or weight.
    """
    mode = as_choice(mode, ("min", "max"), "mode", what="mode")  # type: ignore[assignment]
    check_score_weights(spread_weight, divergence_penalty, spike_weight, None)
    summary = summarize_seeds(
        per_run, mode=mode, by=by, metric=metric, status=status, spikes=spikes,
        diverged_statuses=diverged_statuses, n_boot=n_boot, confidence=confidence, seed=seed,
    )
    spread = summary["std"].fillna(0.0).to_numpy()
    burden = _spike_burdens(per_run, by=by, metric=metric, status=status, spikes=spikes,
                            diverged_statuses=diverged_statuses).reindex(summary[by]).fillna(0.0).to_numpy()
    stats = list(zip(summary["iqm"].to_numpy(), spread, summary["divergence_rate"].to_numpy(), burden))
    scores = [_score(q, s, r, mode, spread_weight, divergence_penalty, b, spike_weight) for q, s, r, b in stats]
    summary.insert(1, "score", scores)
    summary["spike_term"] = [_spike_cost(q, s, spread_weight, b, spike_weight) if r < 1 else math.nan
                             for q, s, r, b in stats]
    summary["pareto"] = pareto_front(summary["iqm"].to_numpy(), summary["spike_var"].to_numpy(), mode=mode)
    keys = pd.DataFrame({
        "score": oriented(summary["score"], mode),
        "divergence_rate": summary["divergence_rate"],
        "spike_var": summary["spike_var"].fillna(np.inf),
        "config": summary[by],
    })
    order = keys.sort_values(["score", "divergence_rate", "spike_var", "config"], kind="mergesort").index
    ranked = summary.loc[order].reset_index(drop=True)
    ranked.insert(1, "rank", np.arange(1, len(ranked) + 1))
    return ranked


def pareto_front(
    quality: Sequence[float] | np.ndarray, stability: Sequence[float] | np.ndarray, *, mode: Mode = "min"
) -> np.ndarray:
    """Which points are Pareto-optimal in quality (oriented by ``mode``) and stability (lower is better).

    A point is on the front when no other point is at least as good in both and strictly better in one. Equal
    points are all on the front. Points with a non-finite coordinate are never on it and dominate nothing.

    Returns:
        A boolean array, one entry per point.

    Example:
        >>> pareto_front([1.0, 2.0, 3.0, 1.5], [5.0, 1.0, 0.5, 6.0]).tolist()
        [True, True, True, False]
    """
    mode = as_choice(mode, ("min", "max"), "mode", what="mode")  # type: ignore[assignment]
    q = np.asarray(quality, dtype=np.float64).ravel()
    s = np.asarray(stability, dtype=np.float64).ravel()
    if q.shape != s.shape:
        raise UsageError(f"must have one value per quality value ({q.size}), but got {s.size}", path="stability")
    q = oriented(q, mode)
    out = np.zeros(q.size, dtype=bool)
    valid = np.flatnonzero(np.isfinite(q) & np.isfinite(s))
    if not valid.size:
        return out
    order = valid[np.lexsort((s[valid], q[valid]))]  # by quality, then stability
    qs, ss = q[order], s[order]
    starts = np.flatnonzero(np.r_[True, qs[1:] != qs[:-1]])  # groups of equal quality
    group = np.cumsum(np.r_[True, qs[1:] != qs[:-1]]) - 1
    best_before = np.r_[np.inf, np.minimum.accumulate(ss)[starts[1:] - 1]]  # best stability of better quality
    out[order] = (ss == ss[starts][group]) & (ss < best_before[group])
    return out


def _score(level: float, std: float, rate: float, mode: str, spread_weight: float, penalty: float,
           burden: float = 0.0, spike_weight: float = 0.0) -> float:
    """The score from the non-diverged seeds' IQM, std and spike burden and the divergence rate (module docstring)."""
    if mode == "max":
        return -_score(-level, std, rate, "min", spread_weight, penalty, burden, spike_weight)
    if not rate < 1:
        return math.inf
    spread = spread_weight * std
    odds = rate / (1.0 - rate)
    spikes = _spike_cost(level, std, spread_weight, burden, spike_weight)
    return level + spread + spikes + penalty * odds * max(abs(level) + spread, _LEVEL_FLOOR)


def _spike_cost(level: float, std: float, spread_weight: float, burden: float, spike_weight: float) -> float:
    """The spike term: ``spike_weight * burden`` times the config's level (as the divergence penalty scales)."""
    return spike_weight * burden * max(abs(level) + spread_weight * std, _LEVEL_FLOOR)


def _spike_burdens(per_run: pd.DataFrame, *, by: str, metric: str, status: str, spikes: str,
                   diverged_statuses: Sequence[str]) -> pd.Series:
    """``spike_burden`` of every config's seeds that did not diverge (empty without a ``spikes`` column)."""
    if spikes not in per_run.columns:
        return pd.Series(dtype=np.float64)
    ok = ~run_diverged(per_run, metric=metric, status=status, diverged_statuses=diverged_statuses)
    counts = per_run[spikes].to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.Series({key: spike_burden(counts[idx][ok[idx]])
                      for key, idx in per_run.groupby(by, sort=True).indices.items()}, dtype=np.float64)
