"""The table of top configs printed at the end of a search (the same ranking `analyze` uses)."""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import asdict
from typing import Any

__all__ = ["diverged_savings", "failed_configs", "top_configs_text"]


def top_configs_text(trials: Any, *, mode: str, metric: str, top: int = 5, steps: Any = None,
                     score: Any = None, spikes: Any = None) -> str:
    """A plain-text table of the best configs by the robust score, from the trials table (pyarrow).

    With the steps table, each seed's spike episodes enter the score as they do in ``analyze`` (``spike_table``),
    so both rank the experiment alike; without it the score has no spike term. ``score`` and ``spikes`` are the
    space's blocks as the manifest stores them (``SearchSpace.judging()``; None: the defaults).
    """
    # lazy: heavy
    from tune_sched.analysis.score import ScoreSettings, rank_configs
    from tune_sched.analysis.spike_rules import SpikeRule

    weights = asdict(ScoreSettings.from_dict(dict(score or {}), "settings.score"))
    rule = SpikeRule.from_dict(dict(spikes or {}), "settings.spikes")
    frame = _with_spike_counts(trials.to_pandas() if hasattr(trials, "to_pandas") else trials, steps, rule)
    if frame.empty:
        return "no finished trials"
    failed, total, reason = failed_configs(frame)
    note = (f"{failed} of {total} configs failed on every seed and are not ranked; the commonest reason: {reason}"
            if failed else "")
    frame = frame[~frame["config_id"].isin(_all_failed(frame))]
    if frame.empty:
        return note
    ranked = rank_configs(frame, mode=mode, **weights)
    lines = [f"top configs by robust score ({metric}, {mode}; lower rank is better):",
             f"{'rank':>4}  {'config':<14} {'score':>10} {'iqm':>10} {'diverged':>8}  settings"]  # one name a column
    configs = frame.drop_duplicates("config_id").set_index("config_id")["config_json"].to_dict()
    for rank, row in enumerate(ranked.head(top).itertuples(), start=1):
        lines.append(f"{rank:>4}  {row.config_id:<14} {_fmt(row.score):>10} {_fmt(getattr(row, 'iqm', math.nan)):>10} "
                     f"{getattr(row, 'divergence_rate', 0.0):>8.0%}  {_describe(configs.get(row.config_id))}")
    saved = _savings_line(frame)
    return "\n".join(lines + ([note] if note else []) + ([saved] if saved else []))


def _with_spike_counts(frame: Any, steps: Any, rule: Any) -> Any:
    """The trials frame with each seed's ``spike_count`` from the steps table (unchanged without one)."""
    names = steps.column_names if hasattr(steps, "column_names") else list(getattr(steps, "columns", []))
    if steps is None or frame.empty or not {"config_id", "seed", "step", "train_loss"} <= set(names):
        return frame
    # lazy: heavy
    from tune_sched.analysis.spike_table import spike_table

    counts = spike_table(steps, by=("config_id", "seed"), value="train_loss", step="step", rule=rule)
    return frame.merge(counts[["config_id", "seed", "spike_count"]], on=["config_id", "seed"], how="left")


def diverged_savings(trials: Any) -> tuple[int, int, float]:
    """(diverged seeds stopped before ``max_epochs``, the epochs they did not train, the seconds that saved).

    The seconds are an estimate: each such seed's own seconds per epoch (``wall_time_s / epochs_run``) times the
    epochs it did not train (``cfg.trainer.max_epochs - epochs_run``).
    """
    frame = trials.to_pandas() if hasattr(trials, "to_pandas") else trials
    if frame.empty or "cfg.trainer.max_epochs" not in frame:
        return 0, 0, 0.0
    hit = frame[(frame["status"] == "diverged") & (frame["epochs_run"] > 0)]
    left = (hit["cfg.trainer.max_epochs"] - hit["epochs_run"]).clip(lower=0)
    hit, left = hit[left > 0], left[left > 0]
    per_epoch = (hit["wall_time_s"] / hit["epochs_run"]).where(lambda x: x.apply(math.isfinite), 0.0)
    return len(hit), int(left.sum()), float((per_epoch * left).sum())


def _savings_line(frame: Any) -> str:
    seeds, epochs, seconds = diverged_savings(frame)
    if not seeds:
        return ""
    return (f"{seeds} diverged seed(s) stopped early, {epochs} epoch(s) not trained: about {seconds:.3g} s of "
            "training saved (each seed's own seconds per epoch)")


def failed_configs(trials: Any) -> tuple[int, int, str]:
    """(configs whose every seed failed, configs, the commonest reason among those seeds) of a trials table."""
    frame = trials.to_pandas() if hasattr(trials, "to_pandas") else trials
    if frame.empty:
        return 0, 0, ""
    failed = _all_failed(frame)
    reasons = Counter(r for r in frame.loc[frame["config_id"].isin(failed), "reason"].fillna("").astype(str) if r)
    return len(failed), frame["config_id"].nunique(), reasons.most_common(1)[0][0] if reasons else ""


def _all_failed(frame: Any) -> list[str]:
    statuses = frame.groupby("config_id")["status"].agg(lambda s: set(s) == {"failed"})
    return sorted(statuses[statuses].index)


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
