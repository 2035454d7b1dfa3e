"""The analysis report: ``report.md`` with its PNG figures, readable without opening any table.

Sections: the verdict paragraph (``verdict.experiment_verdict``); how the configs were judged (metric, score,
spike rule); the arms (``arm_table``: per LR scheduler family and other ``one_of`` choice, spikes, metric and
divergence with intervals, whether the scheduler acted, and the answer); the ranking; the loss curves of the top
configs and of the configs that spiked most, seed by seed, with spikes shaded; the LR and loss-weight traces;
quality against stability with the Pareto front; which parameters matter (the arm's families among them); and
every diverged, failed or pruned run with its reason. Figures go to ``figures/`` beside ``report.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tune_sched.analysis import plots
from tune_sched.analysis.arm_table import format_arm_section
from tune_sched.analysis.experiment_analysis import (ANALYSIS_FILE, FAMILY_COLUMNS, FAMILY_PARAMS, ExperimentAnalysis,
                                                        param_label)
from tune_sched.analysis.importance import param_importance
from tune_sched.analysis.ranking_table import format_ranking, format_table, format_value
from tune_sched.analysis.verdict import experiment_verdict
from tune_sched.core.words import BETTER
from tune_sched.results.io import atomic_write_text

__all__ = ["REPORT_FILE", "Report", "write_report"]

REPORT_FILE = "report.md"
_MAX_PROBLEM_ROWS = 30


@dataclass(frozen=True)
class Report:
    """What ``write_report`` wrote: the Markdown file, its figures and the verdict paragraph."""

    path: Path
    figures: tuple[Path, ...]
    verdict: str
    importance: pd.DataFrame


def write_report(analysis: ExperimentAnalysis, out_dir: str | Path, *, top: int = 3, table_top: int = 20,
                 spiky: int = 2) -> Report:
    """Write ``report.md`` and ``figures/*.png`` into ``out_dir``.

    Args:
        analysis: the analysed experiment.
        out_dir: where to write (created if missing); existing report files there are replaced.
        top: how many of the best configs get their own loss-curve figure (at least 1).
        spiky: how many more configs, those with the most spike episodes per seed outside the top, get one.
        table_top: how many configs the ranking table shows.

    Returns:
        The report's paths, verdict and parameter importance.
    """
    out = Path(out_dir)
    figures_dir = out / "figures"
    judged = [*_varying_families(analysis), *(p for p in analysis.params if p not in FAMILY_PARAMS)]
    importance = param_importance(analysis.ranking, judged, mode=analysis.mode)
    ordered = [p for p in importance["param"] if p not in FAMILY_COLUMNS] if len(importance) else list(analysis.params)
    verdict = experiment_verdict(analysis)
    top_ids = analysis.ranking["config_id"].head(max(top, 1)).tolist()

    figures: list[Path] = []
    sections = [f"# Analysis of experiment `{analysis.name}`", verdict, _method(analysis),
                "## Arms", _arms_intro(), format_arm_section(analysis, markdown=True),
                "## Ranking", format_ranking(analysis, top=table_top, params=ordered, max_params=None, markdown=True),
                _legend(analysis), "## The top configs, seed by seed"]
    spiky_ids = _most_spiky(analysis, exclude=top_ids, count=spiky)
    ranks = dict(zip(analysis.ranking["config_id"], analysis.ranking["rank"]))
    for config_id in [*top_ids, *spiky_ids]:
        if config_id == (spiky_ids or [None])[0]:
            sections += ["## The configs that spiked most, seed by seed", _spiky_line(analysis, spiky_ids)]
        rank = int(ranks[config_id])
        figure = plots.plot_seed_curves(analysis, config_id, figures_dir / f"curves_{rank}_{_safe(config_id)}.png")
        figures.append(figure)
        sections += [f"### {rank}. `{config_id}`", _config_line(analysis, config_id),
                     _seed_table(analysis, config_id), _image(figure, out, f"loss curves of {config_id}")]
    figure = plots.plot_schedules(analysis, [*top_ids, *spiky_ids], figures_dir / "schedules.png")
    figures.append(figure)
    sections += ["## Learning rate and loss weights", _image(figure, out, "LR and loss-weight traces")]
    figure = plots.plot_quality_stability(analysis, figures_dir / "quality_stability.png")
    figures.append(figure)
    sections += ["## Quality against stability", _front_line(analysis),
                 _image(figure, out, "IQM against spike variance")]
    sections += ["## Which parameters matter", *_importance_section(importance, analysis)]
    if len(importance):
        figure = plots.plot_importance(importance, figures_dir / "importance.png")
        figures.append(figure)
        sections.append(_image(figure, out, "parameter importance"))
    sections += ["## Diverged, failed and pruned runs", _problems(analysis)]
    atomic_write_text(out / REPORT_FILE, "\n\n".join(s for s in sections if s) + "\n")
    return Report(path=out / REPORT_FILE, figures=tuple(figures), verdict=verdict, importance=importance)


def _most_spiky(analysis: ExperimentAnalysis, *, exclude: list[str], count: int) -> list[str]:
    """Up to ``count`` configs outside ``exclude`` with the most spike episodes per run (ties: the better rank)."""
    ranking = analysis.ranking
    spiky = ranking[~ranking["config_id"].isin(exclude) & (ranking["spike_mean"].fillna(0) > 0)]
    spiky = spiky.sort_values(["spike_mean", "rank"], ascending=[False, True], kind="mergesort")
    return spiky["config_id"].head(max(count, 0)).tolist()


def _spiky_line(analysis: ExperimentAnalysis, config_ids: list[str]) -> str:
    ranking = analysis.ranking.set_index("config_id")
    names = ", ".join(f"`{c}` ({format_value(ranking.loc[c, 'spike_mean'])} per seed)" for c in config_ids)
    return (f"Outside the top, these configs had the most spike episodes: {names}. Their curves show where the "
            "spikes happened (shaded) and whether the loss came back.")


def _varying_families(analysis: ExperimentAnalysis) -> list[str]:
    """The family columns whose value differs between configs: judged in the importance like any parameter."""
    ranking = analysis.ranking
    return [c for c in FAMILY_COLUMNS if c in ranking.columns and ranking[c].nunique() > 1]


def _arms_intro() -> str:
    return ("The configs grouped by LR scheduler family (and by any other family the search chose between), every "
            "run of every config counted. *spike rate*: runs with at least one loss spike, Wilson interval; "
            "*episodes per run* and *IQM* (best metric, runs that did not diverge): t intervals with the configs as "
            "the units, since a config's seeds share its settings; *diverged*: diverged or failed "
            "runs, Wilson interval; *LR changed*: runs whose LR ever left its first value. Pruned runs count with "
            "what they reached. Intervals are 95 %.")


def _method(analysis: ExperimentAnalysis) -> str:
    better = BETTER[analysis.mode]
    s, r = analysis.score, analysis.spikes
    rule = {"robust": f"`robust` (k = {r.k:g}, at least {r.min_ratio:g}x the median before it",
            "zscore": f"`zscore` (k = {r.k:g}"}.get(r.rule, f"`{r.rule}` (threshold = {r.threshold:g}")
    n_runs = len(analysis.runs)
    return (f"*How this was judged.* {len(analysis.ranking)} configs, {n_runs} runs. Each seed's value is its best "
            f"`{analysis.metric}` ({better} is better). A config's robust score is the IQM over its seeds "
            f"{'+' if analysis.mode == 'min' else '-'} {s.spread_weight:g} x std, plus a divergence penalty of "
            f"{s.divergence_penalty:g} x odds of divergence x level and a spike term of {s.spike_weight:g} x (mean + "
            f"std of spike episodes per seed) x level; diverged and failed seeds count only in that penalty. A spike "
            f"is a training-loss value far above the values before it: rule {rule}, window "
            f"{r.window}); an episode ends when the loss is back within {r.recovery_tol:.0%} of its level before.")


def _legend(analysis: ExperimentAnalysis) -> str:
    return ("*score*: the robust score above; *IQM*, *std*, *worst*: over the seeds that did not diverge; "
            "*diverged*: diverged or failed seeds of all seeds; *spikes*, *spike var*: the mean and variance of the "
            "number of spike episodes per seed; *pareto*: no other config has both a better IQM and a lower spike "
            f"variance. Every statistic of every config is in `{ANALYSIS_FILE}`.")


def _config_line(analysis: ExperimentAnalysis, config_id: str) -> str:
    row = analysis.ranking[analysis.ranking["config_id"] == config_id].iloc[0]
    values = ", ".join(f"{param_label(p)} = {_shown(row[p])}" for p in analysis.params if p not in FAMILY_PARAMS)
    arm = ", ".join(f"{c} {row[c]}" for c in FAMILY_COLUMNS if c in row.index)
    seed = row["best_seed"]
    best = f" Best seed: {int(seed)}." if not pd.isna(seed) else " No seed finished without diverging."
    export = f" Export it with `tune-sched export {analysis.path} --trial {config_id} --out best.yaml`."
    return f"Arm: {arm}. " + (f"Differs from the others in: {values}." if values else "") + best + export


def _seed_table(analysis: ExperimentAnalysis, config_id: str) -> str:
    runs = analysis.runs[analysis.runs["config_id"] == config_id].sort_values("seed")
    rows = []
    for _, run in runs.iterrows():
        reason = run.get("reason") if run.get("status") != "completed" else ""
        best_epoch = run.get("best_epoch")  # stored from 0; the report counts epochs from 1, as the terminal does
        best_epoch = int(best_epoch) + 1 if pd.notna(best_epoch) and best_epoch >= 0 else None
        rows.append([int(run["seed"]), run.get("status"), run.get("best_metric"), best_epoch,
                     run.get("spike_count"), run.get("max_peak_ratio"), reason or ""])
    headers = ["seed", "status", f"best {analysis.metric}", "best epoch", "spikes", "largest peak (x)", "reason"]
    return format_table(headers, rows, markdown=True)


def _front_line(analysis: ExperimentAnalysis) -> str:
    front = analysis.ranking[analysis.ranking["pareto"]]
    if front.empty:
        return ("No Pareto front: with one seed per config there is no spike variance (the plot uses the spike "
                "count instead)." if analysis.n_seeds <= 1 else "No config has both an IQM and a spike variance.")
    names = ", ".join(f"`{c}` (rank {int(r)})" for c, r in zip(front["config_id"], front["rank"]))
    return (f"On the Pareto front of quality (IQM) and stability (spike variance): {names}. A config off the front "
            "is beaten on both by one on it.")


def _importance_section(importance: pd.DataFrame, analysis: ExperimentAnalysis) -> list[str]:
    if importance.empty:
        return ["All configs share the same values: there is nothing to compare."]
    n = len(analysis.ranking)
    caution = " With fewer than 10 configs these numbers are rough." if n < 10 else ""
    text = (f"How much of the spread in the configs' ranks each parameter explains on its own ({n} configs): "
            f"Spearman rho^2 for numbers, eta^2 for categories.{caution}")
    rows = [[param_label(p), k, v, d, c] for p, k, v, d, c in importance.itertuples(index=False)]
    return [text, format_table(["parameter", "kind", "importance", "direction", "configs"], rows, markdown=True)]


def _problems(analysis: ExperimentAnalysis) -> str:
    runs = analysis.runs
    if "status" not in runs:
        return "No run status recorded."
    bad = runs[runs["status"] != "completed"].sort_values(["status", "config_id", "seed"])
    if bad.empty:
        return "None: every run completed."
    rows = [[r["config_id"], int(r["seed"]), r["status"], r.get("epochs_run"), r.get("reason") or ""]
            for _, r in bad.head(_MAX_PROBLEM_ROWS).iterrows()]
    table = format_table(["config", "seed", "status", "epochs run", "reason"], rows, markdown=True)
    more = f"\n\n({len(bad) - _MAX_PROBLEM_ROWS} more in the trials table.)" if len(bad) > _MAX_PROBLEM_ROWS else ""
    return table + more


def _shown(value: object) -> str:
    text = format_value(value)
    return "not set" if text == "-" else text


def _image(path: Path, out: Path, alt: str) -> str:
    return f"![{alt}]({path.relative_to(out).as_posix()})"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(name))[:80]
