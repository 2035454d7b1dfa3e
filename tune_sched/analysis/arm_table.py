"""The arms of an experiment: its configs grouped by LR scheduler family (and by any other ``one_of`` choice).

A search over ``lr_scheduler: {one_of: {constant: null, ReduceLROnPlateau: {...}}}`` asks a question about arms,
not configs: does one family spike less than the other? ``arm_table`` answers it from every run of every config:

- per arm: configs, runs, the **spike rate** (runs with at least one spike episode), **episodes per run**, the
  **IQM of the best metric** over the runs that did not diverge, the **divergence rate**, and in how many runs
  the LR ever changed (``lr_changed``, from the trials table or the recorded LR);
- intervals (95 %): Wilson over runs for the two rates; for episodes per run and the IQM a t interval with the
  configs as the units (a config's seeds go together: they share its settings, so they are not independent
  evidence), skew-corrected as ``stats.mean_ci`` is;
- ``arm_sentences``: per grouping, one sentence comparing each arm with the reference arm (``constant`` for LR
  schedulers, else the arm with the most runs) on episodes per run, with Welch's interval of the difference
  (configs as the units) and, when runs of the two arms share a seed and everything but that choice (a grid over
  both), how many of these twins spiked less, more or as often; then one sentence per scheduler arm that never
  changed the LR in some of its runs.

Groupings: ``lr_scheduler`` always; ``optimizer`` and ``loss_scheduler`` when configs differ in them. Pruned runs
count with what they reached, so an arm the pruner favoured trained longer: read the IQM with that in mind.

Example:
    >>> table = arm_table(analysis)  # doctest: +SKIP
    >>> table[["grouping", "arm", "n_runs", "spike_rate", "episodes_per_run"]]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tune_sched.analysis.ranking_table import format_table, format_value
from tune_sched.analysis.stats import iqm, mean_ci, run_diverged, t_quantile, wilson_interval

if TYPE_CHECKING:
    from tune_sched.analysis.experiment_analysis import ExperimentAnalysis

__all__ = ["ARM_COLUMNS", "arm_groupings", "arm_sentences", "arm_table", "format_arm_section", "run_lr_changed"]

ARM_COLUMNS = (
    "grouping", "arm", "n_configs", "n_runs", "spike_runs", "spike_rate", "spike_rate_lo", "spike_rate_hi",
    "episodes_per_run", "episodes_lo", "episodes_hi", "iqm", "iqm_lo", "iqm_hi", "n_diverged", "divergence_rate",
    "divergence_lo", "divergence_hi", "lr_known", "lr_changed",
)
_REFERENCE = {"lr_scheduler": "constant"}
FEW_CONFIGS = 6
"""Below this many configs per arm, the sentences say the intervals are rough: configs are their units, and the
interval of sparse spike counts over 5 configs holds 91 % of its 95 % (tests/analysis/test_arm_table.py)."""


def arm_groupings(analysis: ExperimentAnalysis) -> list[str]:
    """The family columns the arms are grouped by: ``lr_scheduler``, then any other that differs between configs."""
    runs = analysis.runs
    out = ["lr_scheduler"] if "lr_scheduler" in runs.columns else []
    for column in ("optimizer", "loss_scheduler"):
        if column in runs.columns and runs[column].nunique() > 1:
            out.append(column)
    return out


def run_lr_changed(analysis: ExperimentAnalysis) -> pd.Series:
    """Per run (aligned with ``analysis.runs``): did its LR ever change? ``lr_changed`` of the trials table, else
    (an experiment recorded before that column) whether any recorded ``lr_group_*`` left its first value; NA when
    neither is known."""
    runs = analysis.runs
    known = runs["lr_changed"] if "lr_changed" in runs.columns else pd.Series(pd.NA, index=runs.index)
    known = known.astype("boolean")
    if not known.isna().any():
        return known
    steps = analysis.steps
    lr_columns = [c for c in steps.columns if c.startswith("lr_group_")] or [c for c in ("lr",) if c in steps]
    if not lr_columns or steps.empty:
        return known
    by_run = steps.groupby(["config_id", "seed"], sort=False)[lr_columns]
    moved = (by_run.nunique(dropna=True) > 1).any(axis=1)
    keys = pd.MultiIndex.from_frame(runs[["config_id", "seed"]])
    recorded = pd.Series(moved.reindex(keys).to_numpy(), index=runs.index, dtype="boolean")
    return known.fillna(recorded)


def arm_table(analysis: ExperimentAnalysis) -> pd.DataFrame:
    """One row per (grouping, arm), columns ``ARM_COLUMNS``; arms of a grouping in order of their best config."""
    runs = analysis.runs.copy()
    runs["_diverged"] = run_diverged(runs, metric="best_metric")
    runs["_lr_changed"] = run_lr_changed(analysis)
    order = {cid: i for i, cid in enumerate(analysis.ranking["config_id"])}
    rows = []
    for grouping in arm_groupings(analysis):
        arms = sorted(runs.groupby(grouping, sort=False),
                      key=lambda kv: min(order.get(c, len(order)) for c in kv[1]["config_id"]))
        for arm, group in arms:
            rows.append({"grouping": grouping, "arm": str(arm), **_arm_stats(group)})
    return pd.DataFrame(rows, columns=list(ARM_COLUMNS))


def _arm_stats(group: pd.DataFrame) -> dict[str, Any]:
    counts = group["spike_count"].to_numpy(dtype=np.float64, na_value=np.nan)
    checked = np.isfinite(counts)
    spiky = int((counts[checked] > 0).sum())
    n_runs, bad = len(group), int(group["_diverged"].sum())
    ok = group[~group["_diverged"]]
    lr = group["_lr_changed"].dropna()
    configs = group["config_id"].to_numpy()
    episodes_lo, episodes_hi = _config_interval(configs[checked], counts[checked], "mean")
    metric = ok["best_metric"].to_numpy(dtype=np.float64)
    iqm_lo, iqm_hi = _config_interval(ok["config_id"].to_numpy(), metric, "iqm")
    spike_lo, spike_hi = wilson_interval(spiky, int(checked.sum()))
    div_lo, div_hi = wilson_interval(bad, n_runs)
    return {
        "n_configs": group["config_id"].nunique(), "n_runs": n_runs, "spike_runs": spiky,
        "spike_rate": spiky / checked.sum() if checked.any() else math.nan,
        "spike_rate_lo": spike_lo, "spike_rate_hi": spike_hi,
        "episodes_per_run": float(counts[checked].mean()) if checked.any() else math.nan,
        "episodes_lo": episodes_lo, "episodes_hi": episodes_hi,
        "iqm": iqm(metric), "iqm_lo": iqm_lo, "iqm_hi": iqm_hi,
        "n_diverged": bad, "divergence_rate": bad / n_runs if n_runs else math.nan,
        "divergence_lo": div_lo, "divergence_hi": div_hi,
        "lr_known": len(lr), "lr_changed": int(lr.astype(bool).sum()),
    }


def _config_groups(configs: np.ndarray, values: np.ndarray) -> list[np.ndarray]:
    """The finite values per config: the units an interval counts (each run alone when there is one config)."""
    finite = np.isfinite(values)
    configs, values = configs[finite], values[finite]
    groups = [values[configs == c] for c in pd.unique(configs)]
    return groups if len(groups) > 1 else [values[i:i + 1] for i in range(values.size)]


def _config_units(configs: np.ndarray, values: np.ndarray, statistic: str) -> tuple[float, np.ndarray]:
    """The arm's ``statistic`` (``"mean"`` or ``"iqm"``) over its runs, and one value per config whose mean it is
    and whose spread across configs is its standard error's: the statistic plus the config's share of its
    linearisation (a run's deviation from the mean, or its winsorized deviation scaled as the IQM's; summed over
    the config's runs, times configs / runs). A config's seeds share its settings, so they are not independent
    evidence; configs are. Empty without runs."""
    groups = _config_groups(configs, values)
    runs = np.concatenate(groups) if groups else np.empty(0)
    n, k = runs.size, len(groups)
    if n == 0:
        return math.nan, np.empty(0)
    if statistic == "mean":
        centre = float(runs.mean())
        shares = [g - centre for g in groups]
    else:
        ordered = np.sort(runs)
        cut = n // 4
        low, high = ordered[cut], ordered[n - cut - 1]
        centre, mean_w = iqm(runs), float(np.clip(runs, low, high).mean())
        shares = [(np.clip(g, low, high) - mean_w) * n / (n - 2 * cut) for g in groups]
    return centre, np.array([centre + k / n * float(share.sum()) for share in shares])


def _config_interval(configs: np.ndarray, values: np.ndarray, statistic: str) -> tuple[float, float]:
    """95 % interval of the arm's ``statistic`` with configs as the units: the skew-corrected t interval of the
    mean of ``_config_units`` (``stats.mean_ci``); (NaN, NaN) with fewer than two units."""
    _, units = _config_units(configs, values, statistic)
    return mean_ci(units, correct_skew=True)


def _config_diff(a: pd.DataFrame, b: pd.DataFrame) -> tuple[float, float]:
    """95 % interval of mean episodes per run of ``b`` minus ``a``, configs as the units: Welch's, with its degrees
    of freedom rounded down (the t quantile is computed without scipy)."""
    units = [_config_units(f["config_id"].to_numpy(), f["spike_count"].to_numpy(np.float64, na_value=np.nan),
                           "mean") for f in (a, b)]
    (centre_a, ua), (centre_b, ub) = units
    if ua.size < 2 or ub.size < 2:
        return math.nan, math.nan
    va, vb = ua.var(ddof=1) / ua.size, ub.var(ddof=1) / ub.size
    diff = centre_b - centre_a
    if va + vb == 0:
        return diff, diff
    df = (va + vb) ** 2 / (va**2 / (ua.size - 1) + vb**2 / (ub.size - 1))
    half = t_quantile(0.95, max(1, int(df))) * math.sqrt(va + vb)
    return diff - half, diff + half


def arm_sentences(analysis: ExperimentAnalysis, table: pd.DataFrame | None = None) -> list[str]:
    """Per grouping, the comparison sentence, then one sentence per scheduler arm whose LR stayed put in some runs."""
    table = arm_table(analysis) if table is None else table
    sentences = []
    for grouping, arms in table.groupby("grouping", sort=False):
        sentences.append(_answer(analysis, grouping, arms))
        if grouping == "lr_scheduler":
            sentences += [s for s in (_inaction(row) for _, row in arms.iterrows()) if s]
    return sentences


def _answer(analysis: ExperimentAnalysis, grouping: str, arms: pd.DataFrame) -> str:
    """Does each arm spike less than the reference arm? The difference of episodes per run and its interval."""
    if len(arms) < 2:
        arm = arms.iloc[0]
        return (f"Every config used {grouping} `{arm['arm']}` ({_episodes(arm)}): there is no other arm to compare "
                "it with.")
    reference = _REFERENCE.get(grouping)
    if reference not in set(arms["arm"]):
        reference = arms.sort_values("n_runs", ascending=False, kind="mergesort").iloc[0]["arm"]
    ref = arms[arms["arm"] == reference].iloc[0]
    runs = analysis.runs
    ref_runs = runs[runs[grouping].astype(str) == reference]
    parts = []
    for _, arm in arms[arms["arm"] != reference].iterrows():
        lo, hi = _config_diff(ref_runs, runs[runs[grouping].astype(str) == arm["arm"]])
        diff = float(arm["episodes_per_run"]) - float(ref["episodes_per_run"])
        name = _arm_name(grouping, arm["arm"])
        if not (math.isfinite(lo) and math.isfinite(hi)):
            verdict = "too few runs for an interval, so these runs cannot tell"
        elif lo == hi == 0:
            verdict = "no run of either arm spiked, so these runs cannot tell"
        elif hi < 0 or lo > 0:
            verdict = f"the interval excludes 0: on these runs {name} spiked {'less' if hi < 0 else 'more'} often"
        else:
            verdict = (f"the interval includes 0, so these runs cannot tell whether {name} changes how often the "
                       "loss spikes")
        parts.append(f"{name}: {_episodes(arm)} against {_episodes(ref)} with {_arm_name(grouping, reference)}, a "
                     f"difference of {diff:+.3g} (95% interval {lo:+.3g} to {hi:+.3g}, configs as the units): {verdict}"
                     + _paired(runs, grouping, reference, arm["arm"]))
    few = (f" With fewer than {FEW_CONFIGS} configs per arm the intervals are rough."
           if arms["n_configs"].min() < FEW_CONFIGS else "")
    return "; ".join(parts) + "." + few


def _paired(runs: pd.DataFrame, grouping: str, reference: str, arm: str) -> str:
    """Runs of ``arm`` matched with a run of ``reference`` on the same seed and otherwise the same config: how many
    had fewer, more or as many spike episodes as their twin ("" when no run has a twin)."""
    def keyed(name: str) -> pd.DataFrame:
        mine = runs[(runs[grouping].astype(str) == name) & runs["spike_count"].notna()]
        rest = [_without(text, grouping) for text in mine.get("config_json", pd.Series(None, index=mine.index))]
        return pd.DataFrame({"rest": rest, "seed": mine["seed"].to_numpy(), "spikes": mine["spike_count"].to_numpy()})

    pairs = keyed(arm).merge(keyed(reference), on=["rest", "seed"], suffixes=("", "_ref")).dropna(subset=["rest"])
    if pairs.empty:
        return ""
    diff = pairs["spikes"] - pairs["spikes_ref"]
    return (f"; matched with its twin on the same seed and otherwise the same config ({len(pairs)} pairs of runs), "
            f"{_arm_name(grouping, arm)} had fewer spike episodes in {int((diff < 0).sum())}, more in "
            f"{int((diff > 0).sum())} and as many in {int((diff == 0).sum())}")


def _without(config_json: Any, block: str) -> str | None:
    """The config (its JSON) without ``block``: what two runs of different arms must share to be twins."""
    if not isinstance(config_json, str):
        return None
    config = json.loads(config_json)
    config.pop(block, None)
    return json.dumps(config, sort_keys=True)


def _inaction(arm: pd.Series) -> str:
    """``ReduceLROnPlateau never lowered the LR in 12 of 12 runs: this arm behaved as a constant LR`` and the like."""
    if arm["arm"] == "constant" or not arm["lr_known"]:
        return ""
    still, known = int(arm["lr_known"] - arm["lr_changed"]), int(arm["lr_known"])
    verb = "lowered" if arm["arm"] == "ReduceLROnPlateau" else "changed"
    if still == known:
        return f"{arm['arm']} never {verb} the LR in {still} of {known} runs: this arm behaved as a constant LR."
    if still:
        return (f"{arm['arm']} {verb} the LR in {int(arm['lr_changed'])} of {known} runs; in the other {still} it "
                "never acted (a constant LR in all but name).")
    return f"{arm['arm']} {verb} the LR in every one of its {known} runs."


def format_arm_section(analysis: ExperimentAnalysis, *, markdown: bool = False, width: int | None = None) -> str:
    """The arm table (one row per arm, intervals in brackets) followed by the sentences; empty without arms.

    With ``width``, a text table wider than that leaves out, in this order, the configs, runs and LR-changed
    columns (the runs are the denominators of the rates; the sentences say whether the LR changed) and says so.
    """
    table = arm_table(analysis)
    if table.empty:
        return ""
    headers = ["grouping", "arm", "configs", "runs", "spike rate", "episodes/run", f"IQM {analysis.metric}",
               "diverged", "LR changed"]
    rows = []
    for _, a in table.iterrows():
        rows.append([a["grouping"], a["arm"], int(a["n_configs"]), int(a["n_runs"]),
                     f"{a['spike_runs']}/{a['n_runs']} {_interval(a['spike_rate_lo'], a['spike_rate_hi'])}",
                     f"{_num(a['episodes_per_run'])} {_interval(a['episodes_lo'], a['episodes_hi'])}",
                     f"{_num(a['iqm'])} {_interval(a['iqm_lo'], a['iqm_hi'])}",
                     f"{a['n_diverged']}/{a['n_runs']} {_interval(a['divergence_lo'], a['divergence_hi'])}",
                     f"{a['lr_changed']}/{a['lr_known']}" if a["lr_known"] else "-"])
    sentences = " ".join(arm_sentences(analysis, table))
    if markdown:
        return format_table(headers, rows, markdown=True) + "\n\n" + sentences
    # text: one small table per grouping under its own title, instead of a grouping column
    groups = {str(g): [row[1:] for row in rows if row[0] == g] for g in dict.fromkeys(r[0] for r in rows)}
    headers, left_out = headers[1:], []
    for name in ("configs", "runs", "LR changed"):
        if width is None or max(_text_width(headers, g) for g in groups.values()) <= width:
            break
        i = headers.index(name)
        headers, groups = headers[:i] + headers[i + 1:], {k: [r[:i] + r[i + 1:] for r in g] for k, g in groups.items()}
        left_out.append(name)
    text = "\n\n".join(f"arms by {grouping} (95% intervals in brackets):\n{format_table(headers, group)}"
                        for grouping, group in groups.items())
    if left_out:
        text += f"\n(left out to fit {width} columns: {', '.join(left_out)}; --wide shows them)"
    return text + "\n\n" + sentences


def _text_width(headers: list[str], rows: list[list[Any]]) -> int:
    return max(len(line) for line in format_table(headers, rows).splitlines())


def _arm_name(grouping: str, arm: str) -> str:
    if grouping == "lr_scheduler" and arm == "constant":
        return "a constant LR"
    return "no loss scheduler" if grouping == "loss_scheduler" and arm == "none" else f"`{arm}`"


def _episodes(arm: pd.Series) -> str:
    spiked = f"{int(arm['spike_runs'])} of {int(arm['n_runs'])} runs"
    return f"{_num(arm['episodes_per_run'])} spike episodes per run ({spiked})"


def _interval(lo: float, hi: float) -> str:
    """``[lo, hi]`` to three significant digits (an interval's ends carry less precision than its centre)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "[-]"
    return f"[{float(lo):.3g}, {float(hi):.3g}]"


def _num(value: Any) -> str:
    return format_value(float(value))
