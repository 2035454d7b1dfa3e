"""The field error: squared error relative to the truth's energy, per frame, averaged over frames."""

from __future__ import annotations

import torch

from tune_sched.losses._inputs import check_fields, to_float

__all__ = ["field_error"]

_EPS = 1e-8


def field_error(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Mean over frames of ``mean_HW (pred - true)^2 / (mean_HW true^2 + 1e-8)``.

    A frame is one (batch item, time step, channel); the last two dimensions are H and W.

    Args:
        pred: ``[B, C, H, W]`` or ``[B, T, C, H, W]``.
        true: the same shape as ``pred``.

    Returns:
        A 0-d tensor (float32 for half/bfloat16 inputs). ``pred == true`` gives 0; a frame whose truth is all
        zeros contributes its mean squared prediction divided by 1e-8. NaN anywhere in the inputs gives NaN;
        an empty batch (B = 0) gives NaN (the mean of nothing).

    Raises:
        ValueError: the shapes differ or are not 4-D/5-D.

    Example:
        >>> t = torch.ones(1, 1, 2, 2)
        >>> float(field_error(2 * t, t))
        1.0
    """
    check_fields(pred, true, loss="field_error")
    pred, true = to_float(pred), to_float(true)
    error = (pred - true).pow(2).mean(dim=(-2, -1))
    energy = true.pow(2).mean(dim=(-2, -1))
    return (error / (energy + _EPS)).mean()
