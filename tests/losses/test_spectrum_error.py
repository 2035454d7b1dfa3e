"""spectrum_error and shell_spectrum: a literal loop reference, hand-computed single modes, gradients, edges."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tune_sched.losses.spectrum import _shell_index, shell_spectrum, spectrum_error


def reference_spectrum(field: np.ndarray) -> np.ndarray:
    """The spec, literally: full fft2, every mode's k, shells (j - 1/2, j + 1/2], mean power times 2 pi j."""
    h, w = field.shape
    n = min(h, w) // 2
    power = np.abs(np.fft.fft2(field)) ** 2
    kx = np.fft.fftfreq(w) * w
    ky = np.fft.fftfreq(h) * h
    sums = [0.0] * (n + 1)
    counts = [0] * (n + 1)
    for iy in range(h):
        for ix in range(w):
            k = math.sqrt(kx[ix] ** 2 + ky[iy] ** 2)
            for j in range(1, n + 1):
                if j - 0.5 < k <= j + 0.5:
                    sums[j] += power[iy, ix]
                    counts[j] += 1
    return np.array([2 * math.pi * j * sums[j] / counts[j] for j in range(1, n + 1)])


def reference_error(pred: np.ndarray, true: np.ndarray) -> float:
    """Channels averaged; per sample mean over (time, shell) of squared log difference over mean squared log truth."""
    if pred.ndim == 4:
        pred, true = pred[:, None], true[:, None]
    per_sample = []
    for b in range(pred.shape[0]):
        num, den, count = 0.0, 0.0, 0
        for t in range(pred.shape[1]):
            lp = np.log(reference_spectrum(pred[b, t].mean(axis=0)) + 1e-10)
            lt = np.log(reference_spectrum(true[b, t].mean(axis=0)) + 1e-10)
            num += float(((lp - lt) ** 2).sum())
            den += float((lt**2).sum())
            count += lp.size
        per_sample.append((num / count) / (den / count + 1e-10))
    return float(np.mean(per_sample))


@pytest.mark.parametrize(
    "shape",
    [(2, 3, 8, 8), (2, 1, 6, 10), (1, 2, 9, 7), (2, 3, 2, 5, 5), (1, 2, 1, 4, 12), (3, 1, 2, 7, 6)],
    ids=lambda s: "x".join(map(str, s)),
)
def test_matches_literal_reference(shape):
    gen = torch.Generator().manual_seed(sum(shape))
    pred = torch.randn(shape, generator=gen, dtype=torch.float64)
    true = torch.randn(shape, generator=gen, dtype=torch.float64) * 0.5 + 0.1
    expected = reference_error(pred.numpy(), true.numpy())
    assert float(spectrum_error(pred, true)) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("hw", [(8, 8), (6, 10), (9, 7), (2, 2), (3, 16)])
def test_shell_spectrum_matches_reference(hw):
    field = torch.randn(hw, generator=torch.Generator().manual_seed(hw[0] * 31 + hw[1]), dtype=torch.float64)
    np.testing.assert_allclose(shell_spectrum(field).numpy(), reference_spectrum(field.numpy()), rtol=1e-10)


