"""The built-in tasks: ``build_task`` (imports torch lazily); the table and the kwargs' checks are
``tune_sched.config.tasks``, re-exported here.

Example:
    >>> from tune_sched.train.tasks.registry import validate_task_kwargs
    >>> validate_task_kwargs("tiny", {"n_train": 32})["n_train"]
    32
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tune_sched.config import tasks as _table
from tune_sched.config.tasks import *  # noqa: F403  (the names of _table.__all__)
from tune_sched.config.tasks import get_task, validate_task_kwargs
from tune_sched.core.checks import as_int

if TYPE_CHECKING:
    import pytorch_lightning as pl

__all__ = [*_table.__all__, "build_task"]


def build_task(
    name: str, task_kwargs: Mapping[str, Any] | None = None, *, batch_size: int | None = None
) -> tuple[pl.LightningModule, pl.LightningDataModule]:
    """A fresh (LightningModule, LightningDataModule) for a built-in task.

    Call it after ``seed_everything(seed)``: the module's initial weights come from the global RNG (the training
    seed), while the data come from ``task_kwargs["data_seed"]`` alone and are generated once per process.

    Args:
        name: One of :data:`TASK_NAMES`.
        task_kwargs: The run config's ``task_kwargs``; absent keys take the task's defaults.
        batch_size: Overrides the task's default batch size (the run config's ``trainer.batch_size``).

    Raises:
        UsageError: an unknown task or kwarg, or a bad value (the message names ``task_kwargs.<key>``).
    """
    spec = get_task(name)
    values = validate_task_kwargs(name, task_kwargs)
    if batch_size is not None:
        batch_size = as_int(batch_size, "trainer.batch_size", min=1)
    module_kwargs = {k.name: values[k.name] for k in spec.kwargs if k.to == "module"}
    data_kwargs = {k.name: values[k.name] for k in spec.kwargs if k.to == "data"}
    module = spec.module_class()(**module_kwargs)
    datamodule = spec.datamodule_class()(**data_kwargs, batch_size=batch_size or spec.batch_size)
    return module, datamodule
