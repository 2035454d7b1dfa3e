"""Config checks for the optimizer and LR-scheduler blocks, without importing torch (``tune-sched validate``).

Every name and kwarg is checked against the registries (:mod:`tune_sched.config.catalog.registry`, built from the
installed torch's signatures, read without importing it); cheap type and range checks come with it. The builders
(:mod:`tune_sched.optim.optimizers`, :mod:`tune_sched.optim.lr_schedulers`) call the same two functions, so a
hand-written dict gets the same errors as a YAML file. The registry API is re-exported here: this module is the
torch-free entry point (``tune_sched.optim.catalog`` re-exports it).

Example:
    >>> validate_optimizer_config({"name": "adamw", "lr": "1e-3", "betas": [0.95, 0.999]})
    {'name': 'AdamW', 'lr': 0.001, 'betas': [0.95, 0.999]}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tune_sched.config.catalog._types import check_value, describe
from tune_sched.config.catalog.registry import (
    LR_SCHEDULERS,
    OPTIMIZERS,
    KwargSpec,
    LRSchedulerSpec,
    OptimizerSpec,
    get_lr_scheduler_spec,
    get_optimizer_spec,
    list_lr_schedulers,
    list_optimizers,
)
from tune_sched.core.checks import as_bool, as_choice, as_float, as_int, as_mapping, as_str, join
from tune_sched.core.errors import UsageError, unknown_name

__all__ = [
    "LR_SCHEDULERS",
    "OPTIMIZERS",
    "KwargSpec",
    "LRSchedulerSpec",
    "OptimizerSpec",
    "check_warmup_shorter",
    "get_lr_scheduler_spec",
    "get_optimizer_spec",
    "list_lr_schedulers",
    "list_optimizers",
    "validate_lr_scheduler_config",
    "validate_optimizer_config",
]

# Set by tune-sched, never by a config.
_RESERVED = {"last_epoch": "it is set by tune-sched; to resume a run, load the scheduler's state_dict instead"}
# Cheap range checks on scalar kwargs, by name: (minimum, whether the minimum itself is allowed).
_MINIMUM = {
    "lr": (0.0, True), "weight_decay": (0.0, True), "momentum": (0.0, True), "eps": (0.0, True),
    "T_max": (1, True), "T_0": (1, True), "T_mult": (1, True), "step_size": (1, True), "total_steps": (1, True),
    "total_iters": (1, True), "step_size_up": (1, True), "epochs": (1, True), "steps_per_epoch": (1, True),
    "gamma": (0.0, False), "factor": (0.0, True), "patience": (0, True), "cooldown": (0, True),
    "eta_min": (0.0, True), "warmup_epochs": (0, True), "max_epochs": (1, True), "T": (1, True),
    "final_fraction": (0.0, True), "warmup_start_lr": (0.0, True),
}
# Keys of a block besides the class's own kwargs.
_OPTIMIZER_KEYS = ("name", "param_groups", "no_decay_bias_and_norm")
_SCHEDULER_KEYS = ("name", "interval", "frequency", "monitor", "strict", "warmup")
_GROUP_KEYS = ("lr_factor", "weight_decay")


def validate_optimizer_config(cfg: Any, *, path: str = "optimizer") -> dict[str, Any]:
    """Check an optimizer block and return a normalized copy (the input is never mutated).

    The copy has the canonical class name, numbers coerced (``"1e-3"`` -> ``0.001``), tuples as lists. Besides
    the optimizer's own kwargs, ``param_groups`` (glob pattern -> ``{lr_factor, weight_decay}``) and
    ``no_decay_bias_and_norm`` (bool) are allowed.

    Raises:
        UsageError: unknown name or kwarg (listing the valid ones), a wrong type or range, or a weight-decay
            setting for an optimizer without ``weight_decay``.
    """
    cfg = as_mapping(cfg, path)
    spec = get_optimizer_spec(_name_of(cfg, path, "AdamW"), path=join(path, "name"))
    out: dict[str, Any] = {"name": spec.name}
    out.update(_check_kwargs(cfg, spec.kwargs, _OPTIMIZER_KEYS, spec.name, path))
    if "param_groups" in cfg:
        here = join(path, "param_groups")
        groups = as_mapping(cfg["param_groups"], here)
        out["param_groups"] = {
            _pattern(pattern, here): _check_group(group, spec, f"{here}[{pattern!r}]")
            for pattern, group in groups.items()
        }
    if "no_decay_bias_and_norm" in cfg:
        key = join(path, "no_decay_bias_and_norm")
        out["no_decay_bias_and_norm"] = as_bool(cfg["no_decay_bias_and_norm"], key)
        if out["no_decay_bias_and_norm"] and not spec.supports_weight_decay:
            raise UsageError(f"{spec.name} has no weight_decay to switch off", path=key, fix="remove it")
    return out


def _check_group(group: Any, spec: OptimizerSpec, path: str) -> dict[str, float]:
    group = as_mapping(group, path)
    out: dict[str, float] = {}
    for key, value in group.items():
        if key not in _GROUP_KEYS:
            raise unknown_name("param-group setting", key, _GROUP_KEYS, path=join(path, key))
        if key == "weight_decay" and not spec.supports_weight_decay:
            raise UsageError(f"{spec.name} has no weight_decay", path=join(path, key), fix="remove it")
        if key == "lr_factor":
            out[key] = as_float(value, join(path, key), positive=True)
        else:
            out[key] = as_float(value, join(path, key), min=0.0)
    return out


def _pattern(pattern: Any, path: str) -> str:
    if not isinstance(pattern, str) or not pattern:
        raise UsageError(f"keys must be glob patterns on parameter names, but got {pattern!r}", path=path,
                         fix='e.g. "head.*": {lr_factor: 2.0}')
    return pattern


def validate_lr_scheduler_config(cfg: Any, *, path: str = "lr_scheduler") -> dict[str, Any]:
    """Check an LR-scheduler block and return a normalized copy (the input is never mutated).

    Besides the scheduler's own kwargs: ``interval`` (epoch|step), ``frequency`` (int >= 1), ``monitor`` (str,
    required for ReduceLROnPlateau; Lightning ignores it for the others), ``strict`` (bool) and ``warmup``
    (``{epochs: N, start_factor: f}`` or ``{steps: N, start_factor: f}``), all on the outermost scheduler only.
    SequentialLR and ChainedScheduler take ``schedulers``: a list of nested configs. Defaults (interval, lengths) are filled by the builder, not here.

    Raises:
        UsageError: unknown name or kwarg, a wrong type or range, a missing required kwarg, a missing ``monitor``
            for ReduceLROnPlateau, or an outer-only key on a nested scheduler.
    """
    return _check_scheduler(cfg, path, outer=True)


def _check_scheduler(cfg: Any, path: str, *, outer: bool) -> dict[str, Any]:
    cfg = as_mapping(cfg, path)
    spec = get_lr_scheduler_spec(_name_of(cfg, path, "CosineAnnealingLR"), path=join(path, "name"))
    if not outer:
        for key in _SCHEDULER_KEYS[1:]:
            if key in cfg:
                raise UsageError(
                    f"'{key}' can only be set on the outermost scheduler (the nested ones are stepped by it)",
                    path=join(path, key), fix="move it to the outer scheduler",
                )
        if spec.needs_monitor:
            raise UsageError("ReduceLROnPlateau cannot be nested: it needs a metric at every step",
                             path=join(path, "name"), fix="use it as the outer scheduler, with a 'warmup:' block")
    out: dict[str, Any] = {"name": spec.name}
    extra_keys = _SCHEDULER_KEYS if outer else _SCHEDULER_KEYS[:1]
    out.update(_check_kwargs(cfg, spec.kwargs, extra_keys, spec.name, path, length=spec.length))
    for key, kwarg in spec.kwargs.items():
        if kwarg.type == "schedulers" and key in cfg:
            out[key] = _check_children(cfg[key], join(path, key))
    if spec.name == "SequentialLR":
        _check_milestones(out, path)
    if spec.name == "LinearWarmupCosineAnnealingLR" and "max_epochs" in out:
        check_warmup_shorter(out["warmup_epochs"], out["max_epochs"], join(path, "max_epochs"))
    if not outer:
        return out
    if "interval" in cfg:
        out["interval"] = as_choice(cfg["interval"], ["epoch", "step"], join(path, "interval"), what="interval")
    if "frequency" in cfg:
        out["frequency"] = as_int(cfg["frequency"], join(path, "frequency"), min=1)
    if "monitor" in cfg:
        out["monitor"] = as_str(cfg["monitor"], join(path, "monitor"))
    if "strict" in cfg:
        out["strict"] = as_bool(cfg["strict"], join(path, "strict"))
    if spec.needs_monitor and "monitor" not in out:
        raise UsageError("ReduceLROnPlateau needs 'monitor', the logged metric it watches",
                         path=join(path, "monitor"), fix="add e.g. monitor: val_loss")
    if "warmup" in cfg:
        out["warmup"] = _check_warmup(cfg["warmup"], join(path, "warmup"))
        if out.get("frequency", 1) != 1:
            raise UsageError(f"a warmup needs frequency 1, but got {out['frequency']}", path=join(path, "frequency"),
                             fix="remove frequency, or the warmup block")
        if spec.needs_monitor and "steps" in out["warmup"] and out.get("interval", spec.interval) == "epoch":
            raise UsageError(
                "a warmup in steps cannot wrap ReduceLROnPlateau stepped per epoch (it would need a metric every "
                "step)", path=join(join(path, "warmup"), "steps"), fix="use warmup: {epochs: N, start_factor: f}",
            )
    return out


def _check_kwargs(cfg: Mapping[str, Any], kwargs: Mapping[str, KwargSpec], extra_keys: tuple[str, ...],
                  owner: str, path: str, *, length: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        if key in extra_keys:
            continue
        here = join(path, key)
        kwarg = kwargs.get(key)
        if key in _RESERVED and kwarg is not None:
            raise UsageError(f"'{key}' cannot be set in a config: {_RESERVED[key]}", path=here, fix="remove it")
        if kwarg is None:
            allowed = [k for k in kwargs if k not in _RESERVED] + list(extra_keys[1:])
            raise unknown_name(f"{owner} argument", key, allowed, path=here)
        if "callable" in (kwarg.type, _unwrap_optional(kwarg.type)) and value is not None:
            raise UsageError(f"'{key}' needs a Python callable, which a config file cannot hold", path=here,
                             fix="remove it")
        if kwarg.type == "schedulers":
            continue  # checked by the caller
        out[key] = check_value(value, kwarg.type, here)
        _check_minimum(key, out[key], here)
    for key, kwarg in kwargs.items():
        if kwarg.required and key != length and key not in _RESERVED and key not in cfg:
            raise UsageError(f"{owner} needs '{key}' ({describe(kwarg.type)})", path=join(path, key),
                             fix=f"add {key}: ...")
    return out


def _unwrap_optional(spec: Any) -> Any:
    return spec["optional"] if isinstance(spec, Mapping) and "optional" in spec else spec


def _check_minimum(key: str, value: Any, path: str) -> None:
    if key not in _MINIMUM or isinstance(value, (bool, list)) or value is None:
        return
    minimum, inclusive = _MINIMUM[key]
    if value < minimum or (value == minimum and not inclusive):
        rule = "at least" if inclusive else "greater than"
        raise UsageError(f"must be {rule} {minimum}, but got {value}", path=path,
                         fix=f"use {minimum} or more" if inclusive else f"use a value greater than {minimum}")


def _check_children(value: Any, path: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise UsageError(f"must be a non-empty list of scheduler configs, but got {value!r}", path=path,
                         fix="e.g. [{name: LinearLR, start_factor: 0.1, total_iters: 5}, {name: CosineAnnealingLR}]")
    return [_check_scheduler(child, join(path, i), outer=False) for i, child in enumerate(value)]


def _check_milestones(out: Mapping[str, Any], path: str) -> None:
    milestones, children = out["milestones"], out["schedulers"]
    here = join(path, "milestones")
    if len(milestones) != len(children) - 1:
        raise UsageError(
            f"needs one milestone fewer than schedulers ({len(children) - 1}), but got {len(milestones)}",
            path=here, fix="list the step at which each scheduler after the first takes over",
        )
    previous = 0
    for i, milestone in enumerate(milestones):
        if milestone <= previous:
            raise UsageError(f"must increase and be at least 1, but got {milestones}", path=join(here, i),
                             fix="list increasing steps, e.g. [5, 20]")
        previous = milestone


def check_warmup_shorter(warmup_epochs: int, max_epochs: int, path: str) -> None:
    """LinearWarmupCosineAnnealingLR's rule: ``max_epochs`` must exceed ``warmup_epochs`` (the cosine needs time)."""
    if max_epochs <= warmup_epochs:
        raise UsageError(f"must be greater than warmup_epochs ({warmup_epochs}), but got {max_epochs}", path=path,
                         fix="lengthen the run or shorten the warmup")


