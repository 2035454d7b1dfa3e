"""One experiment, analysed: every run's loss spikes, every config's across-seed statistics, its rank and Pareto flag.

``analyze_experiment(path)`` reads the experiment's tables (``tune_sched.results.experiment``), finds the spikes of
every run's per-step training loss (``spike_analysis``), ranks the configs by the robust score (``rank_configs``,
the same score the search optimises) and notes which config values differ between configs. ``export``, ``analyze``
and ``compare`` all rank through here, so rank 1 means the same config everywhere. Nothing here imports torch or Ray.

The score and spike settings are the experiment's own when its manifest has them (``settings.score`` and
``settings.spikes``: the YAML blocks of ``ScoreSettings`` and ``SpikeRule``), else the defaults; a caller may pass
others.

Example:
    >>> analysis = analyze_experiment("experiments/fno")  # doctest: +SKIP
    >>> analysis.ranking[["rank", "config_id", "score"]].head(3)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tune_sched.analysis.score import ScoreSettings, rank_configs
from tune_sched.analysis.spike_rules import SpikeRule
from tune_sched.analysis.spike_table import EPISODE_COLUMNS, SpikeAnalysis, spike_analysis
from tune_sched.config._space_tree import FAMILIES
from tune_sched.core.errors import UsageError, did_you_mean
from tune_sched.core.words import COUNTS_AS_DIVERGED, oriented
from tune_sched.results.experiment import load_experiment, read_manifest
from tune_sched.results.io import write_table
from tune_sched.results.storage import local_experiment

__all__ = [
    "ANALYSIS_FILE", "FAMILY_COLUMNS", "FAMILY_PARAMS", "RUN_SPIKE_COLUMNS", "ExperimentAnalysis", "analyze_experiment",
    "config_families", "param_label", "select_config", "unknown_config", "write_analysis_table",
]

ANALYSIS_FILE = "analysis.parquet"
RUN_SPIKE_COLUMNS = (
    "n_values", "n_nonfinite", "spike_count", "spike_rate", "max_peak_ratio", "mean_recovery", "frac_in_episodes",
    "unrecovered",
)
FAMILY_COLUMNS = ("optimizer", "lr_scheduler", "loss_scheduler")
"""Which arm a config belongs to: its optimizer's name, its LR scheduler's (``constant`` for none) and its loss
scheduler's mode (``none`` for none); ``loss_scheduler`` only in experiments where some config has one."""
FAMILY_PARAMS = tuple(f"cfg.{column}.{FAMILIES[column].key}" for column in FAMILY_COLUMNS)
"""The config columns that name a family (``cfg.lr_scheduler.name``): the family columns say the same, better."""
_KEYS = ["config_id", "seed"]
_PARAM_PREFIX = "cfg."
_SHOWN_IDS = 10  # valid config ids listed in an "unknown id" error


@dataclass(frozen=True)
class ExperimentAnalysis:
    """Everything ``analyze`` knows about an experiment (read-only tables; ``ranking`` is best first).

    Attributes:
        path: the experiment directory.
        name, metric, mode: from the manifest (``mode="min"``: a lower metric is better).
        runs: one row per (config_id, seed): the trials table's columns (status, best_metric, ...), the config's
            family columns (``FAMILY_COLUMNS``) and the run's spike statistics (``RUN_SPIKE_COLUMNS``; NaN for a
            run that recorded no steps).
        episodes: one row per spike episode (config_id, seed, then the ``Episode`` fields; positions in the run's
            steps).
        ranking: one row per config: ``rank``, ``config_id``, ``score``, the ``stats.SUMMARY_COLUMNS``, ``pareto``,
            ``n_completed``, ``n_pruned``, ``n_failed``, ``best_seed`` (None when every seed diverged),
            ``best_seed_metric``, ``max_peak_ratio``, ``unrecovered``, ``config_json``, the family columns
            (``FAMILY_COLUMNS``) and the varying parameters.
        params: the ``cfg.<key path>`` columns whose values differ between configs.
        steps: per step: config_id, seed, step, epoch and whichever of train_loss, lr, lr_group_* were recorded.
        epochs: the epochs table as recorded (validation metrics, LR and loss weights per epoch).
        score, spikes: the settings used.
    """

    path: Path
    name: str
    metric: str
    mode: str
    runs: pd.DataFrame
    episodes: pd.DataFrame
    ranking: pd.DataFrame
    params: tuple[str, ...]
    steps: pd.DataFrame
    epochs: pd.DataFrame
    score: ScoreSettings
    spikes: SpikeRule

    @property
    def n_seeds(self) -> int:
        """The largest number of seeds any config was run on."""
        return int(self.ranking["n_seeds"].max()) if len(self.ranking) else 0

    def config(self, config_id: str) -> dict[str, Any]:
        """The config (without seed) that ``config_id`` trained, as plain data."""
        row = select_config(self, config_id=config_id)
        return json.loads(row["config_json"]) if isinstance(row["config_json"], str) else {}


