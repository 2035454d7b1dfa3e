"""The optimizer and LR-scheduler registries; they live in :mod:`tune_sched.config.catalog.registry` (this path
keeps working).
"""

from tune_sched.config.catalog.registry import (
    LR_SCHEDULERS,
    OPTIMIZERS,
    KwargSpec,
    LRSchedulerSpec,
    OptimizerSpec,
    get_lr_scheduler_spec,
    get_optimizer_spec,
    list_lr_schedulers,
    list_optimizers,
)

__all__ = [
    "LR_SCHEDULERS", "OPTIMIZERS", "KwargSpec", "LRSchedulerSpec", "OptimizerSpec", "get_lr_scheduler_spec",
    "get_optimizer_spec", "list_lr_schedulers", "list_optimizers",
]