@pytest.mark.parametrize(
    ("h", "w", "kx", "ky", "shell", "modes_in_shell"),
    [
        # 8 x 8, shell 2 holds k in (1.5, 2.5]: (+-2, 0), (0, +-2), (+-1, +-2), (+-2, +-1), (+-2, +-2) excluded
        # (k = 2.83): 4 + 8 = 12 modes.
        (8, 8, 2, 0, 2, 12),
        # 8 x 8, shell 1 holds k in (0.5, 1.5]: (+-1, 0), (0, +-1), (+-1, +-1): 8 modes.
        (8, 8, 1, 1, 1, 8),
        # 6 x 10 (H x W): shells 1..3; the mode kx=3 along W, ky=0 sits in shell 3 = k in (2.5, 3.5]:
        # |kx|,|ky| pairs with 6.25 < kx^2+ky^2 <= 12.25: (3,0),(0,3),(3,1),(1,3),(2,2),(3,2),(2,3) -> signs;
        # ky = 3 along H (n=6) exists only as -3 (Nyquist), kx up to +-5 along W (n=10).
        (6, 10, 3, 0, 3, None),
    ],
)
def test_single_mode_lands_in_its_shell(h, w, kx, ky, shell, modes_in_shell):
    y, x = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    amplitude = 3.0
    field = amplitude * torch.cos(2 * math.pi * (kx * x / w + ky * y / h))
    spectrum = shell_spectrum(field)
    # cos puts (A H W / 2)^2 of power in each of the modes (kx, ky) and (-kx, -ky).
    total = 2 * (amplitude * h * w / 2) ** 2
    if modes_in_shell is None:
        modes_in_shell = _count_modes(h, w, shell)
    expected = torch.zeros(min(h, w) // 2, dtype=torch.float64)
    expected[shell - 1] = 2 * math.pi * shell * total / modes_in_shell
    torch.testing.assert_close(spectrum, expected, atol=1e-6, rtol=1e-12)


def _count_modes(h: int, w: int, j: int) -> int:
    kxs = np.fft.fftfreq(w) * w
    kys = np.fft.fftfreq(h) * h
    return sum(1 for a in kxs for b in kys if j - 0.5 < math.hypot(a, b) <= j + 0.5)


def test_non_square_fields_use_kx_along_width_and_drop_modes_beyond_the_last_shell():
    """8 x 16 (H x W) has shells 1..4: kx = 4 along W is shell 4, ky = 3 along H is shell 3, kx = 6 is in none."""
    h, w = 8, 16
    y, x = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    along_w = shell_spectrum(torch.cos(2 * math.pi * 4 * x / w))
    along_h = shell_spectrum(torch.cos(2 * math.pi * 3 * y / h))
    beyond = shell_spectrum(torch.cos(2 * math.pi * 6 * x / w))
    assert along_w.shape == (4,)
    assert int(along_w.argmax()) == 3 and float(along_w.sum() - along_w[3]) == pytest.approx(0.0, abs=1e-6)
    assert int(along_h.argmax()) == 2 and float(along_h.sum() - along_h[2]) == pytest.approx(0.0, abs=1e-6)
    torch.testing.assert_close(beyond, torch.zeros(4, dtype=torch.float64), atol=1e-6, rtol=0)


def test_known_value_for_scaled_single_mode():
    """pred = 2 * true for one mode: only its shell differs, by log 4; the others are log(1e-10) on both sides."""
    h = w = 8
    y, x = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    true = torch.cos(2 * math.pi * (x / w))[None, None]  # kx = 1: shell 1 of 4
    pred = 2 * true
    e1 = 2 * math.pi * 1 * (2 * (h * w / 2) ** 2) / 8  # shell 1 holds 8 modes
    log_true = [math.log(e1 + 1e-10)] + [math.log(1e-10)] * 3
    numerator = math.log((4 * e1 + 1e-10) / (e1 + 1e-10)) ** 2 / 4
    denominator = sum(v * v for v in log_true) / 4 + 1e-10
    # The FFT leaves ~1e-30 of round-off power in empty shells, invisible next to 1e-10.
    assert float(spectrum_error(pred, true)) == pytest.approx(numerator / denominator, rel=1e-9)


def test_identical_and_constant_offset_fields_give_zero():
    true = torch.randn(2, 3, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    assert float(spectrum_error(true, true)) == 0.0
    assert float(spectrum_error(true + 5.0, true)) == pytest.approx(0.0, abs=1e-8)  # DC is dropped
    const = torch.full((2, 1, 8, 8), 3.0)
    assert float(spectrum_error(2 * const, const)) == 0.0


def test_channels_are_averaged_first():
    """Two channels that cancel have a zero mean field: its spectrum is that of zeros, not of either channel."""
    a = torch.randn(1, 1, 8, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    cancelling = torch.cat([a, -a], dim=1)
    zeros = torch.zeros(1, 2, 8, 8, dtype=torch.float64)
    assert float(spectrum_error(cancelling, zeros)) == 0.0


def test_gradcheck_float64():
    gen = torch.Generator().manual_seed(3)
    pred = torch.randn(2, 2, 1, 4, 6, generator=gen, dtype=torch.float64, requires_grad=True)
    true = torch.randn(2, 2, 1, 4, 6, generator=gen, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda p: spectrum_error(p, true), (pred,))


def test_gradients_flow_in_float32_and_half_inputs_run_in_float32():
    pred = torch.randn(2, 1, 8, 8, requires_grad=True)
    true = torch.randn(2, 1, 8, 8)
    spectrum_error(pred, true).backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    out = spectrum_error(pred.detach().half(), true.half())
    assert out.dtype == torch.float32
    assert float(out) == pytest.approx(float(spectrum_error(pred.detach(), true)), rel=1e-2)


def test_cache_built_in_inference_mode_works_in_training():
    """Lightning validates under inference_mode first; the cached shell index must still be usable for backward."""
    _shell_index.cache_clear()
    with torch.inference_mode():
        spectrum_error(torch.randn(1, 1, 10, 12), torch.randn(1, 1, 10, 12))
    pred = torch.randn(1, 1, 10, 12, requires_grad=True)
    spectrum_error(pred, torch.randn(1, 1, 10, 12)).backward()
    assert pred.grad is not None
    assert _shell_index.cache_info().hits >= 1


def test_nan_propagates_and_empty_batch_is_nan():
    true = torch.randn(2, 1, 8, 8)
    pred = true.clone()
    pred[1, 0, 3, 3] = float("nan")
    assert math.isnan(float(spectrum_error(pred, true)))
    empty = torch.zeros(0, 1, 8, 8)
    assert math.isnan(float(spectrum_error(empty, empty)))


@pytest.mark.parametrize(
    ("pred_shape", "true_shape", "match"),
    [
        ((1, 1, 8, 8), (1, 1, 8, 9), r"spectrum_error: pred and true must have the same shape, "
         r"but got \(1, 1, 8, 8\) and \(1, 1, 8, 9\)"),
        ((8, 8), (8, 8), r"spectrum_error: expects fields shaped \[B, C, H, W\] or \[B, T, C, H, W\], "
         r"but got shape \(8, 8\)"),
        ((1, 1, 1, 8), (1, 1, 1, 8), r"shell_spectrum: fields need H and W of at least 2 .*but got shape \(1, 1, 8\)"),
    ],
)
def test_bad_shapes(pred_shape, true_shape, match):
    with pytest.raises(ValueError, match=match):
        spectrum_error(torch.zeros(pred_shape), torch.zeros(true_shape))


def test_shell_spectrum_rejects_complex():
    with pytest.raises(ValueError, match="shell_spectrum: expects a real field, but got dtype torch.complex64"):
        shell_spectrum(torch.zeros(4, 4, dtype=torch.complex64))
