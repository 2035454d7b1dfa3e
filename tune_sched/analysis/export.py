"""Export one config of an experiment as a run config: concrete values, ready for ``tune-sched run``.

The config is the one a trial actually trained (its recorded ``config.yaml``, re-validated as a ``RunConfig`` so
every default is written out), picked by rank (1 = best, the same ranking as ``analyze``) or by config id. Its
seed is the config's best seed (the best metric among the seeds that did not diverge), or 0 when every seed
diverged or failed; the header says which and why, where the config came from and how it scored.

Example of the header::

    # Run config exported by tune-sched from experiment 'fno' (/data/experiments/fno)
    # config_id: 3f2a_00007, rank 1 of 40 by robust score 0.01234 (val_loss, lower is better)
    # IQM 0.01190 over 3 seeds (std 0.0004), 0 of 3 seeds diverged, 0.33 loss spikes per seed
    # seed: 2, the config's best seed (best val_loss 0.01172)
    # train it with: tune-sched run best.yaml
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tune_sched.analysis.experiment_analysis import ExperimentAnalysis, analyze_experiment, select_config
from tune_sched.analysis.ranking_table import format_value
from tune_sched.config.run_config import RunConfig
from tune_sched.core.errors import UsageError
from tune_sched.core.words import BETTER
from tune_sched.results.io import atomic_write_text

__all__ = ["ExportResult", "export_config", "exported_yaml"]


@dataclass(frozen=True)
class ExportResult:
    """What ``export_config`` wrote: the file, the config and how it was chosen."""

    path: Path
    config_id: str
    rank: int
    score: float
    seed: int
    best_seed: bool
    config: dict[str, Any]
    text: str


def export_config(
    experiment: str | Path | ExperimentAnalysis,
    out: str | Path,
    *,
    rank: int | None = None,
    config_id: str | None = None,
    force: bool = False,
) -> ExportResult:
    """Write the config at ``rank`` (default 1) or with ``config_id`` as a run config YAML file at ``out``.

    Args:
        experiment: an experiment directory, or its analysis (to reuse one ranking).
        out: the YAML file to write.
        rank: the config's rank (1 = best); not together with ``config_id``.
        config_id: the config's id (the trial id of the search).
        force: overwrite an existing ``out``.

    Raises:
        UsageError: ``out`` exists (without ``force``) or is a directory, a rank out of range, an unknown config
            id, or a config with no recorded ``config.yaml``.
    """
    out = Path(out)
    if out.is_dir():
        raise UsageError("is a directory", path="--out", fix="give a file name, e.g. --out best.yaml")
    if out.exists() and not force:
        raise UsageError(f"{out} already exists", path="--out", fix="pass --force to overwrite it, or another --out")
    analysis = experiment if isinstance(experiment, ExperimentAnalysis) else analyze_experiment(experiment)
    row = select_config(analysis, rank=rank, config_id=config_id)
    text, config, seed, best = exported_yaml(analysis, row, out_name=out.name)
    atomic_write_text(out, text)
    return ExportResult(path=out, config_id=str(row["config_id"]), rank=int(row["rank"]), score=float(row["score"]),
                        seed=seed, best_seed=best, config=config, text=text)


def exported_yaml(
    analysis: ExperimentAnalysis, row: Any, *, out_name: str = "best.yaml"
) -> tuple[str, dict[str, Any], int, bool]:
    """The YAML text (header and config), the config, its seed and whether that is the best seed, for one row."""
    import yaml  # lazy: heavy

    config_id = str(row["config_id"])
    if not isinstance(row.get("config_json"), str):
        raise UsageError(f"config {config_id!r} has no recorded config.yaml", path=str(analysis.path),
                         fix="pick another config (--rank / --trial)")
    best = row["best_seed"] is not None and not _missing(row["best_seed"])
    seed = int(row["best_seed"]) if best else 0
    data = json.loads(row["config_json"])
    data["seed"] = seed
    config = RunConfig.from_dict(data, path=f"trials/{config_id}/config.yaml").to_dict()
    body = yaml.safe_dump(config, sort_keys=False, default_flow_style=False)  # block style: easy to edit
    return _header(analysis, row, seed, best, out_name) + body, config, seed, best


def _header(analysis: ExperimentAnalysis, row: Any, seed: int, best: bool, out_name: str) -> str:
    better = BETTER[analysis.mode]
    n, bad = int(row["n_seeds"]), int(row["n_diverged"])
    spikes = float(row["spike_mean"])
    spike_text = f", {format_value(spikes)} loss spikes per seed" if math.isfinite(spikes) else ""
    std = f" (std {format_value(float(row['std']))})" if math.isfinite(float(row["std"])) else ""
    if best:
        seed_line = (f"seed: {seed}, the config's best seed (best {analysis.metric} "
                     f"{format_value(float(row['best_seed_metric']))})")
    else:
        seed_line = "seed: 0, a default: no seed of this config finished without diverging"
    lines = [
        f"Run config exported by tune-sched from experiment '{analysis.name}' ({analysis.path.resolve()})",
        f"config_id: {row['config_id']}, rank {int(row['rank'])} of {len(analysis.ranking)} by robust score "
        f"{format_value(float(row['score']))} ({analysis.metric}, {better} is better)",
        (f"IQM {format_value(float(row['iqm']))} over {n - bad} seeds{std}, " if n > bad else "no IQM, ")
        + f"{bad} of {n} seeds diverged or failed{spike_text}",
        seed_line,
        f"train it with: tune-sched run {out_name}",
    ]
    return "".join(f"# {line}\n" for line in lines)


def _missing(value: Any) -> bool:
    try:
        return bool(value != value) or value is None  # NaN and pandas NA
    except TypeError:
        return True