def analyze_experiment(
    path: str | Path,
    *,
    score: ScoreSettings | Mapping[str, Any] | None = None,
    spikes: SpikeRule | Mapping[str, Any] | None = None,
    n_boot: int = 1000,
) -> ExperimentAnalysis:
    """Read an experiment and compute its spikes, per-config statistics and ranking.

    Args:
        path: an experiment directory (made by ``tune-sched search`` or ``create_experiment``).
        score: the score's weights; default: the manifest's ``settings.score``, else ``ScoreSettings()``.
        spikes: the spike rule; default: the manifest's ``settings.spikes``, else ``SpikeRule()``.
        n_boot: bootstrap resamples for the intervals.

    Returns:
        The analysis (see ``ExperimentAnalysis``). Failed, diverged and pruned runs are kept: failed and diverged
        ones count as diverged in the score, pruned ones with the metric they reached.

    Raises:
        UsageError: not an experiment directory, no finished trial yet, or bad settings in the manifest.
    """
    path = local_experiment(path)  # an experiment at a URI is read from its local mirror
    manifest = read_manifest(path)
    settings = manifest.get("settings") or {}
    score = _score_settings(score if score is not None else settings.get("score"))
    rule = _spike_rule(spikes if spikes is not None else settings.get("spikes"))
    metric, mode = str(manifest.get("metric", "val_loss")), str(manifest.get("mode", "min"))

    trials, epochs, steps = _read_tables(path)
    if trials.empty or "config_id" not in trials.columns:
        raise UsageError("has no finished trial yet", path=str(path),
                         fix="wait until a trial writes trials/<config_id>/seed=<s>/result.json")
    found = _spikes(steps, rule)
    trials = _with_families(trials)
    runs = trials.merge(found.runs, on=_KEYS, how="left", sort=True)
    ranking = rank_configs(runs, mode=mode, metric="best_metric", spikes="spike_count", n_boot=n_boot,
                           spread_weight=score.spread_weight, divergence_penalty=score.divergence_penalty,
                           spike_weight=score.spike_weight)
    params = _varying_params(trials)
    ranking = ranking.merge(_per_config_extras(runs, params, mode), on="config_id", how="left", sort=False)
    return ExperimentAnalysis(path=path, name=str(manifest.get("name", path.name)), metric=metric, mode=mode,
                              runs=runs, episodes=found.episodes, ranking=ranking, params=params, steps=steps,
                              epochs=epochs, score=score, spikes=rule)


def select_config(
    analysis: ExperimentAnalysis, *, rank: int | None = None, config_id: str | None = None,
    rank_path: str = "--rank", id_path: str = "--trial",
) -> pd.Series:
    """The ranking row of the config at ``rank`` (1 = best) or with ``config_id`` (give one of them; neither: rank 1).

    Raises:
        UsageError: both given, a rank out of range, or an unknown config id (naming some valid ones and the
            closest).
    """
    ranking = analysis.ranking
    if rank is not None and config_id is not None:
        raise UsageError(f"cannot be combined with {id_path}", path=rank_path, fix="give one of them")
    if config_id is not None:
        ids = ranking["config_id"].astype(str).tolist()
        if config_id not in ids:
            raise unknown_config(config_id, ids, path=id_path)
        return ranking.iloc[ids.index(config_id)]
    rank = 1 if rank is None else rank
    if not 1 <= rank <= len(ranking):
        raise UsageError(f"must be between 1 and {len(ranking)} (the experiment's configs), but got {rank}",
                         path=rank_path, fix=f"pick a rank from 'tune-sched analyze {analysis.path}'")
    return ranking.iloc[rank - 1]


