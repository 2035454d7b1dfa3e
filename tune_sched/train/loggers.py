"""Lightning loggers from ``trainer.logger`` (:mod:`tune_sched.config.loggers`), named by experiment, config and
seed: TensorBoard shows ``<name>/<config id>-seed<N>`` under the logger's ``save_dir``."""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tune_sched.core.checks import join
from tune_sched.config.loggers import LOGGERS
from tune_sched.core.errors import UsageError, unknown_name

__all__ = ["build_loggers", "check_loggers"]

# the options tune-sched fills in unless the config gives them
NAMING = ("save_dir", "name", "version")


def check_loggers(specs: Sequence[dict[str, Any]], path: str = "trainer.logger") -> None:
    """Each logger's package is installed and its options are arguments of its class; else a UsageError."""
    for i, spec in enumerate(specs):
        _logger_class(spec, f"{path}[{i}]" if len(specs) > 1 else path)


def build_loggers(specs: Sequence[dict[str, Any]], *, save_dir: str | Path, name: str, version: str,
                  path: str = "trainer.logger") -> list[Any]:
    """The Lightning loggers of ``specs``; ``save_dir``, ``name`` and ``version`` fill what a spec leaves out."""
    out = []
    for i, spec in enumerate(specs):
        cls, kwargs = _logger_class(spec, f"{path}[{i}]" if len(specs) > 1 else path)
        params = inspect.signature(cls).parameters
        defaults = {"save_dir": str(save_dir), "name": name, "version": version}
        if spec["name"] == "mlflow":  # MLflow names experiments and runs; its files go to a local tracking store
            defaults = {"experiment_name": name, "run_name": version,
                        "tracking_uri": f"file:{Path(save_dir).resolve() / 'mlruns'}"}
        elif spec["name"] == "wandb":
            defaults = {"save_dir": str(save_dir), "project": name, "name": version}
        out.append(cls(**{k: v for k, v in defaults.items() if k in params and k not in kwargs}, **kwargs))
    return out


def _logger_class(spec: dict[str, Any], path: str) -> tuple[type, dict[str, Any]]:
    info = LOGGERS[spec["name"]]
    if info.package is not None and importlib.util.find_spec(info.package) is None and not (
            info.name == "tensorboard" and importlib.util.find_spec("tensorboardX") is not None):
        raise UsageError(f"the {info.name} logger needs the package {info.package!r}, which is not installed",
                         path=path, fix=f"pip install 'tune-sched[{info.extra}]' (or pip install {info.package})")
    module, _, attr = info.cls.partition(":")
    cls = getattr(importlib.import_module(module), attr)
    kwargs = {k: v for k, v in spec.items() if k != "name"}
    params = inspect.signature(cls).parameters
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    names = [n for n, p in params.items() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    for key in kwargs:
        if key not in params and not accepts_any:
            raise unknown_name(f"{cls.__name__} option", key, names, path=join(path, key))
    return cls, kwargs
