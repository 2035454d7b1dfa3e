"""A long results table (one row per run and step) as one series per run, delivered in padded 2-D batches.

Reads only the columns it needs (from a Parquet path, a ``pyarrow.Table`` or a ``pandas.DataFrame``), orders the
rows by run and then by the order column (skipping the sort when each run's rows already form one ordered block,
as gathering per-trial files gives), and hands out batches of runs with the same trailing window as 2-D arrays
padded with NaN.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tune_sched.core.errors import UsageError, unknown_name

__all__ = ["Batch", "RunSeries", "batches", "run_series"]

_BATCH_CELLS = 1 << 20  # values per batch: keeps the temporaries of the rolling statistics small
_MAX_CODE = 1 << 62


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
        value: the numeric column to analyse (null counts as NaN).
        order: the integer column that orders a run's rows (``"step"``, ``"epoch"``); None keeps the table's order.
        what: the table's name for error messages (``"steps"``).

    Raises:
        UsageError: a missing column (listing the available ones), missing run keys or order values, or two rows
            with the same run and order value.
    """
    by = [by] if isinstance(by, str) else list(by)
    if not by:
        raise UsageError("must name at least one column", path="by", fix="use e.g. by=('config_id', 'seed')")
    columns = _read_columns(source, [*by, *([order] if order else []), value], what, keys=by)
    codes = np.zeros(len(columns[value]), np.int64)
    radix_product, decoders = 1, []
    for name in by:
        key, radix, decode = _key_codes(columns[name], f"{what}.{name}")
        if radix_product * radix >= _MAX_CODE:  # compact before mixing in the next column
            codes = pd.factorize(codes, sort=True)[0]
            radix_product = int(codes.max()) + 1
        codes = codes * radix + key
        radix_product *= radix
        decoders.append(decode)
    ranks = _integers(columns[order], f"{what}.{order}") if order else np.zeros(codes.size, np.int64)
    values = _floats(columns[value])

    starts = np.flatnonzero(np.diff(codes, prepend=-1))  # where a block of equal run codes begins
    rows = None  # positions in the source, when it had to be sorted
    if not _is_grouped(codes, ranks, starts):
        rows = np.lexsort((ranks, codes)) if order else np.argsort(codes, kind="stable")
        codes, ranks, values = codes[rows], ranks[rows], values[rows]
        starts = np.flatnonzero(np.diff(codes, prepend=-1))
    if order and codes.size > 1:
        same = (np.diff(codes) == 0) & (np.diff(ranks) == 0)
        if same.any():
            raise UsageError(
                f"two rows of the same run have {order} {ranks[int(np.argmax(same))]}", path=f"{what}.{order}",
                fix=f"keep one row per ({', '.join(by)}, {order})",
            )
    lengths = np.diff(np.append(starts, codes.size))
    by_key = np.argsort(codes[starts], kind="stable")  # grouped tables may hold their runs in any order
    offsets, lengths = starts[by_key].astype(np.int64), lengths[by_key]
    firsts = offsets if rows is None else rows[offsets]
    keys = pd.DataFrame({name: decode(firsts) for name, decode in zip(by, decoders)})
    return RunSeries(keys=keys, values=values, offsets=offsets, lengths=lengths)


def batches(series: RunSeries, window_for: Callable[[int], int]) -> Iterator[Batch]:
    """Batches of runs sharing the same window ``window_for(length)``, each of about 1M values at most."""
    distinct, inverse = np.unique(series.lengths, return_inverse=True)
    run_windows = np.array([window_for(int(n)) for n in distinct], dtype=np.int64)[inverse]
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
    offsets = series.offsets[runs]
    if runs.size and (lengths == width).all() and (np.diff(offsets) == width).all():
        first = offsets[0]  # equal lengths, one after the other in memory: a view, no copy
        return series.values[first : first + width * runs.size].reshape(runs.size, width)
    out = np.full((runs.size, width), np.nan)
    within = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    source = np.repeat(series.offsets[runs], lengths) + within
    out[np.repeat(np.arange(runs.size), lengths), within] = series.values[source]
    return out


