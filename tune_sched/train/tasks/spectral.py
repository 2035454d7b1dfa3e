"""Spectral maths on periodic 2-D fields: random fields, the heat equation and the Allen-Cahn equation.

All fields live on the periodic square ``[0, 2*pi)^2`` sampled on an ``n x n`` grid, so the wavenumbers are the
integers ``-n/2 .. n/2``. Functions take and return real tensors of shape ``(..., n, n)``, never touch the global
RNG (randomness comes only from the ``generator`` argument) and are deterministic on CPU.
"""

from __future__ import annotations

import torch

__all__ = ["allen_cahn", "gaussian_random_field", "heat", "squared_wavenumber"]


def squared_wavenumber(n: int, *, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``|k|^2 = kx^2 + ky^2`` on the ``rfft2`` layout of an ``n x n`` grid: shape ``(n, n // 2 + 1)``."""
    kx = torch.fft.fftfreq(n, d=1.0 / n, dtype=dtype)
    ky = torch.fft.rfftfreq(n, d=1.0 / n, dtype=dtype)
    return kx[:, None] ** 2 + ky[None, :] ** 2


def gaussian_random_field(
    count: int, n: int, *, generator: torch.Generator, alpha: float = 2.0, tau: float = 3.0,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """``count`` smooth zero-mean random fields on an ``n x n`` grid, each scaled to unit standard deviation.

    The fields are Gaussian with power spectrum ``(|k|^2 + tau^2)^(-alpha)`` (the covariance operator
    ``(-Laplacian + tau^2)^(-alpha)``): larger ``alpha`` gives smoother fields, ``tau`` sets the correlation length.
    White noise drawn from ``generator`` is filtered in Fourier space, so the result is exactly real and periodic.

    Args:
        count: Number of fields (0 gives an empty ``(0, n, n)`` tensor).
        n: Grid points per side.
        generator: The only source of randomness; the global RNG is left untouched.
        alpha: Spectral decay exponent.
        tau: Inverse correlation length.
        dtype: Floating dtype of the result.

    Returns:
        A tensor of shape ``(count, n, n)``.
    """
    if count == 0:
        return torch.zeros(0, n, n, dtype=dtype)  # the FFT backends reject empty batches
    noise = torch.randn(count, n, n, generator=generator, dtype=dtype)
    amplitude = (squared_wavenumber(n, dtype=dtype) + tau**2) ** (-alpha / 2)
    amplitude[0, 0] = 0.0  # zero mean
    fields = torch.fft.irfft2(torch.fft.rfft2(noise) * amplitude, s=(n, n))
    return fields / fields.std(dim=(-2, -1), keepdim=True).clamp_min(torch.finfo(dtype).tiny)


def heat(u: torch.Tensor, *, nu: float, t: float) -> torch.Tensor:
    """The solution at time ``t`` of the heat equation ``u_t = nu * Laplacian(u)`` from ``u``: exact, in Fourier.

    Each Fourier mode decays by ``exp(-nu * |k|^2 * t)``; ``t = 0`` returns ``u`` (up to rounding).
    """
    n = u.shape[-1]
    decay = torch.exp(-nu * t * squared_wavenumber(n, dtype=u.dtype))
    return torch.fft.irfft2(torch.fft.rfft2(u) * decay, s=(n, n))


def _reaction(u: torch.Tensor, dt: float) -> torch.Tensor:
    # Exact solution of u' = u - u^3 after time dt (bounded for every u: the fixed points -1, 0, 1 attract/repel).
    growth = torch.exp(torch.as_tensor(2.0 * dt, dtype=u.dtype))
    return u * growth.sqrt() / torch.sqrt(1.0 + u * u * (growth - 1.0))


def allen_cahn(u: torch.Tensor, *, nu: float, t: float, steps: int) -> torch.Tensor:
    """The solution at time ``t`` of the Allen-Cahn equation ``u_t = nu * Laplacian(u) + u - u^3`` from ``u``.

    Allen-Cahn models phase separation: the reaction ``u - u^3`` drives the field towards the two phases ``-1``
    and ``+1`` while diffusion smooths the interfaces between them. Integrated by Strang splitting with both
    sub-steps exact (the heat step in Fourier, the reaction ODE in closed form), so the scheme is unconditionally
    stable; ``steps`` sets the splitting error (second order in ``t / steps``).
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, but got {steps}")
    dt = t / steps
    u = _reaction(u, dt / 2)
    for i in range(steps):
        u = heat(u, nu=nu, t=dt)
        u = _reaction(u, dt if i < steps - 1 else dt / 2)
    return u
