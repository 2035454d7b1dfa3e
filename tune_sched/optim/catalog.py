"""The torch-free config checks of the optimizer and LR-scheduler blocks; they live in
:mod:`tune_sched.config.catalog.checks` (this path keeps working).
"""

from tune_sched.config.catalog.checks import (
    LR_SCHEDULERS,
    OPTIMIZERS,
    KwargSpec,
    LRSchedulerSpec,
    OptimizerSpec,
    check_warmup_shorter,
    get_lr_scheduler_spec,
    get_optimizer_spec,
    list_lr_schedulers,
    list_optimizers,
    validate_lr_scheduler_config,
    validate_optimizer_config,
)

__all__ = [
    "LR_SCHEDULERS", "OPTIMIZERS", "KwargSpec", "LRSchedulerSpec", "OptimizerSpec", "check_warmup_shorter",
    "get_lr_scheduler_spec", "get_optimizer_spec", "list_lr_schedulers", "list_optimizers",
    "validate_lr_scheduler_config", "validate_optimizer_config",
]
