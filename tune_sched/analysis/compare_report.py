"""A comparison written out: a terminal summary, a Markdown report with the arms' loss curves, and JSON.

All three show the same things: the verdict paragraph, the two arms' statistics side by side (seeds, divergence,
mean, std, IQM, worst, CVaR, the mean's interval, spike figures), the tests between them, and each
seed's result. The Markdown report's figure (``<name>.png`` beside it) shows both arms' training losses per step
with their spikes. JSON holds the numbers (NaN and infinities as null) for other tools.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from tune_sched.analysis.compare import Comparison
from tune_sched.analysis.plots import plot_arms
from tune_sched.analysis.ranking_table import format_table
from tune_sched.results.io import atomic_write_text

__all__ = ["comparison_json", "comparison_markdown", "comparison_text", "write_comparison"]

_STAT_ROWS = (
    ("seeds", "n_seeds"), ("diverged or failed", "n_diverged"), ("divergence rate", "divergence_rate"),
    ("mean", "mean"), ("std", "std"), ("IQM", "iqm"), ("worst seed", "worst"), ("CVaR (worst quarter)", "cvar"),
    ("mean: CI low", "mean_lo"), ("mean: CI high", "mean_hi"), ("spikes per seed", "spike_mean"),
    ("spike count variance", "spike_var"), ("runs with spikes", "runs_with_spikes"),
    ("spike episodes", "spike_episodes"), ("largest peak (x)", "max_peak_ratio"),
    ("unrecovered episodes", "unrecovered"),
)
_TEST_ROWS = (
    ("mean difference B - A", "diff_mean"), ("CI low", "diff_lo"), ("CI high", "diff_hi"),
    ("Welch's t", "welch_t"), ("Welch's p", "welch_p"), ("P(B beats A)", "prob_b_better"),
    ("Mann-Whitney U (B)", "mann_whitney_u"), ("Mann-Whitney p", "mann_whitney_p"),
    ("paired seeds", "paired_n"), ("seeds B won", "paired_b_wins"), ("paired mean B - A", "paired_diff_mean"),
    ("paired CI low", "paired_lo"), ("paired CI high", "paired_hi"), ("paired t-test p", "paired_p"),
    ("B - A relative to A's mean", "rel_diff"), ("relative: CI low", "rel_lo"), ("relative: CI high", "rel_hi"),
    ("standardised effect (d)", "effect_size"), ("d: CI low", "effect_lo"), ("d: CI high", "effect_hi"),
)


def comparison_text(comparison: Comparison) -> str:
    """The terminal summary: arms, statistics side by side, tests, then the verdict (Markdown marks removed)."""
    parts = [_arms_line(comparison), _stats_table(comparison, markdown=False), "",
             _tests_table(comparison, markdown=False), "", comparison.verdict.replace("**", "").replace("`", "")]
    return "\n".join(parts)


def comparison_markdown(comparison: Comparison, *, figure: str | None = None) -> str:
    """The Markdown report; ``figure`` is the relative path of the loss-curve PNG, if one was drawn."""
    c = comparison
    parts = [f"# A/B comparison: `{c.a.name}` (A, control) against `{c.b.name}` (B, treatment)", c.verdict,
             _arms_line(c), "## Statistics per arm", _stats_table(c, markdown=True), "## Tests",
             _tests_table(c, markdown=True),
             f"Each seed's value is its best `{c.a.metric}` ({'lower' if c.a.mode == 'min' else 'higher'} is better). "
             "Diverged and failed seeds are left out of the means and the t-test, and count as the worst in the "
             "probability of improvement and the Mann-Whitney test.",
             "## Seeds", _seeds_table(c)]
    if figure:
        parts += ["## Training loss per step (spike peaks marked)", f"![loss curves of both arms]({figure})"]
    return "\n\n".join(parts) + "\n"


def comparison_json(comparison: Comparison) -> dict[str, Any]:
    """Plain data: both arms (name, source, config, per-seed runs, statistics), the tests, outcome and verdict."""
    c = comparison
    arms = {}
    for arm in (c.a, c.b):
        arms[arm.label] = {
            "name": arm.name, "source": arm.source, "config_id": arm.config_id, "config": arm.config,
            "statistics": c.stats[arm.label], "seeds": arm.runs.to_dict("records"),
        }
    data = {"metric": c.a.metric, "mode": c.a.mode, "arms": arms, "tests": c.tests, "outcome": c.outcome,
            "too_few_seeds": c.too_few_seeds, "verdict": c.verdict}
    return _clean(data)


def write_comparison(comparison: Comparison, *, json_path: str | Path | None = None,
                     markdown_path: str | Path | None = None) -> list[Path]:
    """Write the JSON and/or Markdown outputs (the Markdown's figure beside it); return the paths written."""
    written = []
    if json_path is not None:
        path = Path(json_path)
        atomic_write_text(path, json.dumps(comparison_json(comparison), indent=2, allow_nan=False) + "\n")
        written.append(path)
    if markdown_path is not None:
        path = Path(markdown_path)
        c = comparison
        figure = plot_arms([(f"{arm.label}: {arm.name}", arm.steps, arm.episodes) for arm in (c.a, c.b)],
                           path.with_suffix(".png"))
        atomic_write_text(path, comparison_markdown(comparison, figure=figure.name))
        written += [path, figure]
    return written


def _arms_line(c: Comparison) -> str:
    def one(arm: Any) -> str:
        where = f"config {arm.config_id} of {arm.source}" if arm.config_id else arm.source
        return f"{arm.label} = {arm.name} ({where})"

    return f"{one(c.a)}; {one(c.b)}; metric {c.a.metric} ({'lower' if c.a.mode == 'min' else 'higher'} is better)"


def _stats_table(c: Comparison, *, markdown: bool) -> str:
    sa, sb = c.stats[c.a.label], c.stats[c.b.label]
    rows = [[label, sa[key], sb[key]] for label, key in _STAT_ROWS]
    return format_table(["statistic", f"A: {c.a.name}", f"B: {c.b.name}"], rows, markdown=markdown)


def _tests_table(c: Comparison, *, markdown: bool) -> str:
    rows = [[label, c.tests[key]] for label, key in _TEST_ROWS]
    return format_table(["test", "value"], rows, markdown=markdown)


def _seeds_table(c: Comparison) -> str:
    rows = []
    for arm in (c.a, c.b):
        for _, run in arm.runs.iterrows():
            rows.append([arm.label, int(run["seed"]), run["status"], run["best_metric"], run["spike_count"],
                         run["max_peak_ratio"], run["reason"] if run["status"] != "completed" else ""])
    headers = ["arm", "seed", "status", f"best {c.a.metric}", "spikes", "largest peak (x)", "reason"]
    return format_table(headers, rows, markdown=True)


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf/NA -> None, numpy scalars -> Python."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        try:
            value = value.item()
        except (ValueError, AttributeError):
            pass
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    if isinstance(value, (str, bool, int, float)):
        return value
    try:
        if value != value:  # pandas NA
            return None
    except TypeError:
        return None
    return str(value)