def _read_columns(source: Any, wanted: list[str], what: str, *, keys: list[str]) -> dict[str, Any]:
    """The wanted columns (pyarrow ChunkedArrays, or pandas Series for a DataFrame), reading nothing else.

    String ``keys`` columns are read from Parquet as dictionaries: no Python string per row.
    """
    # lazy: heavy
    import pyarrow as pa

    wanted = list(dict.fromkeys(wanted))
    if isinstance(source, pd.DataFrame):
        _check_columns(list(source.columns), wanted, what)
        return {c: source[c] for c in wanted}
    if isinstance(source, (str, Path)):
        # lazy: heavy
        import pyarrow.parquet as pq

        schema = pq.read_schema(source)
        _check_columns(schema.names, wanted, what)
        text = [k for k in keys if pa.types.is_string(schema.field(k).type) or pa.types.is_large_string(
            schema.field(k).type)]
        source = pq.read_table(source, columns=wanted, read_dictionary=text or None)
    if not isinstance(source, pa.Table):
        raise UsageError(
            f"must be a Parquet path, a pyarrow.Table or a pandas.DataFrame, but got {type(source).__name__}", path=what
        )
    _check_columns(source.column_names, wanted, what)
    return {c: source.column(c) for c in wanted}


def _check_columns(names: list[str], wanted: list[str], what: str) -> None:
    for name in wanted:
        if name not in names:
            raise unknown_name(f"column of the {what} table", name, names, path=what)


def _key_codes(column: Any, path: str) -> tuple[np.ndarray, int, Callable[[np.ndarray], np.ndarray]]:
    """Integer codes ordered like the column's values, their number of possible values, and a decoder.

    The decoder gives the key values at row positions. Dictionary and small-range integer columns need no hashing.
    """
    # lazy: heavy
    import pyarrow as pa

    if column.null_count if isinstance(column, pa.ChunkedArray) else column.isna().any():
        raise UsageError("has missing values", path=path, fix="every row needs its run key")
    if isinstance(column, pa.ChunkedArray):
        if pa.types.is_dictionary(column.type):
            array = column.combine_chunks()
            indices = array.indices.to_numpy()
            words = array.dictionary.to_numpy(zero_copy_only=False)
            rank = np.empty(len(words), np.int64)
            rank[np.argsort(words, kind="stable")] = np.arange(len(words))
            return rank[indices], len(words), lambda rows: words[indices[rows]]
        column = column.to_numpy() if pa.types.is_integer(column.type) else column.to_pandas()
    elif pd.api.types.is_integer_dtype(column.dtype):
        column = column.to_numpy(dtype=np.int64)
    if isinstance(column, np.ndarray) and column.dtype.kind in "iu" and column.size:
        low, high = int(column.min()), int(column.max())
        if high - low < max(1 << 20, 4 * column.size):
            return column.astype(np.int64) - low, high - low + 1, lambda rows: column[rows]
    codes, uniques = pd.factorize(column, sort=True)
    uniques = np.asarray(uniques)
    return codes.astype(np.int64), max(len(uniques), 1), lambda rows: uniques[codes[rows]]


def _integers(column: Any, path: str) -> np.ndarray:
    # lazy: heavy
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray) and pa.types.is_integer(column.type) and not column.null_count:
        return column.to_numpy().astype(np.int64, copy=False)
    if isinstance(column, pd.Series) and pd.api.types.is_integer_dtype(column.dtype) and not column.hasnans:
        return column.to_numpy(dtype=np.int64)
    values = _floats(column)
    if not np.isfinite(values).all() or (values != np.round(values)).any():
        raise UsageError("must hold an integer in every row", path=path, fix="fill in the missing values")
    return values.astype(np.int64)


def _floats(column: Any) -> np.ndarray:
    # lazy: heavy
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        return np.asarray(pc.cast(column, pa.float64()).to_numpy(), dtype=np.float64)
    return np.asarray(column.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)


def _is_grouped(codes: np.ndarray, ranks: np.ndarray, starts: np.ndarray) -> bool:
    """Whether each run's rows form one block (blocks in any order) with ranks non-decreasing within it."""
    if codes.size < 2:
        return True
    if np.unique(codes[starts]).size != starts.size:
        return False
    return bool(((np.diff(codes) != 0) | (np.diff(ranks) >= 0)).all())
