"""The report's figures (PNG, matplotlib's Agg canvas: no display, no global pyplot state).

- ``plot_seed_curves``: one config's training loss per step for every seed, spike episodes shaded in the seed's
  colour and their peaks marked, diverged seeds marked where they ended; beside it the validation metric per epoch.
- ``plot_schedules``: the LR each config trained with, per step; beside it the loss weights per epoch, only when
  some config's weights changed.
- ``plot_quality_stability``: every config's IQM against its spike-count variance, the Pareto front joined, the
  best configs and the outliers labelled.
- ``plot_importance``: how much of the ranking each parameter explains (``importance.param_importance``), the
  arm's families (optimizer, LR scheduler) among them.

Every axis says what it shows and, when it is logarithmic, says so.
- ``plot_arms``: the two arms of a comparison side by side (``compare``).

Each function draws one figure, writes it to ``path`` and returns the path. Figures are small (about 100 dpi) so
that a report with a dozen of them takes a second or two.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tune_sched.analysis.experiment_analysis import FAMILY_COLUMNS, ExperimentAnalysis, param_label
from tune_sched.core.words import BETTER

__all__ = ["plot_arms", "plot_importance", "plot_quality_stability", "plot_schedules", "plot_seed_curves"]

_DPI = 100
_SPIKE = "tab:red"


def plot_seed_curves(analysis: ExperimentAnalysis, config_id: str, path: str | Path) -> Path:
    """Training loss per step (log scale) of every seed of ``config_id`` with its spikes; validation metric beside."""
    fig, (left, right) = _figure(2, width=11.0)
    steps = analysis.steps[analysis.steps["config_id"] == config_id]
    episodes = analysis.episodes[analysis.episodes["config_id"] == config_id]
    _draw_seed_losses(left, steps, episodes, title=f"{_with_family(analysis, config_id)}: training loss per step")
    epochs = analysis.epochs
    if analysis.metric in epochs.columns:
        mine = epochs[epochs["config_id"] == config_id]
        for i, (seed, run) in enumerate(mine.groupby("seed", sort=True)):
            run = run.sort_values("epoch")
            right.plot(run["epoch"], run[analysis.metric], marker="o", ms=3, color=_color(i), label=f"seed {seed}")
        log = _log_if_positive(right, mine[analysis.metric])
        _integer_ticks(right)
        right.set_xlabel("epoch")
        right.set_ylabel(_scaled(analysis.metric, log))
        right.set_title(f"{analysis.metric} per epoch")
        _legend(right)
    else:
        _empty(right, f"no {analysis.metric} recorded")
    return _save(fig, path)


def _draw_seed_losses(ax: Any, steps: pd.DataFrame, episodes: pd.DataFrame, *, title: str) -> None:
    """Draw each seed's ``train_loss`` per step on ``ax``; shade spike episodes, mark peaks and divergence.

    ``episodes`` positions (``start``, ``peak``, ``end``) index the seed's steps in step order.
    """
    if steps.empty or "train_loss" not in steps.columns:
        _empty(ax, "no training loss recorded")
        ax.set_title(title)
        return
    for i, (seed, run) in enumerate(steps.groupby("seed", sort=True)):
        run = run.sort_values("step")
        x = run["step"].to_numpy()
        y = run["train_loss"].to_numpy(dtype=np.float64, na_value=np.nan)
        finite = np.isfinite(y)
        ax.plot(x[finite], y[finite], lw=1.0, color=_color(i), label=f"seed {seed}")
        if not finite.all() and finite.any():
            last = np.flatnonzero(finite)[-1]
            ax.plot(x[last], y[last], marker="X", ms=9, color="black", zorder=5)
            ax.annotate("diverged", (x[last], y[last]), textcoords="offset points", xytext=(4, 4), fontsize=8)
        for _, ep in episodes[episodes["seed"] == seed].iterrows():
            start, end = int(ep["start"]), min(int(ep["end"]), len(x) - 1)
            ax.axvspan(x[start], x[end], color=_color(i), alpha=0.15, lw=0)
            ax.plot(x[int(ep["peak"])], ep["peak_value"], marker="v", ms=7, color=_SPIKE, zorder=4)
    log = _log_if_positive(ax, steps["train_loss"])
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(_scaled("training loss", log))
    ax.set_title(title)
    if len(episodes):
        ax.plot([], [], marker="v", ls="", color=_SPIKE, label="spike peak")
        ax.fill_between([], [], color="gray", alpha=0.3, lw=0, label="spike episode (seed's colour)")
    _legend(ax)


def plot_schedules(analysis: ExperimentAnalysis, config_ids: Sequence[str], path: str | Path) -> Path:
    """The LR per step (first seed of each config) for ``config_ids``; beside it the loss weights per epoch when
    they changed in some config (a constant weight is not worth a panel)."""
    epochs = analysis.epochs
    weights = [c for c in epochs.columns if c.startswith("weight_")
               and (epochs[epochs["config_id"].isin(list(config_ids))].groupby("config_id")[c].nunique() > 1).any()]
    fig, axes = _figure(2 if weights else 1, width=11.0 if weights else 6.5)
    left = axes[0]
    steps = analysis.steps
    if "lr" in steps.columns:
        for i, cid in enumerate(config_ids):
            mine = steps[steps["config_id"] == cid]
            if mine.empty:
                continue
            run = mine[mine["seed"] == mine["seed"].min()].sort_values("step")
            left.plot(run["step"], run["lr"], color=_color(i), label=_with_family(analysis, cid))
        log = _log_if_positive(left, steps.loc[steps["config_id"].isin(list(config_ids)), "lr"])
        left.set_xlabel("optimizer step")
        left.set_ylabel(_scaled("learning rate", log))
        left.set_title("learning rate (param group 0, first seed)")
        _legend(left)
    else:
        _empty(left, "no LR recorded")
    if weights:
        right = axes[1]
        styles = ["-", "--", ":", "-."]
        for i, cid in enumerate(config_ids):
            mine = epochs[epochs["config_id"] == cid]
            if mine.empty:
                continue
            run = mine[mine["seed"] == mine["seed"].min()].sort_values("epoch")
            for j, column in enumerate(w for w in weights if run[w].notna().any()):
                right.plot(run["epoch"], run[column], ls=styles[j % len(styles)], marker="o", ms=3, color=_color(i),
                           label=f"{cid}: {column.removeprefix('weight_')}")
        _integer_ticks(right)
        right.set_xlabel("epoch")
        right.set_ylabel("loss weight")
        right.set_title("loss weights per epoch (first seed)")
        _legend(right)
    return _save(fig, path)


def plot_quality_stability(analysis: ExperimentAnalysis, path: str | Path, *, label_top: int = 5) -> Path:
    """Each config's IQM (y) against its spike-count variance (x); the Pareto front joined; the best ``label_top``
    configs and, in red, the outliers (beyond 1.5 interquartile ranges on either axis; in log space on a log axis).

    With one seed per config there is no variance: the mean spike count is used instead (and no front drawn).
    Configs without an IQM (every seed diverged) or without spike data are left out; the title says how many.
    """
    fig, (ax,) = _figure(1, width=6.5, fit=True)
    ranking = analysis.ranking
    use_var = ranking["spike_var"].notna().any()
    x_col = "spike_var" if use_var else "spike_mean"
    x = ranking[x_col].to_numpy(dtype=np.float64, na_value=np.nan)
    y = ranking["iqm"].to_numpy(dtype=np.float64, na_value=np.nan)
    ok = np.isfinite(x) & np.isfinite(y)
    front = ranking["pareto"].to_numpy(dtype=bool) & ok
    ax.scatter(x[ok & ~front], y[ok & ~front], s=25, color="tab:gray", label="config")
    ax.scatter(x[front], y[front], s=40, color="tab:blue", label="Pareto front", zorder=3)
    if front.sum() > 1:
        order = np.argsort(x[front])
        ax.plot(x[front][order], y[front][order], color="tab:blue", lw=1, zorder=2)
    log = _log_if_positive(ax, ranking["iqm"])
    middle = (np.nanmin(x[ok]) + np.nanmax(x[ok])) / 2 if ok.any() else 0.0
    outlying = ok & (_outliers(x, log=False) | _outliers(y, log=log))
    for i in np.flatnonzero(ok & ((np.arange(len(ranking)) < label_top) | outlying)):
        # stagger the labels of the best configs (they often sit on top of each other), away from the nearer edge
        right = x[i] > middle
        ax.annotate(f"#{i + 1} {ranking['config_id'].iloc[i]}", (x[i], y[i]), textcoords="offset points",
                    xytext=(-30 if right else 30, 4 + 9 * i if i < label_top else -12), ha="right" if right else "left",
                    fontsize=8, color="tab:red" if i >= label_top else "black",
                    arrowprops={"arrowstyle": "-", "lw": 0.5})
    ax.set_xlabel("spike count variance over seeds (linear)" if use_var else "spike count (one seed, linear)")
    better = BETTER[analysis.mode]
    ax.set_ylabel(_scaled(f"IQM of {analysis.metric} ({better} is better)", log))
    left_out = int((~ok).sum())
    ax.set_title("quality against stability" + (f" ({left_out} without data left out)" if left_out else ""))
    _legend(ax)
    return _save(fig, path)


def plot_importance(importance: pd.DataFrame, path: str | Path) -> Path:
    """Horizontal bars: each parameter's importance (share of the ranks' variance it explains)."""
    fig, (ax,) = _figure(1, width=6.5, height=max(2.0, 0.45 * len(importance) + 1.2), fit=True)
    judged = importance[importance["importance"].notna()]
    if judged.empty:
        _empty(ax, "too few configs to judge any parameter")
    else:
        labels = [f"{param_label(p)}{' family' if p in FAMILY_COLUMNS else ''} ({k[:3]}{', ' + d if d else ''})"
                  for p, k, d in zip(judged["param"], judged["kind"], judged["direction"])]
        ax.barh(range(len(judged))[::-1], judged["importance"], color="tab:blue")
        ax.set_yticks(range(len(judged))[::-1], labels, fontsize=8)
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of rank variance explained (0 to 1)")
        ax.set_ylabel("parameter (kind, direction)")
    ax.set_title("which parameters matter")
    return _save(fig, path)


def plot_arms(arms: Sequence[tuple[str, pd.DataFrame, pd.DataFrame]], path: str | Path) -> Path:
    """Side by side, one panel per arm: ``(title, steps, episodes)`` as for ``_draw_seed_losses``; shared y axis."""
    fig, axes = _figure(len(arms), width=5.5 * len(arms), sharey=True)
    for ax, (title, steps, episodes) in zip(axes, arms):
        _draw_seed_losses(ax, steps, episodes, title=title)
    return _save(fig, path)


def _figure(n: int, *, width: float, height: float = 4.0, sharey: bool = False,
            fit: bool = False) -> tuple[Any, list[Any]]:
    """A figure with ``n`` panels in a row; ``fit`` lays it out around long labels (twice as slow)."""
    # lazy: heavy
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained" if fit else None)
    axes = fig.subplots(1, n, sharey=sharey, squeeze=False)[0]
    if not fit:
        fig.subplots_adjust(left=0.75 / width, right=1 - 0.2 / width, bottom=0.5 / height, top=1 - 0.35 / height,
                            wspace=0.22)
    return fig, list(axes)


def _save(fig: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=_DPI)
    return path


def _color(i: int) -> str:
    return f"C{i % 10}"


def _log_if_positive(ax: Any, values: pd.Series) -> bool:
    """A log y axis when the values are positive and span more than a factor 20; whether it set one."""
    v = values.to_numpy(dtype=np.float64, na_value=np.nan)
    v = v[np.isfinite(v)]
    if v.size and (v > 0).all() and v.max() / v.min() > 20:
        ax.set_yscale("log")
        return True
    return False


def _scaled(label: str, log: bool) -> str:
    return f"{label} ({'log' if log else 'linear'} scale)"


def _outliers(values: np.ndarray, *, log: bool) -> np.ndarray:
    """Tukey's fences: values more than 1.5 interquartile ranges outside the quartiles (NaN is never one)."""
    v = np.asarray(values, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.log10(v) if log else v
    finite = np.isfinite(v)
    if finite.sum() < 4:
        return np.zeros(v.shape, dtype=bool)
    q1, q3 = np.quantile(v[finite], [0.25, 0.75])
    spread = 1.5 * (q3 - q1)
    with np.errstate(invalid="ignore"):
        return finite & ((v < q1 - spread) | (v > q3 + spread))


def _with_family(analysis: ExperimentAnalysis, config_id: str) -> str:
    """``3f2a (ReduceLROnPlateau)``: a config id with its LR scheduler family."""
    row = analysis.ranking[analysis.ranking["config_id"] == config_id]
    if row.empty or "lr_scheduler" not in row.columns:
        return str(config_id)
    return f"{config_id} ({row['lr_scheduler'].iloc[0]})"


def _integer_ticks(ax: Any) -> None:
    # lazy: heavy
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _legend(ax: Any) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="best")


def _empty(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="gray")
    ax.set_xticks([])
    ax.set_yticks([])
