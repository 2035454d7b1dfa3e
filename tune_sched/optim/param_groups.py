"""Split a model's parameters into named torch param groups by glob patterns on their names.

The first pattern (in the config's order) that matches a parameter's name (:func:`fnmatch.fnmatchcase`) owns it;
the others form the ``default`` group. With ``no_decay_bias_and_norm``, biases, parameters of ``*Norm*`` modules
and every 1-D parameter go to a ``<group>/no_decay`` sibling with weight decay 0. Every trainable parameter lands
in exactly one group (checked); frozen ones (``requires_grad=False``) are left out, as torch would never update
them. Each group carries ``name`` so LR can be logged per group by name.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from tune_sched.core.errors import UsageError

__all__ = ["group_parameters", "is_no_decay"]


def is_no_decay(name: str, param: torch.Tensor, *, in_norm_layer: bool) -> bool:
    """Whether weight decay should skip this parameter: a bias, a norm-layer parameter, or any 1-D tensor."""
    return name.rsplit(".", 1)[-1] == "bias" or in_norm_layer or param.ndim <= 1


def group_parameters(
    model_or_params: nn.Module | Iterable[torch.Tensor],
    *,
    lr: float,
    weight_decay: float | None,
    patterns: Mapping[str, Mapping[str, float]],
    no_decay_bias_and_norm: bool = False,
    path: str = "optimizer",
) -> list[dict[str, Any]]:
    """Torch param groups (``name``, ``params``, ``lr``, ``weight_decay``) for a module or plain parameters.

    Args:
        model_or_params: an ``nn.Module`` (names known) or an iterable of tensors (then ``patterns`` must be
            empty, and ``no_decay_bias_and_norm`` uses the 1-D rule only, which covers biases and norm weights).
        lr: the optimizer's base LR; a pattern's ``lr_factor`` multiplies it.
        weight_decay: the optimizer's weight decay, or None when the optimizer has none (then no group sets it).
        patterns: glob pattern -> ``{lr_factor, weight_decay}``, in priority order.
        no_decay_bias_and_norm: move biases, norm-layer and 1-D parameters to weight decay 0.
        path: the config's key path, for errors.

    Returns:
        Groups in the order ``default``, ``default/no_decay``, then each pattern (and its ``/no_decay``); empty
        ``default`` groups are left out.

    Raises:
        UsageError: no trainable parameters; patterns without names; a pattern that matches no trainable
            parameter, or only parameters an earlier pattern took.
    """
    named = _named_trainable(model_or_params, patterns, path)
    buckets: dict[str, list[tuple[str, torch.Tensor, bool]]] = {"default": []}
    buckets.update({pattern: [] for pattern in patterns})
    matched_any = dict.fromkeys(patterns, False)
    for name, param, in_norm in named:
        owner = "default"
        for pattern in patterns:
            if fnmatch.fnmatchcase(name, pattern):
                matched_any[pattern] = True
                if owner == "default":
                    owner = pattern
        buckets[owner].append((name, param, in_norm))
    for pattern in patterns:
        if not buckets[pattern]:
            _raise_unmatched(pattern, matched_any[pattern], [n for n, _, _ in named], path)

    groups: list[dict[str, Any]] = []
    for owner, members in buckets.items():
        settings = patterns.get(owner, {})
        group_lr = lr * settings.get("lr_factor", 1.0)
        decay = settings.get("weight_decay", weight_decay)
        split = no_decay_bias_and_norm and weight_decay is not None and decay != 0.0
        kept = [p for n, p, norm in members if not (split and is_no_decay(n, p, in_norm_layer=norm))]
        skipped = [p for n, p, norm in members if split and is_no_decay(n, p, in_norm_layer=norm)]
        for suffix, params, wd in (("", kept, decay), ("/no_decay", skipped, 0.0)):
            if params:
                group: dict[str, Any] = {"name": owner + suffix, "params": params, "lr": group_lr}
                if weight_decay is not None:
                    group["weight_decay"] = wd
                groups.append(group)
    _check_exactly_once(groups, [p for _, p, _ in named])
    return groups


def _named_trainable(model_or_params: Any, patterns: Mapping[str, Any], path: str) -> list[tuple[str, Any, bool]]:
    if isinstance(model_or_params, nn.Module):
        in_norm = {
            id(p) for module in model_or_params.modules() if "Norm" in type(module).__name__
            for p in module.parameters(recurse=False)
        }
        named = [(n, p, id(p) in in_norm) for n, p in model_or_params.named_parameters() if p.requires_grad]
    else:
        if patterns:
            raise UsageError("param_groups needs parameter names, but plain parameters were given",
                             path=f"{path}.param_groups", fix="pass the nn.Module to build_optimizer")
        params = list(model_or_params)
        for i, p in enumerate(params):
            if not isinstance(p, torch.Tensor):
                raise UsageError(f"expected an nn.Module or an iterable of tensors, but item {i} is "
                                 f"{type(p).__name__}", path=path, fix="pass model or model.parameters()")
        unique = list({id(p): p for p in params if p.requires_grad}.values())
        named = [(f"param_{i}", p, False) for i, p in enumerate(unique)]
    if not named:
        raise UsageError("there are no trainable parameters to optimize", path=path,
                         fix="check requires_grad on the model's parameters")
    return named


def _raise_unmatched(pattern: str, matched: bool, names: list[str], path: str) -> None:
    where = f"{path}.param_groups[{pattern!r}]"
    if matched:
        raise UsageError("every parameter it matches is taken by an earlier pattern (the first match wins)",
                         path=where, fix="reorder the patterns or remove this one")
    sample = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
    raise UsageError("matches no trainable parameter", path=where,
                     fix=f"patterns are fnmatch globs on names like: {sample}")


def _check_exactly_once(groups: list[dict[str, Any]], params: list[torch.Tensor]) -> None:
    owner: dict[int, str] = {}
    for group in groups:
        for p in group["params"]:
            if id(p) in owner:
                raise RuntimeError(f"bug: a parameter is in both {owner[id(p)]!r} and {group['name']!r}")
            owner[id(p)] = group["name"]
    missing = [i for i, p in enumerate(params) if id(p) not in owner]
    if missing or len(owner) != len(params):
        raise RuntimeError(f"bug: {len(missing)} parameter(s) landed in no group")
