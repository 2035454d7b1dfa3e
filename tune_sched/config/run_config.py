"""RunConfig: one concrete, validated training configuration (what `run`, `export` and every trial use).

A run config is plain YAML. Everything below ``trainer`` and the top-level keys is checked here; the optimizer,
LR-scheduler and loss-scheduler blocks are checked by their own registries (``tune_sched.config.catalog`` and
``tune_sched.config.loss_scheduler``) and the task by the built-in tasks (``tune_sched.config.tasks``), without
importing torch, so ``tune-sched validate`` stays fast.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from tune_sched.core.checks import as_choice, as_int, as_mapping, as_str, join
from tune_sched.config.catalog.configs import LRSchedulerConfig, OptimizerConfig
from tune_sched.config.divergence import DivergenceRule
from tune_sched.config.loggers import parse_loggers
from tune_sched.config.loss_scheduler import LossSchedulerConfig
from tune_sched.config.tasks import TASK_NAMES, validate_task_kwargs
from tune_sched.core.blocks import Block, choice, flag, integer, number, read_block, setting, text
from tune_sched.core.errors import UsageError
from tune_sched.core.yaml_io import read_yaml

__all__ = ["DEFAULT_OPTIMIZER", "SEED_MODES", "EarlyStoppingConfig", "RunConfig", "TrainerConfig", "load_run_config",
           "normalize_precision"]

DEFAULT_OPTIMIZER = MappingProxyType({"name": "Adam", "lr": 1e-3})
"""The optimizer of a run config that names none."""

SEED_MODES = ("auto", "stacked", "separate")
"""``trainer.seed_mode``: how a config's seeds train together (stacked: one vectorised model; separate: one model
each, in lockstep; auto: stacked where it is supported and faster)."""

# What a user may write for precision, and what Lightning calls it.
_PRECISIONS = {
    "16": "16-mixed", "16-mixed": "16-mixed", "bf16": "bf16-mixed", "bf16-mixed": "bf16-mixed",
    "32": "32-true", "32-true": "32-true", "64": "64-true", "64-true": "64-true",
    "bf16-true": "bf16-true", "16-true": "16-true",
}


def normalize_precision(value: Any, path: str = "trainer.precision") -> str:
    """``16`` -> ``"16-mixed"``, ``32`` -> ``"32-true"``; anything else Lightning does not know is an error."""
    key = str(value).strip().lower()
    if key not in _PRECISIONS:
        raise UsageError(
            f"unknown precision {value!r}", path=path, fix=f"use one of: {', '.join(sorted(set(_PRECISIONS)))}"
        )
    return _PRECISIONS[key]


@dataclass(frozen=True)
class EarlyStoppingConfig(Block):
    """Lightning's EarlyStopping on a logged metric (the trainer's own stopping, not the search's pruner)."""

    PATH = "trainer.early_stopping"

    monitor: str = setting("val_loss", check=text())
    patience: int = setting(5, check=integer(min=1))
    mode: Literal["min", "max"] = setting("min", check=choice(["min", "max"], what="mode"))
    min_delta: float = setting(0.0, check=number(min=0.0))


@dataclass(frozen=True)
class TrainerConfig(Block):
    """The Lightning Trainer settings a run config controls."""

    PATH = "trainer"

    max_epochs: int = setting(10, check=integer(min=1))
    precision: str = setting("32-true", check=normalize_precision)
    gradient_clip_val: float | None = setting(None, check=number(positive=True), if_null="default")
    accumulate_grad_batches: int = setting(1, check=integer(min=1))
    early_stopping: EarlyStoppingConfig | None = setting(None, check=EarlyStoppingConfig.from_dict, if_null="default")
    deterministic: bool = setting(True, check=flag())
    batch_size: int | None = setting(None, check=integer(min=1), if_null="default")
    accelerator: Literal["auto", "cpu", "gpu"] = setting(
        "auto", check=choice(["auto", "cpu", "gpu"], what="accelerator"))
    limit_train_batches: int | None = setting(None, check=integer(min=1), if_null="default")
    check_val_every_n_epoch: int = setting(1, check=integer(min=1))
    divergence: DivergenceRule = setting(default_factory=DivergenceRule, check=DivergenceRule.from_dict,
                                         if_null="default")
    logger: list[dict[str, Any]] = setting(default_factory=list, check=parse_loggers)  # config/loggers.py
    seed_mode: Literal["auto", "stacked", "separate"] = setting(  # several seeds as one model (train/stacked.py)
        "auto", check=choice(SEED_MODES, what="seed mode"))