def unknown_config(config_id: str, ids: list[str], *, path: str) -> UsageError:
    """An error for a config id the experiment does not have: the closest one and the first few valid ones."""
    shown = ", ".join(ids[:_SHOWN_IDS]) + (f", ... ({len(ids) - _SHOWN_IDS} more)" if len(ids) > _SHOWN_IDS else "")
    return UsageError(f"unknown config id {config_id!r}{did_you_mean(config_id, ids)}", path=path,
                      fix=f"use one of: {shown}")


def write_analysis_table(analysis: ExperimentAnalysis, out_dir: str | Path) -> Path:
    """Write ``analysis.parquet`` (the ranking: one row per config) into ``out_dir`` atomically; return its path."""
    # lazy: heavy
    import pyarrow as pa

    frame = analysis.ranking.copy()
    for column in frame.columns:
        if frame[column].dtype == object:  # mixed parameter values (numbers and None, lists as JSON) -> text
            frame[column] = [None if _missing(v) else (v if isinstance(v, str) else json.dumps(v))
                             for v in frame[column]]
    out = Path(out_dir) / ANALYSIS_FILE
    write_table(out, pa.Table.from_pandas(frame, preserve_index=False))
    return out


def param_label(column: str) -> str:
    """``cfg.optimizer.lr`` -> ``optimizer.lr``."""
    return column[len(_PARAM_PREFIX):] if column.startswith(_PARAM_PREFIX) else column


