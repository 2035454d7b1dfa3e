"""Element-wise losses (MSE, MAE, Huber) with the same ``f(pred, true)`` signature as the field losses."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tune_sched.losses._inputs import check_same_shape, to_float

__all__ = ["huber", "mae", "mse"]


def mse(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Mean of ``(pred - true)^2`` over all elements (any shape, equal shapes; empty input gives NaN)."""
    check_same_shape(pred, true, loss="mse")
    return F.mse_loss(to_float(pred), to_float(true))


def mae(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Mean of ``|pred - true|`` over all elements (any shape, equal shapes; empty input gives NaN)."""
    check_same_shape(pred, true, loss="mae")
    return F.l1_loss(to_float(pred), to_float(true))


def huber(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Mean Huber loss with delta 1: ``e^2 / 2`` for ``|e| <= 1``, else ``|e| - 1/2``, with ``e = pred - true``.

    Any shape, equal shapes; empty input gives NaN.
    """
    check_same_shape(pred, true, loss="huber")
    return F.huber_loss(to_float(pred), to_float(true), delta=1.0)
