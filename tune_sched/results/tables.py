"""Turning recorded rows into Arrow tables with stable column types (keys first, floats as float64)."""

from __future__ import annotations

from typing import Any

__all__ = ["KEY_COLUMNS", "rows_to_table"]

KEY_COLUMNS = ("config_id", "seed", "epoch", "step")


def rows_to_table(rows: list[dict[str, Any]]) -> Any:
    """A ``pyarrow.Table`` from dict rows whose keys may differ (missing values become null)."""
    # lazy: heavy
    import pyarrow as pa

    names: list[str] = []
    seen: set[str] = set()
    for row in rows:
        for key in row:
            if key not in seen:
                seen.add(key)
                names.append(key)
    names.sort(key=lambda n: (KEY_COLUMNS.index(n) if n in KEY_COLUMNS else len(KEY_COLUMNS), n))
    columns = {}
    for name in names:
        values = [row.get(name) for row in rows]
        if name in ("seed", "epoch", "step"):
            columns[name] = pa.array(values, type=pa.int64())
        elif all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values):
            columns[name] = pa.array([None if v is None else float(v) for v in values], type=pa.float64())
        else:
            columns[name] = pa.array(values)
    return pa.table(columns) if columns else pa.table({k: pa.array([], type=pa.int64()) for k in ("epoch",)})
