"""The spectrum error: how far the log radial power spectrum of a prediction is from the truth's.

The radial spectrum of a field ``x`` (H x W) is computed as follows:

1. ``F = fft2(x)``, unnormalised; power ``|F|^2``.
2. Each mode has the wavenumber ``k = sqrt(kx^2 + ky^2)`` with ``kx = fftfreq(W) * W`` (along W) and
   ``ky = fftfreq(H) * H`` (along H).
3. Shell ``j = 1 ... min(H, W) // 2`` holds the modes with ``k`` in ``(j - 1/2, j + 1/2]``; the DC mode (k = 0)
   and the corner modes beyond the last shell belong to no shell.
4. The spectrum is ``E_j = 2 pi j * mean power of shell j``.

A real field's spectrum is symmetric (``|F(-kx, -ky)| = |F(kx, ky)|``, and both lie in the same shell), so only
the ``rfft2`` half is computed: every column of it that stands for two modes counts twice. The per-mode weights
(mirror count x 2 pi j / modes in the shell) and each mode's shell are precomputed once per (H, W, device,
dtype) and cached; binning is one ``index_add`` (deterministic on CUDA), with no Python loop over shells.
"""

from __future__ import annotations

import functools
import math

import torch

from tune_sched.losses._inputs import check_fields, to_float

__all__ = ["shell_spectrum", "spectrum_error"]

_LOG_EPS = 1e-10
_DIV_EPS = 1e-10


def shell_spectrum(x: torch.Tensor) -> torch.Tensor:
    """The radial spectrum ``E_j = 2 pi j * mean_{k in shell j} |F|^2`` of real fields ``x[..., H, W]``.

    Args:
        x: real tensor ``[..., H, W]`` with ``min(H, W) >= 2``.

    Returns:
        ``[..., min(H, W) // 2]``: entry ``j - 1`` is shell ``j``. A constant field gives all zeros (its power
        is all in the DC mode, which belongs to no shell). NaN in a field makes its whole spectrum NaN. An empty
        batch gives an empty result.

    Raises:
        ValueError: H or W is smaller than 2 (no shell), or ``x`` is complex.
    """
    if x.ndim < 2 or min(x.shape[-2:]) < 2:
        raise ValueError(
            f"shell_spectrum: fields need H and W of at least 2 (shell 1 needs wavenumber 1), "
            f"but got shape {tuple(x.shape)}"
        )
    if x.is_complex():
        raise ValueError(f"shell_spectrum: expects a real field, but got dtype {x.dtype}")
    x = to_float(x)
    h, w = x.shape[-2:]
    shell, weight, n_shells = _shell_index(h, w, x.device, x.dtype)
    if x.numel() == 0:  # an empty batch: some FFT backends reject it
        return x.new_zeros(*x.shape[:-2], n_shells)
    f = torch.fft.rfft2(x)
    power = (f.real.square() + f.imag.square()).flatten(-2)  # [..., H * (W // 2 + 1)]
    lead = power.shape[:-1]
    binned = power.new_zeros(*lead, n_shells + 1).index_add(-1, shell, power * weight)
    return binned[..., :n_shells]  # the last bin collects the modes of no shell


def spectrum_error(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Relative squared error of the log radial spectra, averaged over the batch.

    Channels are averaged into one field first. With ``L = log(E + 1e-10)`` (natural log of the shell spectrum,
    see :func:`shell_spectrum`), each sample's error is ``mean_{t, j} (L_pred - L_true)^2 /
    (mean_{t, j} L_true^2 + 1e-10)``; the result is the mean over samples. Gradients flow to ``pred``
    (and ``true``).

    Args:
        pred: ``[B, C, H, W]`` or ``[B, T, C, H, W]`` with ``min(H, W) >= 2``.
        true: the same shape as ``pred``.

    Returns:
        A 0-d tensor (float32 for half/bfloat16 inputs). ``pred == true`` gives 0; fields that differ only by a
        constant offset give 0 (the DC mode is dropped). NaN in a sample makes the result NaN; an empty batch
        (B = 0) gives NaN.

    Raises:
        ValueError: the shapes differ, are not 4-D/5-D, or H or W is smaller than 2.

    Example:
        >>> t = torch.randn(2, 3, 8, 8)
        >>> float(spectrum_error(t, t))
        0.0
    """
    check_fields(pred, true, loss="spectrum_error")
    channel_dim = -3  # [B, C, H, W] -> [B, H, W]; [B, T, C, H, W] -> [B, T, H, W]
    log_pred = torch.log(shell_spectrum(pred.mean(dim=channel_dim)) + _LOG_EPS)
    log_true = torch.log(shell_spectrum(true.mean(dim=channel_dim)) + _LOG_EPS)
    per_sample = tuple(range(1, log_pred.ndim))  # time (if any) and shells
    error = (log_pred - log_true).square().mean(dim=per_sample)
    scale = log_true.square().mean(dim=per_sample)
    return (error / (scale + _DIV_EPS)).mean()


@functools.lru_cache(maxsize=64)
def _shell_index(h: int, w: int, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, int]:
    """For each ``rfft2`` mode of an H x W field: its bin (shell j -> j - 1; no shell -> the extra last bin) and
    its weight ``mirrors * 2 pi j / modes in shell j`` (0 outside every shell).

    Built outside inference mode even when first asked for inside it (Lightning validates under
    ``torch.inference_mode``), so the cached tensors can later be saved for backward in training.
    """
    with torch.inference_mode(False), torch.no_grad():
        n_shells = min(h, w) // 2
        ky = torch.round(torch.fft.fftfreq(h, dtype=torch.float64) * h)[:, None]  # integers, along H
        kx = torch.round(torch.fft.rfftfreq(w, dtype=torch.float64) * w)[None, :]  # 0 ... W // 2, along W
        k = torch.sqrt(kx.square() + ky.square())
        # k is the square root of an integer, never exactly j + 1/2: ceil(k - 1/2) = j for k in (j - 1/2, j + 1/2].
        shell = torch.ceil(k - 0.5).to(torch.int64)
        # Columns 1 ... ceil(W / 2) - 1 stand for two modes (kx and its mirror -kx); column 0 and, for even W,
        # the Nyquist column W / 2 hold their own mirrors.
        mirrors = torch.full_like(k, 2.0)
        mirrors[:, 0] = 1.0
        if w % 2 == 0:
            mirrors[:, -1] = 1.0
        in_shell = (shell >= 1) & (shell <= n_shells)
        bins = torch.where(in_shell, shell - 1, n_shells).flatten()
        counts = torch.zeros(n_shells + 1, dtype=torch.float64).index_add(0, bins, mirrors.flatten())
        j = torch.arange(1, n_shells + 1, dtype=torch.float64)
        per_mode = torch.cat([2 * math.pi * j / counts[:n_shells], torch.zeros(1, dtype=torch.float64)])
        weight = mirrors.flatten() * per_mode[bins]
        return bins.to(device), weight.to(device=device, dtype=dtype), n_shells
