"""A long results table (one row per run and step) as one series per run, delivered in padded 2-D batches.

Reads only the columns it needs (from a Parquet path, a ``pyarrow.Table`` or a ``pandas.DataFrame``), orders the
rows by run and then by the order column (skipping the sort when the table is already ordered, as the trial runner
writes it), and hands out batches of runs with the same trailing window as 2-D arrays padded with NaN.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tune_sched.errors import UsageError, unknown_name

__all__ = ["Batch", "RunSeries", "batches", "run_series"]

_BATCH_CELLS = 1 << 20  # values per batch: keeps the temporaries of the rolling statistics in cache-sized pieces


@dataclass(frozen=True)
class RunSeries:
    """Every run's series: ``values[offsets[r] : offsets[r] + lengths[r]]`` is run ``r`` (``keys.iloc[r]``)."""

    keys: pd.DataFrame
    values: np.ndarray
    offsets: np.ndarray
    lengths: np.ndarray


@dataclass(frozen=True)
class Batch:
    """Runs ``runs`` (indices into ``RunSeries.keys``) as rows of ``x``, NaN-padded beyond ``lengths``."""

    runs: np.ndarray
    x: np.ndarray
    lengths: np.ndarray
    window: int


def run_series(source: Any, *, by: Sequence[str], value: str, order: str | None, what: str) -> RunSeries:
    """Read ``by``, ``order`` and ``value`` from ``source`` and group the values into one ordered series per run.

    Args:
        source: Parquet file path, ``pyarrow.Table`` or ``pandas.DataFrame``.
        by: columns naming a run (e.g. ``("config_id", "seed")``); the runs come out sorted by them.
        value: the float column to analyse (null counts as NaN).
        order: the column that orders a run's rows (``"step"``, ``"epoch"``); ``None`` keeps the table's order.
        what: the table's name for error messages (``"steps"``).

    Raises:
        UsageError: a missing column (listing the available ones), missing run keys, or two rows with the same
            run and order value.
    """
    by = [by] if isinstance(by, str) else list(by)
    if not by:
        raise UsageError("must name at least one column", path="by", fix="use e.g. by=('config_id', 'seed')")
    wanted = [*by, *([order] if order else []), value]
    columns = _read_columns(source, wanted, what, keys=by)
    codes = _run_codes([columns[c] for c in by], by, what)
    ranks = np.asarray(columns[order], dtype=np.int64) if order else np.zeros(codes.size, np.int64)
    values = np.asarray(columns[value], dtype=np.float64)
    rows = None  # row positions in the source when it had to be sorted
    if not _is_ordered(codes, ranks, strict=order is not None):
        rows = np.lexsort((ranks, codes)) if order else np.argsort(codes, kind="stable")
        codes, ranks, values = codes[rows], ranks[rows], values[rows]
    if order and codes.size > 1:
        same = (codes[1:] == codes[:-1]) & (ranks[1:] == ranks[:-1])
        if same.any():
            i = int(np.argmax(same))
            raise UsageError(
                f"{what} table has two rows for {order} {ranks[i]} of the same run", path=f"{what}.{order}",
                fix=f"keep one row per ({', '.join(by)}, {order})",
            )
    offsets = np.concatenate([[0], np.flatnonzero(np.diff(codes)) + 1]).astype(np.int64) if codes.size else codes
    lengths = np.diff(np.append(offsets, codes.size))
    firsts = offsets if rows is None else rows[offsets]
    keys = pd.DataFrame({c: _take(columns[c], firsts) for c in by})
    return RunSeries(keys=keys, values=values, offsets=offsets, lengths=lengths)


