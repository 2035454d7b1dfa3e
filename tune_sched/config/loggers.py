"""``trainer.logger``: Lightning's own loggers for each run, so it shows up where the user already looks.

The Parquet tables stay the record tune-sched reads; a logger is a copy of the metrics for TensorBoard, a CSV
file, Weights & Biases or MLflow. One registry, name -> :class:`LoggerInfo`; the value of ``trainer.logger`` is a
name, a mapping with ``name`` and the logger's own options, or a list of those:

```yaml
trainer:
  logger: tensorboard                                   # or csv, wandb, mlflow
  logger: [csv, {name: tensorboard, save_dir: tb}]      # several, with options
```

Only names are checked here (no import of Lightning); the options are checked against the logger class when the
run is set up (:func:`tune_sched.train.loggers.build_loggers`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tune_sched.core.checks import as_mapping, join
from tune_sched.core.errors import UsageError, unknown_name

__all__ = ["LOGGERS", "LoggerInfo", "parse_loggers"]


@dataclass(frozen=True)
class LoggerInfo:
    """A Lightning logger: its class (``module:Class``), the package it needs (None: none beyond Lightning) and
    the tune-sched extra that installs it."""

    name: str
    cls: str
    package: str | None = None
    extra: str | None = None


LOGGERS: dict[str, LoggerInfo] = {
    info.name: info
    for info in (
        LoggerInfo("tensorboard", "pytorch_lightning.loggers:TensorBoardLogger", "tensorboard", "tensorboard"),
        LoggerInfo("csv", "pytorch_lightning.loggers:CSVLogger"),
        LoggerInfo("wandb", "pytorch_lightning.loggers:WandbLogger", "wandb", "wandb"),
        LoggerInfo("mlflow", "pytorch_lightning.loggers:MLFlowLogger", "mlflow", "mlflow"),
    )
}


def parse_loggers(value: Any, path: str = "trainer.logger") -> list[dict[str, Any]]:
    """``trainer.logger`` as a list of ``{"name": ..., **options}`` (``[]`` for null, false or an empty list).

    Raises:
        UsageError: an unknown logger name (with the closest one), a mapping without ``name``, a wrong type.
    """
    if value is None or value is False:
        return []
    items = list(value) if isinstance(value, list) else [value]
    out = []
    for i, item in enumerate(items):
        where = f"{path}[{i}]" if isinstance(value, list) else path
        if isinstance(item, str):
            item = {"name": item}
        elif not isinstance(item, Mapping):
            raise UsageError(f"must be a logger name or a mapping with 'name', but got {type(item).__name__}",
                             path=where, fix=f"e.g. {path}: tensorboard, or {{name: csv, save_dir: logs}}")
        item = dict(as_mapping(item, where))
        if "name" not in item:
            raise UsageError("has no 'name'", path=where, fix=f"name the logger: one of {', '.join(LOGGERS)}")
        if item["name"] not in LOGGERS:
            raise unknown_name("logger", item["name"], LOGGERS, path=join(where, "name"))
        out.append(copy.deepcopy(item))
    return out
