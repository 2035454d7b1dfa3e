"""build_optimizer: an optimizer block (YAML or dict) -> a ``torch.optim`` optimizer with named param groups.

Example:
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 1))
    >>> opt = build_optimizer(model, {"name": "adamw", "lr": 1e-3, "weight_decay": 0.01,
    ...                               "param_groups": {"2.*": {"lr_factor": 2.0}}, "no_decay_bias_and_norm": True})
    >>> [(g["name"], g["lr"], g["weight_decay"]) for g in opt.param_groups]
    [('default', 0.001, 0.01), ('default/no_decay', 0.001, 0.0), ('2.*', 0.002, 0.01), ('2.*/no_decay', 0.002, 0.0)]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from tune_sched.config.catalog._types import to_torch
from tune_sched.config.catalog.checks import validate_optimizer_config
from tune_sched.config.catalog.registry import OPTIMIZERS
from tune_sched.optim.param_groups import group_parameters
from tune_sched.core.errors import UsageError

__all__ = ["build_optimizer"]


def build_optimizer(model_or_params: nn.Module | Iterable[torch.Tensor], optimizer_config: Mapping[str, Any], *,
                    path: str = "optimizer") -> torch.optim.Optimizer:
    """Build ``torch.optim.<name>`` from a config block; ``name`` is case-insensitive, kwargs are checked.

    Args:
        model_or_params: an ``nn.Module`` (needed for ``param_groups`` patterns) or an iterable of tensors.
        optimizer_config: ``name``, the optimizer's own kwargs (``betas`` as a list of 2 numbers), and optionally
            ``param_groups`` (glob on parameter names -> ``{lr_factor, weight_decay}``, first match wins) and
            ``no_decay_bias_and_norm``. Never mutated.
        path: the config's key path, for errors.

    Returns:
        The optimizer; every param group has a ``name`` (``default``, a pattern, or ``<that>/no_decay``).

    Raises:
        UsageError: an unknown name or kwarg (listing the valid ones), a wrong value, a pattern that matches no
            parameter, or torch refusing the settings (its message included).
    """
    cfg = validate_optimizer_config(optimizer_config, path=path)
    spec = OPTIMIZERS[cfg["name"]]
    kwargs = {key: to_torch(value, spec.kwargs[key].type) for key, value in cfg.items() if key in spec.kwargs}
    lr = kwargs.get("lr", spec.kwargs["lr"].default)
    weight_decay = kwargs.get("weight_decay", spec.kwargs["weight_decay"].default) if spec.supports_weight_decay \
        else None
    groups = group_parameters(
        model_or_params, lr=lr, weight_decay=weight_decay, patterns=cfg.get("param_groups", {}),
        no_decay_bias_and_norm=cfg.get("no_decay_bias_and_norm", False), path=path,
    )
    try:
        return getattr(torch.optim, spec.name)(groups, **kwargs)
    except (ValueError, TypeError, RuntimeError) as err:
        raise UsageError(f"torch.optim.{spec.name} refused these settings: {err}", path=path,
                         fix=f"see the {spec.name} documentation for valid values") from None
