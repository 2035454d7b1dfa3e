"""The experiment directory: where each (config, seed) writes its files, and gathering them into three tables.

Layout (documented in docs/results.md)::

    <experiment>/
      experiment.json            name, metric, mode, seeds, settings, tune-sched version
      space.yaml                 the space as given
      trials/<config_id>/seed=<s>/{config.yaml, result.json, steps.parquet, epochs.parquet, last.ckpt}
      trials.parquet             one row per (config_id, seed)
      epochs.parquet             one row per (config_id, seed, epoch)
      steps.parquet              one row per (config_id, seed, step)

Trials write only their own folder; the three tables are gathered from those folders (atomically), at the end of
a search and again by ``load_experiment`` whenever a folder is newer than the tables, so a killed driver never
loses finished trials.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

from tune_sched import __version__
from tune_sched.core.errors import UsageError
from tune_sched.core.words import flatten
from tune_sched.core.yaml_io import dump_yaml, safe_load_text
from tune_sched.results.io import atomic_write_text, write_json, write_table
from tune_sched.results.tables import rows_to_table

__all__ = [
    "TABLES", "create_experiment", "gather_experiment", "is_experiment", "load_experiment", "read_manifest",
    "seed_dir", "trial_rows",
]

TABLES = ("trials", "epochs", "steps")
MARKER = "experiment.json"


def seed_dir(experiment: str | Path, config_id: str, seed: int) -> Path:
    return Path(experiment) / "trials" / config_id / f"seed={seed}"


def is_experiment(path: str | Path) -> bool:
    return (Path(path) / MARKER).is_file()


def create_experiment(path: str | Path, *, space_source: dict[str, Any], metric: str, mode: str,
                      seeds: list[int], settings: dict[str, Any] | None = None) -> Path:
    """Make a new experiment directory: ``experiment.json`` (the manifest) and ``space.yaml``.

    The manifest holds name, metric, mode, seeds, the search settings, the creation time and the tune-sched
    version. An existing experiment is never overwritten (a UsageError; the caller decides about resuming).
    """
    path = Path(path)
    if is_experiment(path):
        raise UsageError("already exists", path=str(path), fix="pass --resume to continue it, or another --name")
    path.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path / "space.yaml", dump_yaml(space_source))
    write_json(path / MARKER, {
        "name": path.name, "metric": metric, "mode": mode, "seeds": list(seeds), "settings": settings or {},
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "tune_sched_version": __version__,
    })
    return path


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The experiment's ``experiment.json`` (name, metric, mode, seeds, settings, ...)."""
    return json.loads((_check(path) / MARKER).read_text())


def _check(path: str | Path) -> Path:
    path = Path(path)
    if not is_experiment(path):
        what = "does not exist" if not path.exists() else f"is not an experiment directory (no {MARKER})"
        raise UsageError(what, path=str(path), fix="pass a directory made by 'tune-sched search'")
    return path


def trial_rows(path: str | Path) -> list[dict[str, Any]]:
    """One row per finished (config, seed): result.json plus the flattened config as ``cfg.<key path>`` columns."""
    rows = []
    for result_file in sorted(Path(path).glob("trials/*/seed=*/result.json")):
        row = json.loads(result_file.read_text())
        config_file = result_file.with_name("config.yaml")
        if config_file.exists():
            config = safe_load_text(config_file.read_text())
            config.pop("seed", None)
            row["config_json"] = json.dumps(config, sort_keys=True)
            row.update({f"cfg.{k}": json.dumps(v) if isinstance(v, list) else v for k, v in flatten(config).items()})
        row["notes"] = "; ".join(row.get("notes") or [])
        rows.append(row)
    return rows


def gather_experiment(path: str | Path) -> dict[str, Any]:
    """Concatenate every seed folder's tables into the experiment's three Parquet files; return the tables."""
    # lazy: heavy
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = _check(path)
    tables: dict[str, Any] = {"trials": rows_to_table(trial_rows(path))}
    for name in ("epochs", "steps"):
        parts = [pq.read_table(f) for f in sorted(path.glob(f"trials/*/seed=*/{name}.parquet"))]
        parts = [p for p in parts if p.num_rows]
        tables[name] = pa.concat_tables(parts, promote_options="permissive") if parts else rows_to_table([])
    for name, table in tables.items():
        write_table(path / f"{name}.parquet", table)
    return tables


def load_experiment(path: str | Path, *, columns: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """The experiment's tables as ``pyarrow.Table`` s: ``{"trials": ..., "epochs": ..., "steps": ...}``.

    Gathers first when any trial folder is newer than the tables. ``columns`` reads only the named columns of a
    table (e.g. ``{"steps": ["config_id", "seed", "step", "train_loss"]}``).
    """
    # lazy: heavy
    import pyarrow.parquet as pq

    path = _check(path)
    if _stale(path):
        gather_experiment(path)
    columns = columns or {}
    return {name: pq.read_table(path / f"{name}.parquet", columns=columns.get(name)) for name in TABLES}


def _stale(path: Path) -> bool:
    tables = [path / f"{name}.parquet" for name in TABLES]
    if not all(t.exists() for t in tables):
        return True
    oldest = min(t.stat().st_mtime for t in tables)
    return any(f.stat().st_mtime > oldest for f in path.glob("trials/*/seed=*/result.json"))


