"""The ranking as a table for people: aligned text for the terminal, or Markdown for the report.

One row per config, best first: rank, config id, score, IQM, std and worst seed of the metric, diverged seeds,
the spike count's mean and variance over seeds, what the spikes add to the score (``spike cost``, in the metric's
units), a star on the Pareto front (IQM against spike variance), the config's arm (optimizer, LR scheduler family,
loss scheduler mode when any config has one), then the config values that differ between configs. Numbers show
four significant digits; a value a config does not set shows as ``-``.

Example:
    >>> print(format_table(["name", "value"], [["a", 1.5], ["bb", None]]))
    name  value
    ----  -----
    a       1.5
    bb        -
"""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Sequence
from typing import Any

import pandas as pd

from tune_sched.analysis.experiment_analysis import FAMILY_COLUMNS, FAMILY_PARAMS, ExperimentAnalysis, param_label

__all__ = ["format_ranking", "format_table", "format_value"]

_STAT_COLUMNS = ("score", "iqm", "std", "worst")


def format_ranking(
    analysis: ExperimentAnalysis,
    *,
    top: int | None = 10,
    params: Sequence[str] | None = None,
    max_params: int | None = 6,
    markdown: bool = False,
    width: int | None = None,
) -> str:
    """The ranking table of an analysed experiment.

    Args:
        analysis: the analysed experiment.
        top: show the best ``top`` configs (None: all); a last line says how many were left out.
        params: the parameter columns to show, in this order (default: ``analysis.params``).
        max_params: show at most this many parameter columns (None: all).
        markdown: a Markdown table instead of aligned text.
        width: fit the text table in this many columns: rank, config, score, IQM and diverged always show; the
            others join while they fit, in this order: the arm columns whose values differ between the configs,
            worst, spikes, pareto, the other arm columns, notes, the parameters, std, spike var, spike cost. A last line names the columns left out (None: all show).

    Returns:
        The table as one string (no trailing newline).
    """
    ranking = analysis.ranking
    shown = ranking if top is None else ranking.head(max(top, 0))
    params = [p for p in (analysis.params if params is None else params) if p not in FAMILY_PARAMS]
    params = params[: max_params if max_params is not None else None]
    notes = [_notes(row) for _, row in shown.iterrows()]
    headers = ["rank", "config", "score", f"IQM {analysis.metric}", "std", "worst", "diverged", "spikes", "spike var",
               "spike cost", "pareto"]
    families = [c for c in FAMILY_COLUMNS if c in ranking.columns]
    headers += [*families, *(param_label(p) for p in params)]
    if any(notes):
        headers.append("notes")
    rows = []
    for (_, row), note in zip(shown.iterrows(), notes):
        cells: list[Any] = [int(row["rank"]), row["config_id"], *[row[c] for c in _STAT_COLUMNS],
                            f"{int(row['n_diverged'])}/{int(row['n_seeds'])}", row["spike_mean"], row["spike_var"],
                            row["spike_term"], "*" if row["pareto"] else ""]
        cells += [row.get(p) for p in [*families, *params]]
        if any(notes):
            cells.append(note)
        rows.append(cells)
    left_out: list[str] = []
    if width is not None and not markdown:
        headers, rows, left_out = _fit(headers, rows, width)
    text = format_table(headers, rows, markdown=markdown)
    if left_out:
        text += "\n" + textwrap.fill(f"(left out to fit {width} columns: {', '.join(left_out)}; --wide shows them)",
                                     width)
    if len(shown) < len(ranking):
        more = len(ranking) - len(shown)
        text += f"\n({more} more config{'s' if more > 1 else ''}; all of them are in analysis.parquet)"
    return text


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, markdown: bool = False) -> str:
    """Rows of values as an aligned text table (numbers right-aligned) or a Markdown table."""
    cells = [[format_value(v) for v in row] for row in rows]
    numeric = [bool(rows) and all(_is_number(row[i]) or row[i] is None for row in rows) for i in range(len(headers))]
    if markdown:
        lines = ["| " + " | ".join(headers) + " |",
                 "|" + "|".join("---:" if num else "---" for num in numeric) + "|"]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells]
        return "\n".join(lines)
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(row) for row in cells)])


def format_value(value: Any) -> str:
    """Four significant digits for floats, ``-`` for missing, JSON for lists, ``inf`` for infinities."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{int(value)}" if value.is_integer() and abs(value) < 1e6 else f"{value:.4g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


_ALWAYS = 5  # rank, config, score, IQM, diverged: the first columns of the fitted table
_LAST = ("std", "spike var", "spike cost")  # the columns a narrow table gives up first


def _fit(headers: list[str], rows: list[list[Any]], width: int) -> tuple[list[str], list[list[Any]], list[str]]:
    """The columns of the table that fit ``width`` (see :func:`format_ranking`), and the headers left out."""
    stats = dict.fromkeys(["rank", "config", "score", headers[3], "diverged"])
    varying = [h for h in FAMILY_COLUMNS if h in headers and len({str(r[headers.index(h)]) for r in rows}) > 1]
    order = list(stats) + varying  # the arms the configs differ in come first: they name what was compared
    order += [h for h in ("worst", "spikes", "pareto", *FAMILY_COLUMNS, "notes") if h in headers and h not in order]
    order += [h for h in headers if h not in order and h not in _LAST] + [h for h in _LAST if h in headers]
    kept = order[:_ALWAYS]
    for header in order[_ALWAYS:]:
        trial = [h for h in headers if h in kept or h == header]
        if _width(trial, headers, rows) <= width:
            kept = trial
    index = [headers.index(h) for h in headers if h in kept]
    return ([headers[i] for i in index], [[row[i] for i in index] for row in rows],
            [h for h in headers if h not in kept])


def _width(kept: list[str], headers: list[str], rows: list[list[Any]]) -> int:
    index = [headers.index(h) for h in kept]
    table = format_table([headers[i] for i in index], [[row[i] for i in index] for row in rows])
    return max(len(line) for line in table.splitlines())


def _notes(row: pd.Series) -> str:
    parts = [f"{int(row[c])} {word}" for c, word in (("n_pruned", "pruned"), ("n_failed", "failed")) if row.get(c)]
    return ", ".join(parts)


def _is_number(value: Any) -> bool:
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    return isinstance(value, (int, float)) and not isinstance(value, bool)
