"""Spike statistics and episodes for every run of an experiment at once, vectorised over runs.

The same rule and engine as ``detect_spikes`` / ``run_spike_stats`` (so the same episodes and numbers per run),
applied to padded 2-D batches of runs instead of one series at a time: 10 million steps (2,000 runs x 5,000
steps) take a few seconds on two cores. Only the needed Parquet columns are read.

Example:
    >>> import pandas as pd
    >>> loss = [1.0] * 40 + [9.0] + [1.0] * 19
    >>> steps = pd.DataFrame({"config_id": "a", "seed": 0, "step": range(60), "train_loss": loss})
    >>> spike_table(steps)[["config_id", "seed", "spike_count", "diverged"]].to_dict("records")
    [{'config_id': 'a', 'seed': 0, 'spike_count': 1, 'diverged': False}]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tune_sched.analysis._curves import CURVE_COLUMNS, curve_summary
from tune_sched.analysis._episodes import RUN_STAT_COLUMNS, EpisodeColumns, find_episodes, run_statistics
from tune_sched.analysis._series import batches, run_series
from tune_sched.analysis.spike_rules import effective_window, make_rule
from tune_sched.core.checks import as_choice
from tune_sched.core.words import Mode

__all__ = ["EPISODE_COLUMNS", "SpikeAnalysis", "spike_analysis", "spike_episodes", "spike_table"]

EPISODE_COLUMNS = ("start", "peak", "peak_value", "peak_ratio", "pre_level", "end", "recovery_steps", "recovered")

_STAT_DTYPES = {
    "n_values": np.int64, "n_nonfinite": np.int64, "first_nonfinite": np.int64, "spike_count": np.int64,
    "spike_rate": np.float64, "max_peak_ratio": np.float64, "mean_recovery": np.float64,
    "frac_in_episodes": np.float64, "unrecovered": bool, "diverged": bool,
}


@dataclass(frozen=True)
class SpikeAnalysis:
    """``runs``: one row per run (``spike_table``); ``episodes``: one row per episode (``spike_episodes``)."""

    runs: pd.DataFrame
    episodes: pd.DataFrame


def spike_analysis(
    steps: Any,
    *,
    by: Sequence[str] = ("config_id", "seed"),
    value: str = "train_loss",
    step: str | None = "step",
    epochs: Any = None,
    val_value: str = "val_loss",
    epoch: str | None = "epoch",
    mode: Mode = "min",
    **rule: Any,
) -> SpikeAnalysis:
    """Per-run spike statistics and all episodes of a steps table (and validation summaries from an epochs table).

    Args:
        steps: the steps table: a Parquet path, a ``pyarrow.Table`` or a ``pandas.DataFrame``; only ``by``,
            ``step`` and ``value`` are read.
        by: the columns naming a run; the output is sorted by them.
        value: the series to analyse (NaN, inf and null values are skipped and counted).
        step: the column ordering a run's rows (None: the table's order); episode indices are positions in that
            order (equal to the step when steps are 0, 1, 2, ...).
        epochs: optional epochs table (same kinds as ``steps``) for ``best_val``, ``final_val`` and ``val_auc``
            of ``val_value`` ordered by ``epoch``; runs in only one of the tables get NaN for the other's columns.
        mode: whether a lower or higher validation metric is better.
        **rule: spike-rule settings, as for ``detect_spikes``.

    Returns:
        ``runs``: the ``by`` columns then the keys of ``run_spike_stats`` (``first_nonfinite`` as nullable Int64);
        ``episodes``: the ``by`` columns then the ``Episode`` fields (``recovery_steps`` nullable Int64).

    Raises:
        UsageError: bad rule settings or mode, a missing column (listing the available ones), missing run keys,
            or a repeated step within a run.
    """
    mode = as_choice(mode, ("min", "max"), "mode", what="mode")  # type: ignore[assignment]
    resolved = make_rule(**rule)
    series = run_series(steps, by=by, value=value, order=step, what="steps")
    n_runs = len(series.keys)
    stats = {name: np.zeros(n_runs, dtype=_STAT_DTYPES[name]) for name in RUN_STAT_COLUMNS}
    parts = []
    for batch in batches(series, lambda n: effective_window(n, resolved.window)):
        found = find_episodes(batch.x, batch.lengths, resolved, batch.window)
        for name, column in run_statistics(batch.x, batch.lengths, found).items():
            stats[name][batch.runs] = column
        parts.append((batch.runs[found.run], found))

    runs = pd.concat([series.keys, pd.DataFrame(stats)], axis=1)
    runs["first_nonfinite"] = pd.array(np.where(stats["first_nonfinite"] < 0, None, stats["first_nonfinite"]), "Int64")
    if epochs is not None:
        runs = _with_validation(runs, list(series.keys.columns), epochs, val_value, epoch, mode)
    return SpikeAnalysis(runs=runs, episodes=_episode_frame(series.keys, parts))


def spike_table(steps: Any, **options: Any) -> pd.DataFrame:
    """One row per run with its spike statistics; see ``spike_analysis`` for the options and columns."""
    return spike_analysis(steps, **options).runs


def spike_episodes(steps: Any, **options: Any) -> pd.DataFrame:
    """One row per spike episode of every run; see ``spike_analysis`` for the options and columns."""
    return spike_analysis(steps, **options).episodes


def _episode_frame(keys: pd.DataFrame, parts: list[tuple[np.ndarray, EpisodeColumns]]) -> pd.DataFrame:
    """One row per episode: the run's keys, then the episode fields; sorted by run, then start."""
    runs = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)

    def column(name: str) -> np.ndarray:
        return np.concatenate([getattr(p[1], name) for p in parts]) if parts else np.zeros(0)

    recovered = column("recovered").astype(bool)
    steps = column("end") - column("peak")
    data = {
        "start": column("start").astype(np.int64),
        "peak": column("peak").astype(np.int64),
        "peak_value": column("peak_value"),
        "peak_ratio": column("peak_ratio"),
        "pre_level": column("pre_level"),
        "end": column("end").astype(np.int64),
        "recovery_steps": pd.array(np.where(recovered, steps, None), "Int64"),
        "recovered": recovered,
    }
    frame = pd.concat([keys.iloc[runs].reset_index(drop=True), pd.DataFrame(data)], axis=1)
    order = np.lexsort((frame["start"].to_numpy(), runs))
    return frame.iloc[order].reset_index(drop=True)


def _with_validation(
    runs: pd.DataFrame, by: list[str], epochs: Any, val_value: str, epoch: str | None, mode: str
) -> pd.DataFrame:
    series = run_series(epochs, by=by, value=val_value, order=epoch, what="epochs")
    summary = {name: np.full(len(series.keys), np.nan) for name in CURVE_COLUMNS}
    for batch in batches(series, lambda n: 1):
        for name, column in curve_summary(batch.x, batch.lengths, mode=mode).items():  # type: ignore[arg-type]
            summary[name][batch.runs] = column
    val = pd.concat([series.keys, pd.DataFrame(summary)], axis=1)
    return runs.merge(val, on=by, how="outer", sort=True)
