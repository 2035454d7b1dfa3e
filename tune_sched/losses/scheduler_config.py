"""The ``loss_scheduler:`` block of a run config; it lives in :mod:`tune_sched.config.loss_scheduler` (this path
keeps working)."""

from tune_sched.config.loss_scheduler import (
    LOSS_SCHEDULER_MODES,
    RAMP_SHAPES,
    LossSchedulerConfig,
    validate_loss_scheduler_config,
)

__all__ = ["LOSS_SCHEDULER_MODES", "RAMP_SHAPES", "LossSchedulerConfig", "validate_loss_scheduler_config"]
