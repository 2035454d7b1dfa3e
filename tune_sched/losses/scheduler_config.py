"""The ``loss_scheduler:`` block of a run config; it lives in :mod:`tune_sched.config.loss_scheduler` (this path
keeps working)."""

from tune_sched.config import loss_scheduler as _moved
from tune_sched.config.loss_scheduler import *  # noqa: F403  (the names of _moved.__all__)

__all__ = _moved.__all__
