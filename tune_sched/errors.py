"""The user-error type, under the name users import (``from tune_sched.errors import UsageError``)."""

from tune_sched.core.errors import SearchFailed, UsageError, did_you_mean, unknown_name

__all__ = ["SearchFailed", "UsageError", "did_you_mean", "unknown_name"]
