"""A small 2-D Fourier neural operator (FNO): spectral convolution, Fourier layers, lifting and projection.

``SpectralConv2d`` multiplies the lowest ``modes`` frequencies in both directions (the ``rfft2`` corners
``[:modes, :modes]`` and ``[-modes:, :modes]``) by learned complex matrices and drops the rest. A Fourier layer adds
a pointwise (1x1 conv) skip path; GELU follows every layer but the last. The complex weights are stored as real
tensors with a trailing dimension of 2, so every optimizer, gradient clipping and grad-norm computation sees plain
real parameters.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["FNO2d", "SpectralConv2d"]


class SpectralConv2d(nn.Module):
    """Convolution as a product in Fourier space on the lowest ``modes x modes`` frequencies.

    Args:
        in_channels: Channels of the input field.
        out_channels: Channels of the output field.
        modes: Frequencies kept per direction; at most ``H // 2`` and ``W // 2`` of the fields it is applied to.
    """

    def __init__(self, in_channels: int, out_channels: int, modes: int) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.modes = modes
        scale = 1.0 / (in_channels * out_channels)
        # One weight block per retained corner: low positive and low negative frequencies of the first axis.
        self.weight = nn.Parameter(scale * torch.rand(2, in_channels, out_channels, modes, modes, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, in, H, W]`` -> ``[B, out, H, W]``."""
        height, width = x.shape[-2:]
        m = self.modes
        if 2 * m > height or m > width // 2 + 1:
            raise ValueError(f"modes={m} needs fields of at least {2 * m}x{2 * (m - 1)}, but got {height}x{width}")
        x_hat = torch.fft.rfft2(x)
        weight = torch.view_as_complex(self.weight)
        out = x_hat.new_zeros(x.shape[0], self.out_channels, height, width // 2 + 1)
        out[:, :, :m, :m] = torch.einsum("bixy,ioxy->boxy", x_hat[:, :, :m, :m], weight[0])
        out[:, :, -m:, :m] = torch.einsum("bixy,ioxy->boxy", x_hat[:, :, -m:, :m], weight[1])
        return torch.fft.irfft2(out, s=(height, width))


class FNO2d(nn.Module):
    """Lifting (1x1 conv) -> ``layers`` Fourier layers -> projection (two 1x1 convs with a GELU between).

    Args:
        in_channels: Channels of the input field.
        out_channels: Channels of the output field.
        width: Channels inside the Fourier layers.
        modes: Frequencies kept per direction in every spectral convolution.
        layers: Number of Fourier layers (at least 1).
    """

    def __init__(self, *, in_channels: int = 1, out_channels: int = 1, width: int = 16, modes: int = 8,
                 layers: int = 3) -> None:
        super().__init__()
        self.lift = nn.Conv2d(in_channels, width, kernel_size=1)
        self.spectral = nn.ModuleList(SpectralConv2d(width, width, modes) for _ in range(layers))
        self.skip = nn.ModuleList(nn.Conv2d(width, width, kernel_size=1) for _ in range(layers))
        self.project = nn.Sequential(
            nn.Conv2d(width, 2 * width, kernel_size=1), nn.GELU(), nn.Conv2d(2 * width, out_channels, kernel_size=1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, in, H, W]`` -> ``[B, out, H, W]``."""
        x = self.lift(x)
        last = len(self.spectral) - 1
        for i, (spectral, skip) in enumerate(zip(self.spectral, self.skip)):
            x = spectral(x) + skip(x)
            if i < last:
                x = nn.functional.gelu(x)
        return self.project(x)
