"""The two arms of an A/B comparison: one config's seeds, from an experiment or trained here from a run config.

An ``Arm`` holds, per seed, the recorded status and best metric with that run's spike statistics, plus its steps
and spike episodes for the figure. ``arm_from_experiment`` takes a config of an existing experiment (the best one
by default, the same ranking as ``analyze``); ``arm_from_config`` trains a run config on the given seeds with
``run_trial`` (each seed in ``<out_dir>/seed=<s>``) and reads the runs back; ``make_arms`` does either for the
``compare`` command.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from tune_sched.analysis.experiment_analysis import RUN_SPIKE_COLUMNS, analyze_experiment, select_config
from tune_sched.analysis.spike_rules import SpikeRule
from tune_sched.analysis.spike_table import EPISODE_COLUMNS, spike_analysis
from tune_sched.core.errors import UsageError

__all__ = ["ARM_RUN_COLUMNS", "Arm", "arm_from_config", "arm_from_experiment", "make_arms"]

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


def make_arms(
    a: str | Path,
    b: str | Path,
    *,
    config_a: str | None = None,
    config_b: str | None = None,
    seeds: Sequence[int] | None = None,
    max_epochs: int | None = None,
    out: str | Path | None = None,
    num_threads: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[Arm, Arm]:
    """Arms A and B from two experiments (``config_a``/``config_b``, default their best) or two run configs.

    Two run configs are trained on the same ``seeds`` (default 0, 1, 2) into ``<out>/A`` and ``<out>/B`` (``out``
    new or empty; default a temporary directory, removed once the arms are read).

    Raises:
        UsageError: a directory that is no experiment, an experiment and a config mixed, or options that do not
            apply (seeds or max_epochs with experiments, config ids with run configs).
    """
    from tune_sched.analysis._workdir import work_dir
    from tune_sched.results.experiment import is_experiment

    kinds = []
    for label, path in (("A", a), ("B", b)):
        if Path(path).is_dir() and not is_experiment(path):
            raise UsageError("is a directory but not an experiment", path=f"{label} ({path})",
                             fix="pass an experiment directory or a run config YAML")
        kinds.append("an experiment" if is_experiment(path) else "a run config")
    if kinds[0] != kinds[1]:
        raise UsageError(f"A ({a}) is {kinds[0]} but B ({b}) is {kinds[1]}", path="compare",
                         fix="give two experiments or two run configs")
    if kinds[0] == "an experiment":
        for flag, value in (("--seeds", seeds), ("--max-epochs", max_epochs), ("--out", out)):
            if value is not None:
                raise UsageError("applies to two run configs only (experiments bring their runs)", path=flag,
                                 fix="remove it")
        return (arm_from_experiment(a, label="A", config_id=config_a, id_path="--config-a"),
                arm_from_experiment(b, label="B", config_id=config_b, id_path="--config-b"))
    for flag, value in (("--config-a", config_a), ("--config-b", config_b)):
        if value is not None:
            raise UsageError("applies to two experiments only", path=flag, fix="remove it")
    options: dict[str, Any] = dict(seeds=list(seeds) if seeds else [0, 1, 2], max_epochs=max_epochs,
                                   num_threads=num_threads, progress=progress)
    from tune_sched.config.run_config import load_run_config
    from tune_sched.train.preflight import preflight

    for path in (a, b):  # both are checked before A trains: a broken B must not cost A's training first
        preflight(load_run_config(path))
    with work_dir(out, prefix="tune-sched-compare-") as work:
        return (arm_from_config(a, label="A", out_dir=work / "A", **options),
                arm_from_config(b, label="B", out_dir=work / "B", **options))


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


def arm_from_config(
    path: str | Path,
    *,
    label: str,
    seeds: Sequence[int],
    out_dir: str | Path,
    max_epochs: int | None = None,
    num_threads: int | None = None,
    progress: Callable[[str], None] | None = None,
    spikes: SpikeRule | None = None,
) -> Arm:
    """Train the run config at ``path`` on ``seeds`` (into ``<out_dir>/seed=<s>``) and make it an arm.

    Raises:
        UsageError: a bad run config or ``max_epochs``.
    """
    import pyarrow.parquet as pq

    from tune_sched.config.run_config import load_run_config
    from tune_sched.train.progress import EpochPrinter
    from tune_sched.train.trial import run_trial

    config = load_run_config(path).with_overrides(max_epochs=max_epochs)
    out_dir = Path(out_dir)
    rows, steps = [], []
    for i, seed in enumerate(seeds, start=1):
        if progress:
            progress(f"training {label} ({Path(path).name}): seed {seed} ({i} of {len(seeds)})")
        printer = EpochPrinter(config, emit=progress, indent="  ") if progress else None  # per-epoch lines, as run
        result = run_trial(config, seed, out_dir / f"seed={seed}", config_id=label, checkpoint=False,
                           num_threads=num_threads, epoch_hook=printer)
        rows.append(result.to_dict())
        step_file = out_dir / f"seed={seed}" / "steps.parquet"
        if step_file.is_file():
            table = pq.read_table(step_file)
            if {"step", "train_loss"} <= set(table.column_names):
                steps.append(table.select(["seed", "step", "train_loss"]).to_pandas())
    steps_frame = pd.concat(steps, ignore_index=True) if steps else pd.DataFrame(columns=["seed", "step", "train_loss"])
    runs = pd.DataFrame(rows)
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
