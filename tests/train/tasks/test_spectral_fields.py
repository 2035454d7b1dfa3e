"""Spectral maths of the built-in tasks: wavenumbers, random fields, heat and Allen-Cahn (known values)."""

from __future__ import annotations

import math

import pytest
import torch

from tune_sched.train.tasks.spectral import allen_cahn, gaussian_random_field, heat, squared_wavenumber


def _grid(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.arange(n, dtype=torch.float64) * (2 * math.pi / n)
    return torch.meshgrid(x, x, indexing="ij")


def test_squared_wavenumber_known_values() -> None:
    # first axis kx = 0, 1, -2, -1 (fftfreq); last axis ky = 0, 1, 2 (rfftfreq)
    expected = torch.tensor([[0, 1, 4], [1, 2, 5], [4, 5, 8], [1, 2, 5]], dtype=torch.float64)
    assert torch.equal(squared_wavenumber(4), expected)


def test_random_field_shape_mean_and_std() -> None:
    fields = gaussian_random_field(5, 16, generator=torch.Generator().manual_seed(0))
    assert fields.shape == (5, 16, 16) and fields.dtype == torch.float64
    torch.testing.assert_close(fields.mean(dim=(-2, -1)), torch.zeros(5, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(fields.std(dim=(-2, -1)), torch.ones(5, dtype=torch.float64))


def test_random_field_is_deterministic_and_leaves_the_global_rng_alone() -> None:
    state = torch.random.get_rng_state()
    a = gaussian_random_field(3, 8, generator=torch.Generator().manual_seed(1))
    b = gaussian_random_field(3, 8, generator=torch.Generator().manual_seed(1))
    c = gaussian_random_field(3, 8, generator=torch.Generator().manual_seed(2))
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a, b) and not torch.allclose(a, c)


@pytest.mark.parametrize(("alpha", "smoother_than"), [(2.0, 1.0), (3.0, 2.0)])
def test_larger_alpha_gives_smoother_fields(alpha: float, smoother_than: float) -> None:
    def high_frequency_share(a: float) -> float:
        f = gaussian_random_field(20, 32, generator=torch.Generator().manual_seed(0), alpha=a)
        power = torch.fft.rfft2(f).abs().square().mean(0)
        return float(power[squared_wavenumber(32) > 36].sum() / power.sum())

    assert high_frequency_share(alpha) < 0.5 * high_frequency_share(smoother_than)


def test_random_field_of_zero_count_is_empty() -> None:
    assert gaussian_random_field(0, 8, generator=torch.Generator()).shape == (0, 8, 8)


@pytest.mark.parametrize(("kx", "ky", "nu", "t"), [(1, 0, 0.1, 1.0), (2, 3, 0.01, 2.0), (0, 4, 0.05, 0.5)])
def test_heat_damps_each_mode_by_exp_minus_nu_k2_t(kx: int, ky: int, nu: float, t: float) -> None:
    x, y = _grid(16)
    mode = torch.cos(kx * x + ky * y)
    expected = math.exp(-nu * (kx**2 + ky**2) * t) * mode
    torch.testing.assert_close(heat(mode, nu=nu, t=t), expected)


def test_heat_at_time_zero_is_the_identity() -> None:
    u = gaussian_random_field(2, 8, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(heat(u, nu=1.0, t=0.0), u)


@pytest.mark.parametrize("c", [-2.0, -0.5, 0.0, 0.3, 1.0, 3.0])
def test_allen_cahn_of_a_constant_follows_the_reaction_ode(c: float) -> None:
    # u' = u - u^3 has the solution c e^t / sqrt(1 + c^2 (e^{2t} - 1)); diffusion leaves constants alone.
    t = 0.7
    expected = c * math.exp(t) / math.sqrt(1 + c * c * (math.exp(2 * t) - 1))
    out = allen_cahn(torch.full((8, 8), c, dtype=torch.float64), nu=0.1, t=t, steps=3)
    torch.testing.assert_close(out, torch.full((8, 8), expected, dtype=torch.float64))


def test_allen_cahn_small_fields_follow_the_linearised_equation() -> None:
    # For tiny u the cubic term vanishes: u_t = nu Lap u + u, so a mode grows by exp((1 - nu |k|^2) t).
    x, y = _grid(16)
    u = 1e-6 * torch.sin(2 * x + y)
    out = allen_cahn(u, nu=0.05, t=1.0, steps=4)
    torch.testing.assert_close(out, math.exp(1 - 0.05 * 5) * u, rtol=1e-6, atol=1e-15)


def test_allen_cahn_converges_in_the_number_of_steps() -> None:
    u = 2 * gaussian_random_field(2, 16, generator=torch.Generator().manual_seed(0))
    coarse, fine, finest = (allen_cahn(u, nu=0.01, t=1.0, steps=s) for s in (40, 80, 1280))
    err_coarse = (coarse - finest).norm() / finest.norm()
    err_fine = (fine - finest).norm() / finest.norm()
    assert err_fine < 1e-4
    assert 3.4 < err_coarse / err_fine < 4.5  # second order: halving the step divides the error by about 4


def test_allen_cahn_needs_a_step() -> None:
    with pytest.raises(ValueError, match="steps must be at least 1, but got 0"):
        allen_cahn(torch.zeros(4, 4), nu=0.1, t=1.0, steps=0)