def batches(series: RunSeries, window_for: Callable[[int], int]) -> Iterator[Batch]:
    """Batches of runs sharing the same window ``window_for(length)``, each at most about 1M values."""
    windows = np.array([window_for(int(n)) for n in np.unique(series.lengths)])
    by_length = dict(zip(np.unique(series.lengths).tolist(), windows.tolist()))
    run_windows = np.array([by_length[n] for n in series.lengths.tolist()], dtype=np.int64)
    for window in np.unique(run_windows).tolist():
        runs = np.flatnonzero(run_windows == window)
        start = 0
        while start < runs.size:
            width = max(int(series.lengths[runs[start]]), 1)
            stop = min(runs.size, start + max(1, _BATCH_CELLS // width))
            chosen = runs[start:stop]
            yield Batch(chosen, _padded(series, chosen), series.lengths[chosen], window)
            start = stop


def _padded(series: RunSeries, runs: np.ndarray) -> np.ndarray:
    lengths = series.lengths[runs]
    width = int(lengths.max()) if runs.size else 0
    contiguous = runs.size and runs[-1] - runs[0] == runs.size - 1
    if contiguous and (lengths == width).all():
        first = series.offsets[runs[0]]
        return series.values[first : first + width * runs.size].reshape(runs.size, width)
    out = np.full((runs.size, width), np.nan)
    within = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    out[np.repeat(np.arange(runs.size), lengths), within] = series.values[np.repeat(series.offsets[runs], lengths) + within]
    return out


def _read_columns(source: Any, wanted: list[str], what: str, *, keys: list[str]) -> dict[str, Any]:
    """The wanted columns as numpy arrays or pandas Series, reading nothing else from a file.

    String ``keys`` columns are read from Parquet as dictionaries (categoricals): no Python string per row.
    """
    import pyarrow as pa

    if isinstance(source, pd.DataFrame):
        _check_columns(list(source.columns), wanted, what)
        return {c: _pandas_column(source[c]) for c in dict.fromkeys(wanted)}
    if isinstance(source, (str, Path)):
        import pyarrow.parquet as pq

        schema = pq.read_schema(source)
        _check_columns(schema.names, wanted, what)
        text = [k for k in keys if pa.types.is_string(schema.field(k).type) or pa.types.is_large_string(schema.field(k).type)]
        source = pq.read_table(source, columns=list(dict.fromkeys(wanted)), read_dictionary=text or None)
    if not isinstance(source, pa.Table):
        raise UsageError(
            f"{what} must be a Parquet path, a pyarrow.Table or a pandas.DataFrame, but got {type(source).__name__}",
            path=what,
        )
    _check_columns(source.column_names, wanted, what)
    return {c: _arrow_column(source.column(c)) for c in dict.fromkeys(wanted)}


def _check_columns(names: list[str], wanted: list[str], what: str) -> None:
    for name in wanted:
        if name not in names:
            raise unknown_name(f"column of the {what} table", name, names, path=what)


def _arrow_column(column: Any) -> Any:
    import pyarrow as pa

    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        if column.null_count and pa.types.is_integer(column.type):
            return column.to_pandas()  # float with NaN: caught as missing keys or NaN values
        return column.to_numpy()
    return column.to_pandas()


def _pandas_column(column: pd.Series) -> Any:
    if pd.api.types.is_integer_dtype(column.dtype) and not column.hasnans:
        return column.to_numpy(dtype=np.int64)
    if pd.api.types.is_float_dtype(column.dtype):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    return column


def _run_codes(columns: list[Any], by: list[str], what: str) -> np.ndarray:
    """One int64 code per row whose order is the lexicographic order of the rows' ``by`` values."""
    codes = np.zeros(len(columns[0]), np.int64)
    for name, column in zip(by, columns):
        c, u = pd.factorize(column, sort=True)
        if (c < 0).any():
            raise UsageError(f"{what} table has rows without a {name}", path=f"{what}.{name}", fix="fill in every run key")
        if codes.size and int(codes.max()) >= (1 << 62) // max(len(u), 1):
            codes = pd.factorize(codes, sort=True)[0]  # compact before mixing in the next column
        codes = codes * len(u) + c
    return codes


def _take(column: Any, rows: np.ndarray) -> Any:
    return column.iloc[rows].to_numpy() if isinstance(column, pd.Series) else column[rows]


def _is_ordered(codes: np.ndarray, ranks: np.ndarray, *, strict: bool) -> bool:
    if codes.size < 2:
        return True
    step = np.diff(codes)
    if (step < 0).any():
        return False
    if not strict:
        return True
    within = step == 0
    return bool((ranks[1:][within] >= ranks[:-1][within]).all())
