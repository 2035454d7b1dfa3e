"""The spike engine: episodes and per-run spike statistics for a batch of series, vectorised over runs.

``detect_spikes`` runs it on a batch of one series and ``spike_table`` on padded batches of many, so both give the
same episodes by construction (each row is computed with the same operations whatever the other rows are).

An episode starts at a spike outside any earlier episode. Its pre-spike level is the fast EMA just before the
start; it ends (exclusive) at the first later value that is not a spike and where the EMA is back within
``recovery_tol`` of that level (``ema <= pre + recovery_tol * |pre|``). Spikes before that belong to the episode.
An episode still open at the end of the series is unrecovered and ends at the series' length. The peak is the
largest finite value inside the episode (the first one on ties).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tune_sched.analysis._rolling import trailing_ema
from tune_sched.analysis.spike_rules import SpikeRule, spike_flags

__all__ = ["EpisodeColumns", "RUN_STAT_COLUMNS", "find_episodes", "run_statistics"]

RUN_STAT_COLUMNS = (
    "n_values", "n_nonfinite", "first_nonfinite", "spike_count", "spike_rate", "max_peak_ratio", "mean_recovery",
    "frac_in_episodes", "unrecovered", "diverged",
)
_FIRST_CHUNK = 32  # columns looked at per run when searching for a recovery; doubles while none is found


@dataclass(frozen=True)
class EpisodeColumns:
    """Episodes of a batch as parallel arrays, sorted by (run, start); ``run`` is the row in the batch."""

    run: np.ndarray
    start: np.ndarray
    peak: np.ndarray
    peak_value: np.ndarray
    peak_ratio: np.ndarray
    pre_level: np.ndarray
    end: np.ndarray
    recovered: np.ndarray

    @property
    def recovery_steps(self) -> np.ndarray:
        """Steps from the peak to the recovery (``end - peak``); meaningful where ``recovered``."""
        return self.end - self.peak


def find_episodes(x: np.ndarray, lengths: np.ndarray, rule: SpikeRule, window: int) -> EpisodeColumns:
    """All spike episodes of a batch ``x`` (runs x steps, NaN-padded beyond each run's length).

    Args:
        x: float array of shape (runs, steps); row ``r`` holds a series of ``lengths[r]`` values.
        lengths: int array, the number of real values per row.
        rule: validated spike rule.
        window: the effective trailing window (the same for every row of the batch).
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    lengths = np.asarray(lengths, dtype=np.int64)
    flags = spike_flags(x, rule, window)
    ema = trailing_ema(x, rule.ema_alpha)
    ncols = x.shape[1]
    spikes = np.flatnonzero(flags)  # sorted flat positions row * ncols + column

    found: list[tuple[np.ndarray, ...]] = []
    rows = np.unique(spikes // ncols) if spikes.size else np.zeros(0, np.int64)
    pos = np.zeros(rows.size, np.int64)
    while rows.size:
        k = np.searchsorted(spikes, rows * ncols + pos)
        has_next = k < spikes.size
        has_next[has_next] = spikes[k[has_next]] < (rows[has_next] + 1) * ncols
        rows, k = rows[has_next], k[has_next]
        start = spikes[k] - rows * ncols
        pre = ema[rows, start - 1]
        end = _first_recovery(flags, ema, rows, start, pre + rule.recovery_tol * np.abs(pre), lengths[rows])
        recovered = end < lengths[rows]
        found.append((rows, start, end, pre, recovered))
        rows, pos = rows[recovered], end[recovered]

    if not found:
        empty_i, empty_f = np.zeros(0, np.int64), np.zeros(0)
        return EpisodeColumns(empty_i, empty_i, empty_i, empty_f, empty_f, empty_f, empty_i, np.zeros(0, bool))
    run, start, end, pre, recovered = (np.concatenate(parts) for parts in zip(*found))
    order = np.lexsort((start, run))
    run, start, end, pre, recovered = run[order], start[order], end[order], pre[order], recovered[order]
    peak, peak_value = _peaks(x, run, start, end)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(pre > 0, peak_value / pre, np.nan)
    return EpisodeColumns(run, start, peak, peak_value, ratio, pre, end, recovered)


def _first_recovery(
    flags: np.ndarray, ema: np.ndarray, rows: np.ndarray, start: np.ndarray, limit: np.ndarray, length: np.ndarray
) -> np.ndarray:
    """Per episode: the first column after ``start`` (below ``length``) that is no spike and has ``ema <= limit``.

    Looks at growing chunks of columns so that the usual short recovery costs a few dozen reads, not a whole row;
    returns ``length`` where there is none.
    """
    ncols = flags.shape[1]
    end = length.copy()
    lo = start + 1
    todo = np.arange(rows.size)
    size = _FIRST_CHUNK
    while todo.size:
        cols = lo[todo, None] + np.arange(size)
        inside = cols < length[todo, None]
        r, c = rows[todo, None], np.minimum(cols, ncols - 1)
        ok = inside & ~flags[r, c] & (ema[r, c] <= limit[todo, None])
        hit = ok.any(axis=1)
        end[todo[hit]] = cols[hit, np.argmax(ok[hit], axis=1)]
        more = ~hit & (lo[todo] + size < length[todo])
        lo[todo[more]] += size
        todo = todo[more]
        size *= 2
    return end


def _peaks(x: np.ndarray, run: np.ndarray, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index and value of the largest finite value in each ``x[run, start:end]`` (first on ties)."""
    lens = end - start
    offsets = np.cumsum(lens) - lens
    flat = np.repeat(run * x.shape[1] + start - offsets, lens) + np.arange(lens.sum())
    values = x.ravel()[flat]
    values = np.where(np.isfinite(values), values, -np.inf)
    top = np.maximum.reduceat(values, offsets)
    hits = np.flatnonzero(values == np.repeat(top, lens))
    first = hits[np.searchsorted(hits, offsets)]
    return start + (first - offsets), top


def run_statistics(x: np.ndarray, lengths: np.ndarray, episodes: EpisodeColumns) -> dict[str, np.ndarray]:
    """Per-row spike statistics of a batch (one array per name in ``RUN_STAT_COLUMNS``).

    - ``n_values``: the series' length; ``n_nonfinite``: its NaN/inf values; ``first_nonfinite``: index of the first
      one (-1 when there is none).
    - ``spike_count``: episodes; ``spike_rate``: episodes per 1,000 finite values (NaN without finite values).
    - ``max_peak_ratio``: largest peak / pre-spike level (NaN without episodes or positive levels).
    - ``mean_recovery``: mean ``recovery_steps`` over recovered episodes (NaN when none recovered).
    - ``frac_in_episodes``: fraction of the series' values inside an episode.
    - ``unrecovered``: an episode never recovered; ``diverged``: a non-finite value or an unrecovered episode.
    """
    rows, ncols = x.shape
    lengths = np.asarray(lengths, dtype=np.int64)
    bad = ~np.isfinite(x) & (np.arange(ncols) < lengths[:, None])
    n_nonfinite = bad.sum(axis=1)
    first_nonfinite = np.where(n_nonfinite > 0, np.argmax(bad, axis=1), -1) if ncols else np.full(rows, -1)
    n_finite = lengths - n_nonfinite
    run, rec = episodes.run, episodes.recovered
    count = np.bincount(run, minlength=rows)
    max_ratio = np.full(rows, np.nan)
    np.fmax.at(max_ratio, run, episodes.peak_ratio)
    n_rec = np.bincount(run[rec], minlength=rows)
    rec_sum = np.bincount(run[rec], weights=episodes.recovery_steps[rec], minlength=rows)
    inside = np.bincount(run, weights=episodes.end - episodes.start, minlength=rows)
    unrecovered = np.bincount(run[~rec], minlength=rows) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "n_values": lengths,
            "n_nonfinite": n_nonfinite,
            "first_nonfinite": first_nonfinite,
            "spike_count": count,
            "spike_rate": np.where(n_finite > 0, 1000.0 * count / n_finite, np.nan),
            "max_peak_ratio": max_ratio,
            "mean_recovery": np.where(n_rec > 0, rec_sum / n_rec, np.nan),
            "frac_in_episodes": np.where(lengths > 0, inside / lengths, np.nan),
            "unrecovered": unrecovered,
            "diverged": (n_nonfinite > 0) | unrecovered,
        }
