"""The built-in Lightning tasks (``task: tiny``, ``task: fno2d``) and their registry.

Importing this package does not import torch: the modules and data modules are imported by
:func:`~tune_sched.train.tasks.registry.build_task` when a task is built. See
:mod:`tune_sched.train.tasks._field_module` for the protocol the trial runner relies on.
"""

from __future__ import annotations

from tune_sched.train.tasks.registry import (
    TASK_NAMES,
    TASKS,
    TaskKwarg,
    TaskSpec,
    build_task,
    get_task,
    parse_loss_weights,
    validate_task_kwargs,
)

__all__ = [
    "TASKS",
    "TASK_NAMES",
    "TaskKwarg",
    "TaskSpec",
    "build_task",
    "get_task",
    "parse_loss_weights",
    "validate_task_kwargs",
]
