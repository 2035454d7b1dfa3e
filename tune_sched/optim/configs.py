"""The typed optimizer and LR-scheduler blocks of a run config; they live in :mod:`tune_sched.config.catalog.configs`
(this path keeps working).
"""

from tune_sched.config.catalog import configs as _moved
from tune_sched.config.catalog.configs import *  # noqa: F403  (the names of _moved.__all__)

__all__ = _moved.__all__
