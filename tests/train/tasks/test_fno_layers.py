"""The Fourier neural operator layers: the spectral convolution against a direct formula, and FNO2d properties."""

from __future__ import annotations

import math

import pytest
import torch

from tune_sched.train.tasks.fno import FNO2d, SpectralConv2d


def reference_spectral_conv(layer: SpectralConv2d, x: torch.Tensor) -> torch.Tensor:
    """Direct formula: complex channel mixing on the two low-frequency corners of rfft2, zero elsewhere."""
    m = layer.modes
    weight = torch.view_as_complex(layer.weight.detach()).reshape(2 * m, m, layer.in_channels, layer.out_channels)
    x_hat = torch.fft.rfft2(x)
    out = torch.zeros(x.shape[0], layer.out_channels, *x_hat.shape[-2:], dtype=x_hat.dtype)
    for row in range(2 * m):
        freq = row if row < m else row - 2 * m  # rows m..2m-1 are the frequencies -m..-1
        for col in range(m):
            out[:, :, freq, col] = x_hat[:, :, freq, col] @ weight[row, col]
    return torch.fft.irfft2(out, s=x.shape[-2:])


@pytest.mark.parametrize(("c_in", "c_out", "modes", "size"), [(2, 3, 2, (8, 8)), (3, 1, 4, (8, 10)), (1, 1, 1, (4, 4))])
def test_spectral_conv_matches_the_direct_formula(c_in: int, c_out: int, modes: int, size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    layer = SpectralConv2d(c_in, c_out, modes)
    layer.weight.data.normal_()
    x = torch.randn(2, c_in, *size)
    out = layer(x)
    assert out.shape == (2, c_out, *size)
    torch.testing.assert_close(out, reference_spectral_conv(layer, x), rtol=1e-4, atol=1e-5)


def test_spectral_conv_drops_frequencies_above_modes() -> None:
    torch.manual_seed(0)
    layer = SpectralConv2d(1, 1, 3)
    grid = torch.arange(16) * (2 * math.pi / 16)
    high = torch.cos(5 * grid)[None, None, :, None].expand(1, 1, 16, 16)  # frequency 5 along the first axis
    low = torch.cos(2 * grid)[None, None, None, :].expand(1, 1, 16, 16)
    assert layer(high).abs().max() < 1e-5
    assert layer(low).abs().max() > 1e-3


def test_spectral_conv_rejects_too_many_modes() -> None:
    with pytest.raises(ValueError, match=r"modes=5 needs fields of at least 10x8, but got 8x8"):
        SpectralConv2d(1, 1, 5)(torch.zeros(1, 1, 8, 8))


def test_fno_is_translation_equivariant_and_resolution_free() -> None:
    torch.manual_seed(0)
    net = FNO2d(width=4, modes=3, layers=2)
    x = torch.randn(2, 1, 12, 12)
    shifted = torch.roll(x, shifts=(3, -5), dims=(-2, -1))
    torch.testing.assert_close(net(shifted), torch.roll(net(x), shifts=(3, -5), dims=(-2, -1)), rtol=1e-4, atol=1e-5)
    assert net(torch.randn(1, 1, 24, 20)).shape == (1, 1, 24, 20)


def test_fno_parameters_are_real_and_all_get_gradients() -> None:
    torch.manual_seed(0)
    net = FNO2d(width=4, modes=2, layers=3)
    net(torch.randn(2, 1, 8, 8)).square().mean().backward()
    assert len(net.spectral) == len(net.skip) == 3
    for name, p in net.named_parameters():
        assert p.dtype == torch.float32, name
        assert p.grad is not None and p.grad.abs().sum() > 0, name
