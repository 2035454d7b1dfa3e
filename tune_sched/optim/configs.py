"""The typed optimizer and LR-scheduler blocks of a run config; they live in :mod:`tune_sched.config.catalog.configs`
(this path keeps working).
"""

from tune_sched.config.catalog.configs import (
    LRSchedulerConfig,
    OptimizerConfig,
)

__all__ = ["LRSchedulerConfig", "OptimizerConfig"]
