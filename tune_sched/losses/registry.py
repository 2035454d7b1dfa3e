"""The loss registry: name -> spec, so a config names its losses; importable without torch.

The table itself is ``tune_sched.config.losses`` (``tune-sched validate`` checks loss names there without paying for
``import torch``); ``get_loss`` imports the implementing module only when a loss is actually used.

Example:
    >>> from tune_sched.losses.registry import LOSS_NAMES, get_loss
    >>> LOSS_NAMES
    ('field', 'spectrum', 'mse', 'mae', 'huber')
    >>> get_loss("field").__name__
    'field_error'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from tune_sched.config.losses import LOSS_NAMES, LOSSES, LossSpec
from tune_sched.core.errors import unknown_name

__all__ = ["LOSSES", "LOSS_NAMES", "LossSpec", "get_loss"]


def get_loss(name: str, *, path: str | None = None) -> Callable[..., Any]:
    """The loss function registered as ``name`` (imports its module, and so torch, on first use).

    Raises:
        UsageError: ``name`` is not registered; the message suggests the closest name and lists the valid ones,
            prefixed with ``path`` (the config key that named it) when given.
    """
    spec = LOSSES.get(name) if isinstance(name, str) else None
    if spec is None:
        raise unknown_name("loss", name, LOSS_NAMES, path=path)
    module, _, function = spec.target.partition(":")
    return getattr(importlib.import_module(module), function)
