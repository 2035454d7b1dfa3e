"""The two arms of an A/B comparison: one config's seeds, from an experiment or trained here from a run config.

An ``Arm`` holds, per seed, the recorded status and best metric with that run's spike statistics, plus its steps
and spike episodes for the figure. ``arm_from_experiment`` takes a config of an existing experiment (the best one
by default, the same ranking as ``analyze``); ``arm_from_runs`` reads the runs of a run config trained on some
seeds (each seed in ``<out_dir>/seed=<s>``). Training those runs is ``tune_sched.rerun.arms``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from tune_sched.analysis.experiment_analysis import RUN_SPIKE_COLUMNS, analyze_experiment, select_config
from tune_sched.analysis.spike_rules import SpikeRule
from tune_sched.analysis.spike_table import EPISODE_COLUMNS, spike_analysis

__all__ = ["ARM_RUN_COLUMNS", "Arm", "arm_from_experiment", "arm_from_runs"]

ARM_RUN_COLUMNS = ("seed", "status", "reason", "best_metric", "best_epoch", "epochs_run", *RUN_SPIKE_COLUMNS)


@dataclass(frozen=True)
class Arm:
    """One arm: a config and its runs.

    Attributes:
        label: ``"A"`` (control) or ``"B"`` (treatment).
        name: how the arm is shown, e.g. ``"fno:3f2a_00007"`` or ``"high_lr.yaml"``.
        source: the experiment directory or the config file.
        config_id: the experiment's config id (None for a config file).
        metric, mode: the metric compared and whether lower (``"min"``) or higher is better.
        runs: one row per seed, columns ``ARM_RUN_COLUMNS`` (spike columns NaN for a run without steps).
        steps: per step: seed, step, train_loss (for the figure).
        episodes: spike episodes: seed, then the ``Episode`` fields.
        config: the config (without seed) as plain data.
    """

    label: str
    name: str
    source: str
    config_id: str | None
    metric: str
    mode: str
    runs: pd.DataFrame
    steps: pd.DataFrame
    episodes: pd.DataFrame
    config: dict[str, Any]


def arm_from_experiment(path: str | Path, *, label: str, config_id: str | None = None,
                        id_path: str = "--config") -> Arm:
    """The arm of ``config_id`` (default: the experiment's best config) of an experiment.

    Raises:
        UsageError: not an experiment, no finished trial, or an unknown config id (named as ``id_path``).
    """
    analysis = analyze_experiment(path)
    row = select_config(analysis, config_id=config_id, id_path=id_path)
    cid = str(row["config_id"])
    runs = analysis.runs[analysis.runs["config_id"] == cid]
    steps = analysis.steps[analysis.steps["config_id"] == cid]
    episodes = analysis.episodes[analysis.episodes["config_id"] == cid]
    return Arm(label=label, name=f"{analysis.name}:{cid}", source=str(path), config_id=cid, metric=analysis.metric,
               mode=analysis.mode, runs=_run_columns(runs), steps=_keep(steps, ["seed", "step", "train_loss"]),
               episodes=_keep(episodes, ["seed", *EPISODE_COLUMNS]), config=analysis.config(cid))


def arm_from_runs(
    path: str | Path,
    config: Any,
    *,
    label: str,
    results: Sequence[Mapping[str, Any]],
    out_dir: str | Path,
    spikes: SpikeRule | None = None,
) -> Arm:
    """The arm of run config ``config`` (read from ``path``) whose seeds trained into ``<out_dir>/seed=<s>``.

    ``results`` are the runs' ``TrialResult.to_dict()`` rows; their steps are read from each seed's
    ``steps.parquet`` and their spike episodes found with ``spikes`` (default the default rule).
    """
    # lazy: heavy
    import pyarrow.parquet as pq

    out_dir = Path(out_dir)
    steps = []
    for row in results:
        step_file = out_dir / f"seed={row['seed']}" / "steps.parquet"
        if step_file.is_file():
            table = pq.read_table(step_file)
            if {"step", "train_loss"} <= set(table.column_names):
                steps.append(table.select(["seed", "step", "train_loss"]).to_pandas())
    steps_frame = pd.concat(steps, ignore_index=True) if steps else pd.DataFrame(columns=["seed", "step", "train_loss"])
    runs = pd.DataFrame([dict(row) for row in results])
    episodes = pd.DataFrame(columns=["seed", *EPISODE_COLUMNS])
    if len(steps_frame):
        found = spike_analysis(steps_frame, by=["seed"], value="train_loss", step="step", rule=spikes or SpikeRule())
        runs = runs.merge(found.runs[["seed", *RUN_SPIKE_COLUMNS]], on="seed", how="left")
        episodes = found.episodes
    plain = config.to_dict()
    plain.pop("seed", None)
    return Arm(label=label, name=Path(path).name, source=str(path), config_id=None, metric=config.metric,
               mode=config.mode, runs=_run_columns(runs), steps=steps_frame, episodes=episodes,
               config=json.loads(json.dumps(plain)))


def _run_columns(runs: pd.DataFrame) -> pd.DataFrame:
    out = runs.reindex(columns=list(ARM_RUN_COLUMNS)).sort_values("seed").reset_index(drop=True)
    return out


def _keep(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return frame.reindex(columns=columns).reset_index(drop=True)
