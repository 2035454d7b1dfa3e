"""The ranking as an aligned text table and as Markdown."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tune_sched.analysis.ranking_table import format_ranking, format_table, format_value


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.123456789, "0.1235"), (3.0, "3"), (50.0, "50"), (1e-7, "1e-07"), (2.5e7, "2.5e+07"), (math.nan, "-"),
        (math.inf, "inf"), (-math.inf, "-inf"), (None, "-"), (pd.NA, "-"), (True, "true"), (np.float64(0.5), "0.5"),
        (np.int64(4), "4"), ("Adam", "Adam"), ([0.9, 0.999], "[0.9, 0.999]"),
    ],
)
def test_format_value(value, text):
    assert format_value(value) == text


def test_text_tables_right_align_numbers_and_left_align_text():
    text = format_table(["name", "value"], [["a", 1.5], ["long name", 10.25]])
    assert text.splitlines() == ["name       value", "---------  -----", "a            1.5", "long name  10.25"]


def test_markdown_tables_escape_pipes_and_mark_number_columns():
    text = format_table(["name", "value"], [["a|b", 1]], markdown=True)
    assert text.splitlines() == ["| name | value |", "|---|---:|", "| a\\|b | 1 |"]


def test_the_ranking_table_shows_the_statistics_and_differing_values(analysis):
    text = format_ranking(analysis, top=2)
    lines = text.splitlines()
    header = lines[0]
    for name in ("rank", "config", "score", "IQM val_loss", "std", "worst", "diverged", "spikes", "spike var",
                 "spike cost", "pareto", "optimizer.lr"):
        assert name in header
    assert lines[2].split()[:2] == ["1", "steady"]
    assert len(lines) == 2 + 2 + 1
    assert lines[-1] == "(3 more configs; all of them are in analysis.parquet)"


def test_the_spike_cost_column_is_the_score_term_of_each_config(analysis):
    header, _, *rows = format_ranking(analysis, top=None, markdown=True).splitlines()
    column = [c.strip() for c in header.split("|")].index("spike cost")
    by_config = {row.split("|")[2].strip(): row.split("|")[column].strip() for row in rows}
    ranking = analysis.ranking.set_index("config_id")
    for config_id, cell in by_config.items():
        term = ranking.loc[config_id, "spike_term"]
        assert cell == ("-" if np.isnan(term) else f"{term:.4g}" if term else "0"), config_id
    assert ranking.loc["steady", "spike_term"] == 0 and ranking.loc["spiky", "spike_term"] > 0


def test_the_full_ranking_notes_pruned_and_failed_seeds(analysis):
    text = format_ranking(analysis, top=None)
    troubled = next(line for line in text.splitlines() if " troubled " in line)
    assert "1/2" in troubled and troubled.endswith("1 pruned, 1 failed")
    assert "3/3" in next(line for line in text.splitlines() if " blowup " in line)


def test_markdown_ranking_has_one_row_per_config(analysis):
    text = format_ranking(analysis, top=None, markdown=True, max_params=None)
    assert sum(line.startswith("| ") for line in text.splitlines()) == 1 + len(analysis.ranking)


@pytest.mark.parametrize("width", [80, 100])
def test_a_width_keeps_whole_columns_that_fit_and_names_the_rest(analysis, width):
    text = format_ranking(analysis, top=None, width=width)
    assert max(len(line) for line in text.splitlines()) <= width
    header = [h.strip() for h in text.splitlines()[0].split("  ") if h.strip()]
    full = format_ranking(analysis, top=None).splitlines()[0]
    everything = [h.strip() for h in full.split("  ") if h.strip()]
    assert {"rank", "config", "score", "IQM val_loss", "diverged"} <= set(header)
    assert header == [h for h in everything if h in header]  # whole columns, in the full table's order
    left = " ".join(text.split("(left out to fit", 1)[1].split())
    assert all(f" {name}," in left for name in ("std", "spike var", "spike cost")) and "--wide shows them" in left
    assert all(name in full for name in ("std", "spike var", "spike cost"))
