"""Train configs again outside a search, to check them: reproduce a recorded run, and train the two arms of
``compare``. The training is ``tune_sched.train``'s; judging the runs is ``tune_sched.analysis``'s.

Names load lazily so that importing one piece does not import them all.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "reproduce": "reproduce", "reproduce_trial": "reproduce", "reproduce_config": "reproduce",
    "make_arms": "arms", "arm_from_config": "arms",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tune_sched.rerun' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"tune_sched.rerun.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
