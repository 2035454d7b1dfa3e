"""The table of top configs printed at the end of a search (the same ranking `analyze` uses)."""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["top_configs_text"]


def top_configs_text(trials: Any, *, mode: str, metric: str, top: int = 5) -> str:
    """A plain-text table of the best configs by the robust score, from the trials table (pyarrow)."""
    from tune_sched.analysis.score import rank_configs

    frame = trials.to_pandas() if hasattr(trials, "to_pandas") else trials
    if frame.empty:
        return "no finished trials"
    ranked = rank_configs(frame, mode=mode)
    lines = [f"top configs by robust score ({metric}, {mode}; lower rank is better):",
             f"{'rank':>4}  {'config':<14} {'score':>10} {'iqm':>10} {'diverged':>8}  config"]
    configs = frame.drop_duplicates("config_id").set_index("config_id")["config_json"].to_dict()
    for rank, row in enumerate(ranked.head(top).itertuples(), start=1):
        lines.append(f"{rank:>4}  {row.config_id:<14} {_fmt(row.score):>10} {_fmt(getattr(row, 'iqm', math.nan)):>10} "
                     f"{getattr(row, 'divergence_rate', 0.0):>8.0%}  {_describe(configs.get(row.config_id))}")
    return "\n".join(lines)


def _describe(config_json: str | None, limit: int = 90) -> str:
    if not config_json:
        return ""
    config = json.loads(config_json)
    opt = config.get("optimizer") or {}
    sched = config.get("lr_scheduler") or {}
    parts = [f"{opt.get('name')} lr={_fmt(opt.get('lr'))}"]
    parts.append(sched.get("name", "constant") if sched else "constant")
    parts += [f"{k}={_fmt(v)}" for k, v in sched.items() if k not in ("name", "interval", "frequency", "monitor",
                                                                      "strict")]
    text = " ".join(parts)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else "n/a"
    return str(value)
