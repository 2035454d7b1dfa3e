"""Task ``fno2d``: a Fourier neural operator learning phase separation (the Allen-Cahn equation) from random fields.

The problem: given an initial field ``u0`` on the periodic square ``[0, 2*pi)^2``, predict ``u(t=3)`` of the
Allen-Cahn equation ``u_t = nu * Laplacian(u) + u - u^3`` with ``nu = 0.01``. Allen-Cahn is the reaction-diffusion
model of phase separation: ``u = 0`` is an unstable mixed state, the reaction ``u - u^3`` drives the field towards
the phases -1 and +1, and diffusion smooths the interfaces between them. The inputs are small fluctuations around the
mixed state, Gaussian random fields with power spectrum ``(|k|^2 + 9)^-2`` scaled to a standard deviation of 0.1;
by ``t = 3`` the long waves have grown about 20-fold and saturated into +-1 domains with smooth interfaces (spinodal
decomposition). The map is strongly nonlinear (a linearised prediction is off by more than 100 %) and moves energy
between scales, so both the field error and the spectrum error of a prediction are meaningful. Targets are computed
spectrally: Strang splitting with both sub-steps exact (heat in Fourier, the reaction ODE in closed form), 20 steps,
a splitting error of about 2e-4 relative.

Defaults: 32x32 grid, 256 train / 64 val samples, width 16, 8 modes, 3 Fourier layers, batch 32 (8 steps per
epoch). Loss spikes with Adam (measured over 30 epochs, seeds 0 and 1): lr 1e-1 blows the per-step train loss up
to 20-25x its initial value within the first dozen steps on every seed, and on some seeds again mid-training
(seed 0, step 54: 0.17 -> 6.1); lr 1e-3 falls monotonically; lr 1e-2 and 3e-2 train smoothly (a single small
spike each appears only after about 400-500 steps). This task is where the spike analysis is demonstrated.

The module follows the protocol of :mod:`tune_sched.train.tasks._field_module` (``loss_weights``,
``tune_sched_components``, ``train_*`` / ``val_*`` logs, no ``configure_optimizers``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import torch

from tune_sched.train.tasks._datamodule import FieldPairDataModule
from tune_sched.train.tasks._field_module import FieldRegressionModule
from tune_sched.train.tasks.fno import FNO2d
from tune_sched.train.tasks.spectral import allen_cahn, gaussian_random_field

__all__ = ["AMPLITUDE", "NU", "T_FINAL", "AllenCahnDataModule", "FNO2dTask", "allen_cahn_pairs"]

NU = 0.01
"""Diffusion coefficient of the Allen-Cahn equation."""
T_FINAL = 3.0
"""Time at which the solution is the target."""
AMPLITUDE = 0.1
"""Standard deviation of every initial field."""
_STEPS = 20


@functools.lru_cache(maxsize=8)
def allen_cahn_pairs(resolution: int, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` (initial field, Allen-Cahn solution at ``T_FINAL``) pairs, float32, shaped ``[count, 1, n, n]``.

    Deterministic in its arguments, drawn from a local generator (the global RNG is untouched) and cached per
    process: do not modify the returned tensors in place.
    """
    generator = torch.Generator().manual_seed(seed)
    u0 = AMPLITUDE * gaussian_random_field(count, resolution, generator=generator)
    u1 = allen_cahn(u0, nu=NU, t=T_FINAL, steps=_STEPS)
    return u0[:, None].float(), u1[:, None].float()


class AllenCahnDataModule(FieldPairDataModule):
    """Train/val pairs of :func:`allen_cahn_pairs` (see :class:`FieldPairDataModule` for seeds and loaders)."""

    pairs = staticmethod(allen_cahn_pairs)


class FNO2dTask(FieldRegressionModule):
    """An :class:`~tune_sched.train.tasks.fno.FNO2d` trained on field pairs with weighted loss components.

    Args:
        width: Channels of the Fourier layers.
        modes: Frequencies kept per direction (at most half the grid's resolution).
        layers: Number of Fourier layers.
        loss: A loss name or ``{name: weight}``; becomes ``self.loss_weights``.
    """

    def __init__(self, *, width: int = 16, modes: int = 8, layers: int = 3,
                 loss: str | Mapping[str, float] = "field") -> None:
        super().__init__(loss=loss)
        self.save_hyperparameters()
        self.net = FNO2d(width=width, modes=modes, layers=layers)