@dataclass(frozen=True)
class RunConfig(Block):
    """One training configuration: what to train, with which optimizer, schedules and trainer settings.

    ``optimizer``, ``lr_scheduler`` and ``loss_scheduler`` are typed blocks (:class:`OptimizerConfig`,
    :class:`LRSchedulerConfig`, :class:`LossSchedulerConfig`) once read by :meth:`from_dict`; each also reads as
    its YAML block, so ``cfg.optimizer["name"]`` and the builders work on it as on a hand-written dict (which a
    RunConfig built directly may hold). ``lr_scheduler: null`` means a constant LR; ``loss_scheduler: null`` means
    the task's default loss with weight 1.
    """

    # What to train: a built-in task, or a module of your own (read together by read_first).
    task: str | None = "tiny"
    task_kwargs: dict[str, Any] = field(default_factory=dict)
    module: str | None = None
    module_kwargs: dict[str, Any] = field(default_factory=dict)
    datamodule: str | None = None
    datamodule_kwargs: dict[str, Any] = field(default_factory=dict)
    optimizer: OptimizerConfig | Mapping[str, Any] = setting(default_factory=lambda: dict(DEFAULT_OPTIMIZER),
                                                             check=OptimizerConfig.from_dict)
    lr_scheduler: LRSchedulerConfig | Mapping[str, Any] | None = setting(
        None, check=LRSchedulerConfig.from_dict, if_null="default")
    loss_scheduler: LossSchedulerConfig | None = setting(None, check=LossSchedulerConfig.from_dict,
                                                         if_null="default")
    trainer: TrainerConfig = setting(default_factory=TrainerConfig, check=TrainerConfig.from_dict, if_null="default")
    seed: int = setting(0, check=integer(min=0))
    metric: str = setting("val_loss", check=text())
    mode: Literal["min", "max"] = setting("min", check=choice(["min", "max"], what="mode"))

    @classmethod
    def from_dict(cls, data: Any, path: str | None = None) -> RunConfig:
        """Validate a plain dict (as read from YAML) into a RunConfig; errors name the key path."""
        data = copy.deepcopy(dict(as_mapping(data, path or "run config")))  # never mutate the caller's dict
        return read_block(cls, data, path or "")

    @classmethod
    def read_first(cls, data: Mapping[str, Any], path: str) -> dict[str, Any]:
        """``task`` and ``task_kwargs``, or ``module`` and ``module_kwargs`` with an optional datamodule."""
        p = lambda k: join(path, k)  # noqa: E731
        module, task = data.get("module"), data.get("task")
        if module is not None and task is not None:
            raise UsageError("give either 'task' or 'module', not both", path=p("module"), fix="remove one of them")
        kw: dict[str, Any] = {"task": cls.task, "task_kwargs": {}, "module": None, "module_kwargs": {},
                              "datamodule": None, "datamodule_kwargs": {}}
        if module is not None:
            kw["module"] = _import_path(module, p("module"))
            kw["task"] = None
            kw["module_kwargs"] = dict(as_mapping(data.get("module_kwargs"), p("module_kwargs")))
            if data.get("datamodule") is not None:
                kw["datamodule"] = _import_path(data["datamodule"], p("datamodule"))
            kw["datamodule_kwargs"] = dict(as_mapping(data.get("datamodule_kwargs"), p("datamodule_kwargs")))
            return kw
        if task is not None:
            kw["task"] = as_choice(task, TASK_NAMES, p("task"), what="task")
        kw["task_kwargs"] = dict(as_mapping(data.get("task_kwargs"), p("task_kwargs")))
        validate_task_kwargs(kw["task"], kw["task_kwargs"], path=p("task_kwargs"))
        for key in ("module_kwargs", "datamodule", "datamodule_kwargs"):
            if data.get(key):
                raise UsageError(f"'{key}' needs 'module'", path=p(key), fix="set module: 'pkg.mod:Class'")
        return kw

    @classmethod
    def check_together(cls, values: dict[str, Any], path: str, *, written: Mapping[str, Any]) -> dict[str, Any]:
        """A config that names no optimizer gets :data:`DEFAULT_OPTIMIZER`, checked like a written one."""
        if "optimizer" in written:
            return values
        return {**values, "optimizer": OptimizerConfig.from_dict(values["optimizer"], join(path, "optimizer"))}

    def to_dict(self) -> dict[str, Any]:
        """Plain data with the YAML's key names (round-trips through ``from_dict``)."""
        out: dict[str, Any] = {}
        if self.module is not None:
            out["module"] = self.module
            out["module_kwargs"] = copy.deepcopy(self.module_kwargs)
            if self.datamodule is not None:
                out["datamodule"] = self.datamodule
                out["datamodule_kwargs"] = copy.deepcopy(self.datamodule_kwargs)
        else:
            out["task"] = self.task
            out["task_kwargs"] = copy.deepcopy(self.task_kwargs)
        for key in ("optimizer", "lr_scheduler", "loss_scheduler"):  # typed or not, written as plain dicts
            block = getattr(self, key)
            out[key] = None if block is None else copy.deepcopy(dict(block))
        trainer = {f.name: getattr(self.trainer, f.name) for f in fields(self.trainer)}
        if self.trainer.early_stopping is not None:
            es = self.trainer.early_stopping
            trainer["early_stopping"] = {f.name: getattr(es, f.name) for f in fields(es)}
        trainer["divergence"] = self.trainer.divergence.to_dict()
        trainer["logger"] = copy.deepcopy(self.trainer.logger)
        if not trainer["logger"]:
            del trainer["logger"]  # no logger: the config reads as it did before loggers existed
        if self.trainer.seed_mode == "auto":
            del trainer["seed_mode"]  # the default: the config reads as it did before seed modes existed
        out["trainer"] = trainer
        out["seed"] = self.seed
        out["metric"] = self.metric
        out["mode"] = self.mode
        return out

    def with_overrides(self, *, seed: int | None = None, max_epochs: int | None = None) -> RunConfig:
        """A copy with the seed and/or max_epochs replaced (the CLI's --seed and --max-epochs)."""
        out = self
        if seed is not None:
            out = replace(out, seed=as_int(seed, "--seed", min=0))
        if max_epochs is not None:
            out = replace(out, trainer=replace(out.trainer, max_epochs=as_int(max_epochs, "--max-epochs", min=1)))
        return out


