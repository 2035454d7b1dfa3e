"""The training loss as a weighted sum of named loss components (torch-free: works on any numbers)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from tune_sched.core.errors import UsageError

__all__ = ["combine"]


def combine(components: Mapping[str, Any], weights: Mapping[str, float]) -> Any:
    """``sum(weights[name] * components[name])`` over the weighted names.

    Components without a weight count 0 (they are only logged). A weight of exactly 0 skips its component, so a
    NaN or infinite component that is only logged cannot poison the loss; if every weight is 0 the result is
    ``0 * component`` of the first weighted one (it keeps the graph, and is NaN if that component is NaN).

    Args:
        components: loss name -> 0-d tensor (or float), e.g. ``{"field": ..., "spectrum": ...}``.
        weights: loss name -> weight, e.g. ``LossScheduler.weights``.

    Raises:
        UsageError: ``weights`` is empty, names a component that is missing, or holds a weight that is not a
            finite number.

    Example:
        >>> combine({"field": 2.0, "spectrum": 10.0, "mse": 1.0}, {"field": 0.5, "spectrum": 0.25})
        3.5
    """
    if not weights:
        raise UsageError("no loss weights given", path="loss weights", fix="give at least one component a weight")
    for name, weight in weights.items():
        if name not in components:
            present = ", ".join(sorted(components)) or "none"
            raise UsageError(
                f"has a weight for loss component {name!r}, but it was not computed (components: {present})",
                path="loss weights",
                fix=f"compute {name!r} in the training step, or drop its weight",
            )
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
            raise UsageError(f"weight of {name!r} must be a finite number, but got {weight!r}", path="loss weights")
    terms = [components[name] * weight for name, weight in weights.items() if weight != 0]
    if not terms:
        return components[next(iter(weights))] * 0.0
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total
