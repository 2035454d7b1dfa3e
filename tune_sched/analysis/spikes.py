"""Loss spikes in one training run: the episodes and the run's spike statistics.

A spike is a value far above the values before it (rules and their settings: ``spike_rules``; the default judges
every value from the third on, in log units against the median and a robust noise scale). Spikes are
grouped into episodes: an episode starts at a spike, its pre-spike level is a fast EMA of the series just before
it, and it ends at the first later value that is no spike and where the EMA is back within ``recovery_tol``
(default 10 %) of the pre-spike level. An episode still open when the series ends is unrecovered.

NaN and inf values are never spikes and never enter a window statistic (the EMA treats one as a repeat of the last
finite value); they are counted in ``run_spike_stats`` (``n_nonfinite``, ``first_nonfinite``) and make the run
``diverged``.

Example:
    >>> import numpy as np
    >>> loss = np.r_[np.full(40, 1.0) + 0.01 * np.sin(np.arange(40)), 5.0, np.full(20, 1.0)]
    >>> [(e.start, e.peak, e.recovered) for e in detect_spikes(loss)]
    [(40, 40, True)]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tune_sched.analysis._curves import curve_summary
from tune_sched.analysis._episodes import RUN_STAT_COLUMNS, EpisodeColumns, find_episodes, run_statistics
from tune_sched.analysis.spike_rules import SpikeRule, effective_window, make_rule
from tune_sched.core.checks import as_choice
from tune_sched.core.errors import UsageError
from tune_sched.core.words import Mode

__all__ = ["Episode", "detect_spikes", "run_spike_stats"]


@dataclass(frozen=True)
class Episode:
    """One loss-spike episode; indices are positions in the series.

    Attributes:
        start: index of the first spike.
        peak: index of the largest finite value in ``[start, end)`` (the first one on ties).
        peak_value: the value at ``peak``.
        peak_ratio: ``peak_value / pre_level``; NaN when the pre-spike level is not positive.
        pre_level: the fast EMA of the series just before ``start``.
        end: first index after the episode (the recovery point), or the series' length if unrecovered.
        recovery_steps: ``end - peak`` for a recovered episode, else None.
        recovered: whether the EMA came back within ``recovery_tol`` of ``pre_level`` before the series ended.
    """

    start: int
    peak: int
    peak_value: float
    peak_ratio: float
    pre_level: float
    end: int
    recovery_steps: int | None
    recovered: bool


def detect_spikes(values: Sequence[float] | np.ndarray, **rule: Any) -> list[Episode]:
    """The spike episodes of one loss series (per step or per epoch), in order.

    Args:
        values: the series; NaN and inf are allowed (skipped, never spikes).
        **rule: spike-rule settings: ``rule`` (``"robust"``, ``"zscore"`` or ``"median_ratio"``), ``window``,
            ``k`` (robust, zscore), ``min_ratio`` (robust), ``threshold`` (median_ratio), ``ema_alpha``,
            ``recovery_tol``; or ``rule=SpikeRule(...)``. Defaults: robust with window 128 (at most n // 4, at
            least 8), k = 6 and min_ratio = 2.

    Returns:
        The episodes; empty for an empty series or one of two values (robust), or one with fewer than
        ``W // 2 + 1`` values (zscore, median_ratio).

    Raises:
        UsageError: unknown rule or setting, a value out of range, or ``values`` not one-dimensional.
    """
    resolved = make_rule(**rule)
    x = _series(values)
    return _to_episodes(_episodes(x, resolved))


def run_spike_stats(
    values: Sequence[float] | np.ndarray,
    val_values: Sequence[float] | np.ndarray | None = None,
    *,
    mode: Mode = "min",
    **rule: Any,
) -> dict[str, Any]:
    """Spike and validation statistics of one run, the same as a row of ``spike_table``.

    Args:
        values: the training loss series (per step).
        val_values: the validation metric per epoch, or None to leave the validation entries out.
        mode: whether a lower (``"min"``) or higher (``"max"``) validation metric is better.
        **rule: spike-rule settings, as for ``detect_spikes``.

    Returns:
        ``n_values``, ``n_nonfinite``, ``first_nonfinite`` (None if all finite), ``spike_count`` (episodes),
        ``spike_rate`` (episodes per 1,000 finite values), ``max_peak_ratio``, ``mean_recovery`` (steps, over
        recovered episodes), ``frac_in_episodes``, ``unrecovered``, ``diverged`` (a NaN/inf value or an
        unrecovered episode); with ``val_values`` also ``best_val``, ``final_val`` (NaN if the last value is not
        finite) and ``val_auc`` (mean height of the curve, see ``curve_summary``). Undefined means are NaN.
    """
    mode = as_choice(mode, ("min", "max"), "mode", what="mode")  # type: ignore[assignment]
    resolved = make_rule(**rule)
    x = _series(values)
    stats = run_statistics(x[None, :], np.array([x.size]), _episodes(x, resolved))
    out: dict[str, Any] = {name: _scalar(stats[name][0]) for name in RUN_STAT_COLUMNS}
    if out["first_nonfinite"] == -1:
        out["first_nonfinite"] = None
    if val_values is not None:
        v = _series(val_values, path="val_values")
        out.update({k: float(a[0]) for k, a in curve_summary(v[None, :], np.array([v.size]), mode=mode).items()})
    return out


def _to_episodes(columns: EpisodeColumns, run: int | None = None) -> list[Episode]:
    """``Episode`` objects from the engine's columns (all of them, or those of one batch row ``run``)."""
    rows = range(columns.run.size) if run is None else np.flatnonzero(columns.run == run).tolist()
    return [
        Episode(
            start=int(columns.start[i]),
            peak=int(columns.peak[i]),
            peak_value=float(columns.peak_value[i]),
            peak_ratio=float(columns.peak_ratio[i]),
            pre_level=float(columns.pre_level[i]),
            end=int(columns.end[i]),
            recovery_steps=int(columns.end[i] - columns.peak[i]) if columns.recovered[i] else None,
            recovered=bool(columns.recovered[i]),
        )
        for i in rows
    ]


def _episodes(x: np.ndarray, rule: SpikeRule) -> EpisodeColumns:
    return find_episodes(x[None, :], np.array([x.size]), rule, effective_window(x.size, rule.window))


def _series(values: Any, path: str = "values") -> np.ndarray:
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise UsageError(f"must be one-dimensional, but got shape {x.shape}", path=path, fix="pass one run's series")
    return x


def _scalar(value: Any) -> Any:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    return float(value)