def _import_path(value: Any, path: str) -> str:
    value = as_str(value, path)
    module, sep, attr = value.partition(":")
    if not sep or not module or not attr:
        raise UsageError(f"must look like 'package.module:ClassName', but got {value!r}", path=path,
                         fix="write the module's import path, a colon, then the class, e.g. mypackage.models:Net")
    return value


def load_run_config(path: str | Path) -> RunConfig:
    r"""Read and validate a run config YAML file.

    Raises:
        UsageError: the file is missing, empty, not YAML, a search space rather than a run config, or a key or
            value is wrong (the message names its key path and the fix).

    Example:
        >>> import pathlib, tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = pathlib.Path(tmp, "run.yaml")
        ...     _ = path.write_text("task: tiny\noptimizer: {name: adamw, lr: 3.0e-3}\ntrainer: {max_epochs: 5}\n")
        ...     cfg = load_run_config(path)
        >>> cfg.optimizer["name"], cfg.optimizer["lr"], cfg.trainer.max_epochs
        ('AdamW', 0.003, 5)
    """
    data = read_yaml(path)
    if data is None:
        raise UsageError("is empty", path=str(path), fix="write a run config (see run_configs/*.yaml)")
    if not isinstance(data, Mapping):
        raise UsageError(f"must be a mapping of keys to values, but got {type(data).__name__}", path=str(path),
                         fix="write a run config (see run_configs/*.yaml)")
    if any(k in data for k in ("seeds", "search", "resources")):
        raise UsageError(
            "is a search space, not a run config", path=str(path),
            fix="use 'tune-sched search --space' for it, or 'tune-sched export' to get a run config",
        )
    return RunConfig.from_dict(data)
