"""The preflight: what a run config needs beyond its own text, checked before anything trains or Ray starts.

The user's own module and datamodule import and take their kwargs (:func:`tune_sched.train.modules.check_user_code`),
and each logger of ``trainer.logger`` is installed and takes its options
(:func:`tune_sched.train.loggers.check_loggers`). A run config of a built-in task without loggers passes at once,
importing neither torch nor Lightning, so ``validate`` of it stays fast.
"""

from __future__ import annotations

from tune_sched.config.run_config import RunConfig
from tune_sched.train.loggers import check_loggers
from tune_sched.train.modules import check_user_code

__all__ = ["preflight"]


def preflight(config: RunConfig) -> None:
    """Raise the UsageError (key path, what is wrong, the fix) of the first thing ``config`` needs that is missing."""
    if config.module is not None:
        check_user_code(config)
    if config.trainer.logger:
        check_loggers(config.trainer.logger)
