"""The torch-free config checks of the optimizer and LR-scheduler blocks; they live in
:mod:`tune_sched.config.catalog.checks` (this path keeps working).
"""

from tune_sched.config.catalog import checks as _moved
from tune_sched.config.catalog.checks import *  # noqa: F403  (the names of _moved.__all__)

__all__ = _moved.__all__
