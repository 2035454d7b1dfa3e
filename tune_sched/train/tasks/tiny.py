"""Task ``tiny``: a two-layer conv net learning heat-equation smoothing of 16x16 random fields (tests, quick tries).

The problem: given a field ``u0`` on the periodic square ``[0, 2*pi)^2``, predict ``u(t)`` of the heat equation
``u_t = nu * Laplacian(u)`` with ``nu * t = 0.05``: a fixed linear operator that damps each Fourier mode by
``exp(-0.05 |k|^2)``, computed exactly in Fourier. Inputs are rough Gaussian random fields (power spectrum
``(|k|^2 + 9)^-1``, unit standard deviation), so the smoothing changes the fields visibly (relative change about 0.5)
and the spectrum error measures how well the damping of high frequencies is learned.

Defaults: 16x16 grid, 64 train / 32 val samples, batch 16, hidden width 8 (about 150 parameters); ten epochs take
about a second with Lightning on one CPU thread.

The module follows the protocol of :mod:`tune_sched.train.tasks._field_module` (``loss_weights``,
``tune_sched_components``, ``train_*`` / ``val_*`` logs, no ``configure_optimizers``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import torch
from torch import nn

from tune_sched.train.tasks._datamodule import FieldPairDataModule
from tune_sched.train.tasks._field_module import FieldRegressionModule
from tune_sched.train.tasks.spectral import gaussian_random_field, heat

__all__ = ["NU_T", "HeatSmoothingDataModule", "TinyTask", "heat_pairs"]

NU_T = 0.05
"""Diffusion coefficient times time of the heat-equation target."""


@functools.lru_cache(maxsize=8)
def heat_pairs(resolution: int, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` (field, heat-smoothed field) pairs, float32, shaped ``[count, 1, n, n]``.

    Deterministic in its arguments, drawn from a local generator (the global RNG is untouched) and cached per
    process: do not modify the returned tensors in place.
    """
    generator = torch.Generator().manual_seed(seed)
    u0 = gaussian_random_field(count, resolution, generator=generator, alpha=1.0)
    return u0[:, None].float(), heat(u0, nu=NU_T, t=1.0)[:, None].float()


class HeatSmoothingDataModule(FieldPairDataModule):
    """Train/val pairs of :func:`heat_pairs` (see :class:`FieldPairDataModule` for seeds and loaders)."""

    pairs = staticmethod(heat_pairs)


class TinyTask(FieldRegressionModule):
    """Conv(3x3, circular) -> GELU -> Conv(3x3, circular): a 5x5 receptive field, enough for the heat kernel.

    Args:
        width: Channels of the hidden layer.
        loss: A loss name or ``{name: weight}``; becomes ``self.loss_weights``.
    """

    def __init__(self, *, width: int = 8, loss: str | Mapping[str, float] = "field") -> None:
        super().__init__(loss=loss)
        self.save_hyperparameters()
        self.net = nn.Sequential(
            nn.Conv2d(1, width, kernel_size=3, padding=1, padding_mode="circular"),
            nn.GELU(),
            nn.Conv2d(width, 1, kernel_size=3, padding=1, padding_mode="circular"),
        )
