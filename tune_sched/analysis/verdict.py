"""The one-paragraph verdict that opens the report: the best config, how stable, how confident, what spiked.

Written for a person who reads nothing else. Each sentence is built from the ranking and the per-run tables:

- the best config with its IQM, spread, worst seed and score;
- its stability: diverged or failed seeds, spikes per seed, the largest peak, unrecovered episodes;
- confidence: the best's 95 % interval of the IQM (``stats.iqm_ci``) and whether it overlaps the runner-up's, or
  that one seed says nothing about seed-to-seed variation, and that intervals from fewer than 5 seeds are wide;
- what spiked across the experiment (runs, episodes, the configs with the most), and what diverged, failed or was
  pruned, with the first recorded reason.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from tune_sched.analysis.experiment_analysis import ExperimentAnalysis
from tune_sched.analysis.ranking_table import format_value

__all__ = ["FEW_SEEDS", "experiment_verdict"]

FEW_SEEDS = 5
"""Below this many seeds per config, the verdict says its intervals are wide and more seeds would narrow them."""


def experiment_verdict(analysis: ExperimentAnalysis) -> str:
    """The verdict paragraph (Markdown: config ids in backticks), one line of text."""
    ranking = analysis.ranking
    best = ranking.iloc[0]
    if not math.isfinite(float(best["score"])):
        sentences = [f"No config trained stably: every seed of all {len(ranking)} configs diverged or failed."]
    else:
        sentences = [_best_sentence(analysis, best), _stability_sentence(analysis, best),
                     _confidence_sentence(analysis)]
    sentences += [_spikes_sentence(analysis), _problems_sentence(analysis)]
    return " ".join(s for s in sentences if s)


def _best_sentence(analysis: ExperimentAnalysis, best: pd.Series) -> str:
    n_ok = int(best["n_seeds"]) - int(best["n_diverged"])
    spread = f", std {_num(best['std'])}, worst seed {_num(best['worst'])}" if n_ok > 1 else ""
    return (f"**Best config: `{best['config_id']}`** (rank 1 of {len(analysis.ranking)}): IQM {analysis.metric} "
            f"{_num(best['iqm'])} over {_plural(n_ok, 'seed')}{spread}; robust score {_num(best['score'])}.")


def _stability_sentence(analysis: ExperimentAnalysis, best: pd.Series) -> str:
    n, bad = int(best["n_seeds"]), int(best["n_diverged"])
    failed = int(best.get("n_failed", 0) or 0)
    if bad:
        what = f"diverged on {bad} of {n} seeds" + (f" ({failed} of them failed with an error)" if failed else "")
    else:
        what = "never diverged" if n > 1 else "did not diverge"
    spikes = float(best["spike_mean"])
    if not math.isfinite(spikes):
        return f"It {what}; no training loss was recorded to look for spikes."
    if spikes == 0:
        return f"It {what} and had no loss spike" + (" on any seed." if n > 1 else ".")
    mine = analysis.episodes[analysis.episodes["config_id"] == best["config_id"]]
    unrecovered = int((~mine["recovered"].astype(bool)).sum())
    tail = f"; {unrecovered} never recovered" if unrecovered else ", all recovered"
    return (f"It {what} and had {_num(spikes)} loss spikes per seed (largest peak "
            f"{_num(best['max_peak_ratio'])}x the loss before it{tail}).")


def _confidence_sentence(analysis: ExperimentAnalysis) -> str:
    ranking = analysis.ranking
    best = ranking.iloc[0]
    if analysis.n_seeds <= 1:
        return ("With one seed per config nothing is known about seed-to-seed variation: rerun the top configs on "
                "more seeds before trusting the order.")
    n_ok = int(best["n_seeds"]) - int(best["n_diverged"])
    rough = f" (intervals from {n_ok} seeds are wide; {FEW_SEEDS} or more narrow them)" if n_ok < FEW_SEEDS else ""
    others = ranking.iloc[1:]
    others = others[np.isfinite(others["iqm"].to_numpy(dtype=np.float64, na_value=np.nan))]
    if others.empty:
        return f"No other config finished a seed without diverging, so it wins by default{rough}."
    runner = others.iloc[0]
    lo, hi = float(best["iqm_lo"]), float(best["iqm_hi"])
    r_lo, r_hi = float(runner["iqm_lo"]), float(runner["iqm_hi"])
    if not all(math.isfinite(v) for v in (lo, hi, r_lo, r_hi)):
        return (f"The runner-up is `{runner['config_id']}` (IQM {_num(runner['iqm'])}); too few seeds finished to "
                f"give intervals, so the order is uncertain{rough}.")
    mine = f"its 95% interval of the IQM is {_num(lo)} to {_num(hi)}, the runner-up's {_num(r_lo)} to {_num(r_hi)}"
    if hi < r_lo or r_hi < lo:
        return (f"It is clearly ahead of the runner-up `{runner['config_id']}` (IQM {_num(runner['iqm'])}): {mine}, "
                f"and they do not overlap{rough}.")
    return (f"The runner-up `{runner['config_id']}` (IQM {_num(runner['iqm'])}) is within reach: {mine}; they "
            f"overlap, so the order of the top two may change on other seeds{rough}.")


def _spikes_sentence(analysis: ExperimentAnalysis) -> str:
    episodes = analysis.episodes
    runs = analysis.runs
    if "spike_count" not in runs or runs["spike_count"].isna().all():
        return ""
    if episodes.empty:
        return f"No run had a loss spike ({len(runs)} runs checked)."
    spiky_runs = episodes.groupby(["config_id", "seed"]).ngroups
    per_config = episodes.groupby("config_id").size().sort_values(ascending=False, kind="mergesort")
    top = per_config.head(3)
    where = ", ".join(f"`{cid}` ({count})" for cid, count in top.items())
    if len(per_config) > len(top):
        where += f" and {len(per_config) - len(top)} more configs"
    unrecovered = int((~episodes["recovered"].astype(bool)).sum())
    tail = f"; {unrecovered} never recovered" if unrecovered else ""
    return (f"Spikes: {spiky_runs} of {_plural(len(runs), 'run')} had loss spikes, "
            f"{_plural(len(episodes), 'episode')} in all, in {where}; "
            f"the largest peak was {_num(float(episodes['peak_ratio'].max()))}x the loss before it{tail}.")


def _problems_sentence(analysis: ExperimentAnalysis) -> str:
    runs = analysis.runs
    if "status" not in runs:
        return ""
    parts = []
    for status, verb in (("diverged", "diverged"), ("failed", "failed"), ("pruned", "pruned early")):
        hit = runs[runs["status"] == status]
        if hit.empty:
            continue
        configs = hit.groupby("config_id").size().sort_values(ascending=False, kind="mergesort")
        names = ", ".join(f"`{cid}` ({count})" for cid, count in configs.head(3).items())
        more = f" and {len(configs) - 3} more" if len(configs) > 3 else ""
        reason = _first_reason(hit) if status != "pruned" else ""
        parts.append(f"{_plural(len(hit), 'run')} {verb} in {names}{more}{reason}")
    return ("Problems: " + "; ".join(parts) + ".") if parts else ""


def _first_reason(hit: pd.DataFrame) -> str:
    if "reason" not in hit:
        return ""
    reasons = [r for r in hit["reason"].tolist() if isinstance(r, str) and r]
    return f' (e.g. "{reasons[0][:120]}")' if reasons else ""


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _num(value: Any) -> str:
    return format_value(float(value)) if value is not None else "-"