def _read_tables(path: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The trials and epochs tables in full and the steps table's keys, loss and LR columns only."""
    # lazy: heavy
    import pyarrow.parquet as pq

    tables = load_experiment(path, columns={"steps": []})  # gathers the seed folders first when stale
    names = pq.read_schema(path / "steps.parquet").names
    wanted = [c for c in names if c in ("config_id", "seed", "step", "epoch", "train_loss", "lr")
              or c.startswith("lr_group_")]
    steps = pq.read_table(path / "steps.parquet", columns=wanted).to_pandas()
    return tables["trials"].to_pandas(), _with_keys(tables["epochs"].to_pandas(), "epoch"), _with_keys(steps, "step")


def _with_keys(frame: pd.DataFrame, order: str) -> pd.DataFrame:
    """An empty table (no run got that far) still has its key columns, so that filtering by config works."""
    for column in (*_KEYS, order):
        if column not in frame.columns:
            frame[column] = pd.Series(dtype=object if column == "config_id" else "int64")
    return frame


def _spikes(steps: pd.DataFrame, rule: SpikeRule) -> Any:
    """Spike statistics per run and episodes; empty frames when no run recorded a training loss."""
    if steps.empty or not {"config_id", "seed", "step", "train_loss"} <= set(steps.columns):
        return SpikeAnalysis(runs=pd.DataFrame(columns=[*_KEYS, *RUN_SPIKE_COLUMNS]),
                             episodes=pd.DataFrame(columns=[*_KEYS, *EPISODE_COLUMNS]))
    found = spike_analysis(steps, by=_KEYS, value="train_loss", step="step", rule=rule)
    return type(found)(runs=found.runs[[*_KEYS, *RUN_SPIKE_COLUMNS]], episodes=found.episodes)


def _varying_params(trials: pd.DataFrame) -> tuple[str, ...]:
    """The ``cfg.*`` columns whose values differ between configs, without the noise of optional blocks.

    A column differs when it takes two or more distinct values (missing ones not counted). A block present in some
    configs only (a ``loss_scheduler``, say) adds one column saying so: its ``name`` or ``mode`` key when it has one,
    else its first key, unless one of its columns already differs.
    """
    configs = trials.drop_duplicates("config_id")
    columns = [c for c in trials.columns if c.startswith(_PARAM_PREFIX)]
    values = {c: [_hashable(v) for v in configs[c]] for c in columns}
    differs = [c for c in columns if len({v for v in values[c] if v is not None}) > 1]
    shown_blocks = {_block(c) for c in differs}
    optional: dict[str, list[str]] = {}
    for column in columns:
        if column not in differs and None in values[column] and {v for v in values[column] if v is not None}:
            optional.setdefault(_block(column), []).append(column)
    for block, members in optional.items():
        if block not in shown_blocks:
            named = [m for m in members if m.rsplit(".", 1)[-1] in ("name", "mode")]
            differs.append((named or members)[0])
    return tuple(c for c in columns if c in differs)


def config_families(config: Mapping[str, Any] | str | None) -> dict[str, str]:
    """The arm of a config (a dict or its JSON): ``{"optimizer": name, "lr_scheduler": name, "loss_scheduler": mode}``.

    A block the config does not set is named as ``one_of`` names it: ``constant`` for no LR scheduler, ``none`` for
    no loss scheduler; a config without an optimizer block (unknown) gives ``?``.

    Example:
        >>> config_families({"optimizer": {"name": "Adam", "lr": 0.01}, "lr_scheduler": None})
        {'optimizer': 'Adam', 'lr_scheduler': 'constant', 'loss_scheduler': 'none'}
    """
    if isinstance(config, str):
        config = json.loads(config)
    config = config if isinstance(config, Mapping) else {}
    names = {}
    for column in FAMILY_COLUMNS:
        family, block = FAMILIES[column], config.get(column)
        if isinstance(block, Mapping) and block.get(family.key) is not None:
            names[column] = str(block[family.key])
        else:
            names[column] = family.none_names[0] if family.none_names else "?"
    return names


def _with_families(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials with the family columns; ``loss_scheduler`` only when some config has one."""
    texts = trials["config_json"] if "config_json" in trials.columns else pd.Series(None, index=trials.index)
    names = pd.DataFrame([config_families(t if isinstance(t, str) else None) for t in texts], index=trials.index)
    if (names["loss_scheduler"] == "none").all():
        names = names.drop(columns="loss_scheduler")
    return pd.concat([trials.drop(columns=[c for c in names.columns if c in trials.columns]), names], axis=1)


def _block(column: str) -> str:
    """``cfg.lr_scheduler.gamma`` -> ``cfg.lr_scheduler``."""
    return ".".join(column.split(".")[:2])


def _per_config_extras(runs: pd.DataFrame, params: tuple[str, ...], mode: str) -> pd.DataFrame:
    """Status counts, the best seed, spike extremes, the config and its varying parameters, per config."""
    rows = []
    for config_id, group in runs.groupby("config_id", sort=True):
        status = group["status"].astype(str) if "status" in group else pd.Series("completed", index=group.index)
        ok = group[~status.isin(COUNTS_AS_DIVERGED) & np.isfinite(group["best_metric"].astype(float))]
        best = ok.loc[oriented(ok["best_metric"], mode).idxmin()] if len(ok) else None
        first = group.iloc[0]
        rows.append({
            "config_id": config_id,
            "n_completed": int((status == "completed").sum()),
            "n_pruned": int((status == "pruned").sum()),
            "n_failed": int((status == "failed").sum()),
            "best_seed": int(best["seed"]) if best is not None else None,
            "best_seed_metric": float(best["best_metric"]) if best is not None else math.nan,
            "max_peak_ratio": _nanmax(group["max_peak_ratio"]),
            "unrecovered": int(group["unrecovered"].fillna(False).astype(bool).sum()),
            "config_json": first.get("config_json"),
            **{column: first[column] for column in FAMILY_COLUMNS if column in group.columns},
            **{column: _plain(first[column]) for column in params},
        })
    frame = pd.DataFrame(rows)
    frame["best_seed"] = pd.array(frame["best_seed"], dtype="Int64")
    return frame


def _score_settings(value: Any) -> ScoreSettings:
    if isinstance(value, ScoreSettings):
        return value
    return ScoreSettings.from_dict(value or {}, path="settings.score")


def _spike_rule(value: Any) -> SpikeRule:
    if isinstance(value, SpikeRule):
        return value
    return SpikeRule.from_dict(value or {}, path="settings.spikes")


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _plain(value: Any) -> Any:
    """numpy scalars as Python values; NaN and NA as None."""
    if _missing(value):
        return None
    return value.item() if isinstance(value, np.generic) else value


def _hashable(value: Any) -> Any:
    value = _plain(value)
    return json.dumps(value, sort_keys=True) if isinstance(value, (list, dict)) else value


def _nanmax(values: pd.Series) -> float:
    x = values.to_numpy(dtype=np.float64, na_value=np.nan)
    x = x[np.isfinite(x)]
    return float(x.max()) if x.size else math.nan
