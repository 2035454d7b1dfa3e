"""Pure rules for moving a (source, target) pair of loss weights; the LossScheduler composes them.

Weights are ``(w_source, w_target)`` tuples. Every rule keeps the pair's sum at ``total`` (the sum of the
initial weights) and the target at most ``cap * total``.
"""

from __future__ import annotations

import math
from typing import Literal

__all__ = [
    "Weights",
    "adaptive_step",
    "move_toward",
    "ramp_fraction",
    "ramp_weights",
    "settle",
    "within",
]

Weights = tuple[float, float]


def settle(weights: Weights, *, total: float, cap: float) -> Weights:
    """Rescale the pair to sum to ``total``, then cap the target at ``cap * total`` and give the excess to the source.

    The cap keeps the sum, so the result sums to ``total`` with ``target <= cap * total``. A pair that sums to
    0 has no direction to rescale and becomes ``(total, 0)`` (all source).

    Example:
        >>> settle((0.5, 1.5), total=1.0, cap=0.8)
        (0.25, 0.75)
        >>> settle((0.0, 1.0), total=1.0, cap=0.75)
        (0.25, 0.75)
    """
    source, target = weights
    current = source + target
    if current <= 0:
        return (total, 0.0)
    source, target = source * total / current, target * total / current
    limit = cap * total
    if target > limit:
        source, target = source + (target - limit), limit
    return (source, target)


def adaptive_step(
    target: float, *, initial: float, final: float, transition_step: float, min_step: float
) -> float:
    """``max(transition_step * (1 - progress), min_step)`` with ``progress`` the share of the way the target
    weight has come from ``initial`` to ``final``, clamped to [0, 1] (1 when ``initial == final``).

    Example:
        >>> adaptive_step(0.35, initial=0.0, final=0.7, transition_step=0.1, min_step=0.05)
        0.05
        >>> round(adaptive_step(0.1, initial=0.0, final=0.7, transition_step=0.1, min_step=0.05), 6)
        0.085714
    """
    span = abs(initial - final)
    progress = 1.0 if span == 0 else min(max(1.0 - abs(target - final) / span, 0.0), 1.0)
    return max(transition_step * (1.0 - progress), min_step)


def move_toward(weights: Weights, final: Weights, *, step: float) -> Weights:
    """Move each weight toward its final value by at most ``step`` (absolute), never past it."""
    return tuple(w + max(min(f - w, step), -step) for w, f in zip(weights, final))  # type: ignore[return-value]


def within(weights: Weights, final: Weights, *, tolerance: float) -> bool:
    """Whether both weights are within ``tolerance`` of their final values."""
    return all(abs(w - f) <= tolerance for w, f in zip(weights, final))


def ramp_fraction(epoch: int, *, warmup_epochs: int, ramp_epochs: int, shape: Literal["linear", "cosine"]) -> float:
    """How far a ramp has come after validating ``epoch`` (0-based): 0 until the warmup ends, 1 after ramp_epochs.

    The weights set after epoch ``e`` train epoch ``e + 1``, so the linear fraction is
    ``clamp((e + 1 - warmup_epochs) / ramp_epochs, 0, 1)``: epoch ``warmup_epochs`` still trains at the initial
    weights and epoch ``warmup_epochs + ramp_epochs`` is the first at the final ones. ``cosine`` maps a linear
    fraction ``f`` to ``(1 - cos(pi f)) / 2`` (slow, fast, slow).

    Example:
        >>> [ramp_fraction(e, warmup_epochs=2, ramp_epochs=4, shape="linear") for e in range(7)]
        [0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    """
    linear = min(max((epoch + 1 - warmup_epochs) / ramp_epochs, 0.0), 1.0)
    if shape == "linear":
        return linear
    return (1.0 - math.cos(math.pi * linear)) / 2.0


def ramp_weights(initial: Weights, final: Weights, fraction: float) -> Weights:
    """``initial + fraction * (final - initial)``, per weight."""
    return tuple(i + fraction * (f - i) for i, f in zip(initial, final))  # type: ignore[return-value]
