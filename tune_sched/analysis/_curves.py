"""Validation-curve summaries per run: best value, final value and area under the curve, on a padded batch."""

from __future__ import annotations

import numpy as np

from tune_sched.core.words import Mode

__all__ = ["CURVE_COLUMNS", "curve_summary"]

CURVE_COLUMNS = ("best_val", "final_val", "val_auc")


def curve_summary(x: np.ndarray, lengths: np.ndarray, *, mode: Mode) -> dict[str, np.ndarray]:
    """Per row of ``x`` (runs x epochs, NaN-padded beyond ``lengths``): best, final and area under the curve.

    - ``best_val``: the best finite value (smallest for ``mode="min"``, largest for ``"max"``); NaN if none.
    - ``final_val``: the last value of the run, NaN if it is not finite (a run that ended diverged).
    - ``val_auc``: trapezoidal area under the finite points (at their positions in epoch order) divided by the
      distance from the first to the last finite point, i.e. the curve's mean height, comparable across run
      lengths; the value itself for a single finite point; NaN for none.
    """
    x = np.asarray(x, dtype=np.float64)
    lengths = np.asarray(lengths, dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _summary(x, lengths, mode)


def _summary(x: np.ndarray, lengths: np.ndarray, mode: str) -> dict[str, np.ndarray]:
    rows, ncols = x.shape
    finite = np.isfinite(x) & (np.arange(ncols) < lengths[:, None])
    any_finite = finite.any(axis=1)
    if mode == "min":
        best = np.where(finite, x, np.inf).min(axis=1, initial=np.inf)
    else:
        best = np.where(finite, x, -np.inf).max(axis=1, initial=-np.inf)
    last = np.clip(lengths - 1, 0, max(ncols - 1, 0))
    final = x[np.arange(rows), last] if ncols else np.full(rows, np.nan)
    final = np.where((lengths > 0) & np.isfinite(final), final, np.nan)

    positions = np.where(finite, np.arange(ncols), -1)
    latest = np.maximum.accumulate(positions, axis=1) if ncols else positions
    previous = np.full_like(latest, -1)
    previous[:, 1:] = latest[:, :-1]
    pairs = finite & (previous >= 0)
    safe_prev = np.maximum(previous, 0)
    heights = (x + np.take_along_axis(x, safe_prev, axis=1)) / 2.0
    area = np.where(pairs, heights * (np.arange(ncols) - previous), 0.0).sum(axis=1)
    first = np.argmax(finite, axis=1)
    span = (latest[:, -1] - first) if ncols else np.zeros(rows, np.int64)
    auc = np.where(span > 0, area / np.maximum(span, 1), x[np.arange(rows), first] if ncols else np.nan)
    return {
        "best_val": np.where(any_finite, best, np.nan),
        "final_val": final,
        "val_auc": np.where(any_finite, auc, np.nan),
    }
