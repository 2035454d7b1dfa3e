"""How configs are judged: a space's ``score:`` and ``spikes:`` blocks, validated (numpy-free).

The maths that uses them lives in ``tune_sched.analysis``: the robust score (``analysis.score``, whose docstring
gives the formula and the YAML) and the spike rules (``analysis.spike_rules``: each rule, and the YAML). Here are
only the settings, so that loading a space (``tune-sched validate``) checks them without importing numpy or pandas.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

from tune_sched.core.blocks import Block, integer, number, read_block, setting
from tune_sched.core.checks import as_choice, as_float, as_mapping, join
from tune_sched.core.errors import UsageError

__all__ = ["RULE_SETTINGS", "ScoreSettings", "SpikeRule", "check_score_weights", "make_rule", "rule_settings"]


@dataclass(frozen=True)
class ScoreSettings(Block):
    """The score's weights (``spread_weight`` >= 0, ``divergence_penalty`` > 0, ``spike_weight`` >= 0); see
    ``tune_sched.analysis.score``."""

    PATH = "score"
    KEY_KIND = "score setting"

    spread_weight: float = setting(3.0, check=number())
    divergence_penalty: float = setting(3.0, check=number())
    spike_weight: float = setting(0.2, check=number())

    def __post_init__(self) -> None:
        check_score_weights(self.spread_weight, self.divergence_penalty, self.spike_weight, None)

    @classmethod
    def check_together(cls, values: dict[str, Any], path: str, *, written: Mapping[str, Any]) -> dict[str, Any]:
        check_score_weights(values["spread_weight"], values["divergence_penalty"], values["spike_weight"], path)
        return values


def check_score_weights(spread_weight: float, divergence_penalty: float, spike_weight: float,
                        path: str | None) -> None:
    """Raise a UsageError for the first weight out of range (keys under ``path``; None: the bare names)."""
    if not (isinstance(spread_weight, (int, float)) and math.isfinite(spread_weight) and spread_weight >= 0):
        raise UsageError(f"must be a finite number >= 0, but got {spread_weight!r}", path=join(path, "spread_weight"),
                         fix="use e.g. 0.5 (0: spread between seeds costs nothing)")
    penalty = divergence_penalty
    if not (isinstance(penalty, (int, float)) and math.isfinite(penalty) and penalty > 0):
        raise UsageError(
            f"must be a finite number > 0 (so that divergence always costs), but got {divergence_penalty!r}",
            path=join(path, "divergence_penalty"), fix="use e.g. 1.0",
        )
    if not (isinstance(spike_weight, (int, float)) and math.isfinite(spike_weight) and spike_weight >= 0):
        raise UsageError(f"must be a finite number >= 0 (0 leaves spikes out), but got {spike_weight!r}",
                         path=join(path, "spike_weight"), fix="use e.g. 0.05")


# Each spike rule's own settings; the shared ones apply to every rule.
RULE_SETTINGS: dict[str, tuple[str, ...]] = {
    "robust": ("window", "k", "min_ratio"),
    "zscore": ("window", "k"),
    "median_ratio": ("window", "threshold"),
}
_SHARED = ("ema_alpha", "recovery_tol")


def _check_rule(value: Any, path: str) -> str:
    return as_choice(value, RULE_SETTINGS, path, what="spike rule")


def _check_alpha(value: Any, path: str) -> float:
    alpha = as_float(value, path, positive=True)
    if alpha > 1:
        raise UsageError(f"must be in (0, 1], but got {alpha}", path=path, fix="use e.g. 0.3 (larger is faster)")
    return alpha


def _check_threshold(value: Any, path: str) -> float:
    threshold = as_float(value, path)
    if threshold <= 1:
        raise UsageError(
            f"must be greater than 1 (a ratio to the median), but got {threshold}", path=path, fix="use e.g. 2.0"
        )
    return threshold


@dataclass(frozen=True)
class SpikeRule(Block):
    """Validated settings for spike detection; build one with ``make_rule(**kwargs)`` or ``SpikeRule.from_dict``.

    ``k`` belongs to ``robust`` and ``zscore``, ``min_ratio`` to ``robust`` and ``threshold`` to ``median_ratio``;
    ``window``, ``ema_alpha`` and ``recovery_tol`` apply to every rule.
    """

    PATH = "spikes"

    rule: Literal["robust", "zscore", "median_ratio"] = setting("robust", check=_check_rule)
    window: int = setting(128, check=integer(min=4))
    k: float = setting(6.0, check=number(positive=True))
    threshold: float = setting(2.0, check=_check_threshold)
    min_ratio: float = setting(2.0, check=_check_threshold)
    ema_alpha: float = setting(0.3, check=_check_alpha)
    recovery_tol: float = setting(0.1, check=number(min=0.0))

    @classmethod
    def from_dict(cls, data: Any, path: str | None = None) -> SpikeRule:
        """Validate a mapping (YAML block or keyword arguments); errors name the key path and the keys valid for
        its rule (``path=""``: the bare key names, as for keyword arguments)."""
        path = cls.PATH if path is None else path
        data = as_mapping(data, path or cls.PATH)
        name = _check_rule(data.get("rule", "robust"), join(path, "rule"))
        return read_block(cls, data, path, keys=("rule", *RULE_SETTINGS[name], *_SHARED), key_kind=f"{name} setting")


def make_rule(rule: str | SpikeRule = "robust", **settings: Any) -> SpikeRule:
    """A validated ``SpikeRule`` from keyword arguments (``detect_spikes``' ``**rule``) or an existing rule.

    Raises:
        UsageError: unknown rule or setting (listing the valid ones), or a value out of range.
    """
    if isinstance(rule, SpikeRule):
        if settings:
            return SpikeRule.from_dict({**rule_settings(rule), **settings}, path="")
        return rule
    return SpikeRule.from_dict({"rule": rule, **settings}, path="")


def rule_settings(rule: SpikeRule) -> dict[str, Any]:
    """The rule's settings that apply to it, as a ``spikes:`` block (``SpikeRule.from_dict`` reads it back)."""
    keep = ("rule", *RULE_SETTINGS[rule.rule], *_SHARED)
    return {f.name: getattr(rule, f.name) for f in fields(rule) if f.name in keep}