def _check_warmup(block: Any, path: str) -> dict[str, Any]:
    block = as_mapping(block, path)
    for key in block:
        if key not in ("epochs", "steps", "start_factor"):
            raise unknown_name("warmup setting", key, ["epochs", "steps", "start_factor"], path=join(path, key))
    units = [u for u in ("epochs", "steps") if u in block]
    if len(units) != 1:
        raise UsageError("needs exactly one of 'epochs' or 'steps'", path=path,
                         fix="e.g. warmup: {epochs: 5, start_factor: 0.1}")
    if "start_factor" not in block:
        raise UsageError("needs 'start_factor' (the LR fraction it starts from)", path=join(path, "start_factor"),
                         fix="e.g. warmup: {epochs: 5, start_factor: 0.1}")
    unit = units[0]
    factor = as_float(block["start_factor"], join(path, "start_factor"), min=0.0)
    if factor > 1.0:
        raise UsageError(f"must be at most 1.0, but got {factor}", path=join(path, "start_factor"),
                         fix="use the fraction of the LR the warmup starts from, e.g. 0.1")
    return {unit: as_int(block[unit], join(path, unit), min=1), "start_factor": factor}


def _name_of(cfg: Mapping[str, Any], path: str, example: str) -> Any:
    if "name" not in cfg:
        raise UsageError("needs 'name'", path=join(path, "name"), fix=f"e.g. name: {example}")
    return cfg["name"]

