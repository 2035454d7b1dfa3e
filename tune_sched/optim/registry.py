"""The optimizer and LR-scheduler registries; they live in :mod:`tune_sched.config.catalog.registry` (this path
keeps working).
"""

from tune_sched.config.catalog import registry as _moved
from tune_sched.config.catalog.registry import *  # noqa: F403  (the names of _moved.__all__)

__all__ = _moved.__all__
