"""The optimizer and LR-scheduler blocks of a run config, typed: what :mod:`tune_sched.config.catalog.checks` checked.

Their keys are not fixed fields (each optimizer and scheduler has its own kwargs, from the installed torch), so
they are checked by the catalog's registries rather than declared as a :class:`~tune_sched.core.blocks.Block`;
these classes give the checked result a shape: the name, the class's own kwargs, and tune-sched's own keys. Both
read as their YAML block (:class:`~tune_sched.core.blocks.ReadsAsDict`), with the keys in the order the catalog
writes them, so a builder, ``config.optimizer["name"]`` and ``RunConfig.to_dict()`` see the same dict as before.

Example:
    >>> cfg = OptimizerConfig.from_dict({"name": "adamw", "lr": "1e-3", "no_decay_bias_and_norm": True})
    >>> cfg.name, cfg.kwargs, cfg.no_decay_bias_and_norm
    ('AdamW', {'lr': 0.001}, True)
    >>> dict(cfg)
    {'name': 'AdamW', 'lr': 0.001, 'no_decay_bias_and_norm': True}
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tune_sched.core.blocks import ReadsAsDict
from tune_sched.config.catalog.checks import validate_lr_scheduler_config, validate_optimizer_config

__all__ = ["LRSchedulerConfig", "OptimizerConfig"]

# tune-sched's own keys of each block, in the order the catalog writes them (after the class's kwargs).
_OPTIMIZER_OWN = ("param_groups", "no_decay_bias_and_norm")
_SCHEDULER_OWN = ("interval", "frequency", "monitor", "strict", "warmup")


@dataclass(frozen=True, eq=False)
class OptimizerConfig(ReadsAsDict):
    """A checked optimizer block: ``torch.optim.<name>``, its kwargs, and the param-group settings (None: not set)."""

    name: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    param_groups: Mapping[str, Mapping[str, float]] | None = None
    no_decay_bias_and_norm: bool | None = None

    @classmethod
    def from_dict(cls, data: Any, path: str = "optimizer") -> OptimizerConfig:
        """Check a block (see :func:`~tune_sched.config.catalog.checks.validate_optimizer_config`) and type it."""
        return cls(**_split(validate_optimizer_config(data, path=path), _OPTIMIZER_OWN))

    def to_dict(self) -> dict[str, Any]:
        return _join(self, _OPTIMIZER_OWN)


@dataclass(frozen=True, eq=False)
class LRSchedulerConfig(ReadsAsDict):
    """A checked LR-scheduler block: the scheduler, its kwargs (nested ``schedulers`` as blocks of plain data), and
    Lightning's keys and the warmup (None: not set, the builder's default applies)."""

    name: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    interval: str | None = None
    frequency: int | None = None
    monitor: str | None = None
    strict: bool | None = None
    warmup: Mapping[str, Any] | None = None

    @classmethod
    def from_dict(cls, data: Any, path: str = "lr_scheduler") -> LRSchedulerConfig:
        """Check a block (see :func:`~tune_sched.config.catalog.checks.validate_lr_scheduler_config`) and type it."""
        return cls(**_split(validate_lr_scheduler_config(data, path=path), _SCHEDULER_OWN))

    def to_dict(self) -> dict[str, Any]:
        return _join(self, _SCHEDULER_OWN)


def _split(checked: dict[str, Any], own: tuple[str, ...]) -> dict[str, Any]:
    """The catalog's dict -> the constructor's arguments."""
    fields = {key: checked.pop(key) for key in own if key in checked}
    return {"name": checked.pop("name"), "kwargs": checked, **fields}


def _join(block: Any, own: tuple[str, ...]) -> dict[str, Any]:
    """The constructor's arguments -> the catalog's dict (a deep copy: the block stays as it was)."""
    out = {"name": block.name, **copy.deepcopy(dict(block.kwargs))}
    out.update({key: copy.deepcopy(getattr(block, key)) for key in own if getattr(block, key) is not None})
    return out
