"""Checks shared by the loss functions: same shapes, the layouts a field loss accepts, float32 or wider."""

from __future__ import annotations

import torch

__all__ = ["check_fields", "check_same_shape", "to_float"]

_FIELD_LAYOUTS = "[B, C, H, W] or [B, T, C, H, W]"


def check_same_shape(pred: torch.Tensor, true: torch.Tensor, *, loss: str) -> None:
    """``pred`` and ``true`` must have identical shapes (no silent broadcasting)."""
    if pred.shape != true.shape:
        raise ValueError(
            f"{loss}: pred and true must have the same shape, but got {tuple(pred.shape)} and {tuple(true.shape)}"
        )


def check_fields(pred: torch.Tensor, true: torch.Tensor, *, loss: str) -> None:
    """Same shapes, laid out as ``[B, C, H, W]`` or ``[B, T, C, H, W]``."""
    check_same_shape(pred, true, loss=loss)
    if pred.ndim not in (4, 5):
        raise ValueError(f"{loss}: expects fields shaped {_FIELD_LAYOUTS}, but got shape {tuple(pred.shape)}")


def to_float(x: torch.Tensor) -> torch.Tensor:
    """Half and bfloat16 inputs (mixed precision) are computed in float32; float32 and float64 stay as they are."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
