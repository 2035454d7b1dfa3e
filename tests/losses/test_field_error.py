"""field_error: hand-computed values, a literal loop reference, gradients, edges."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tune_sched.losses.field import field_error


def reference_field_error(pred: np.ndarray, true: np.ndarray) -> float:
    """The spec, literally: one ratio per (batch, [time,] channel) frame, then the mean of the ratios."""
    ratios = []
    frames = pred.reshape(-1, *pred.shape[-2:]), true.reshape(-1, *true.shape[-2:])
    for p, t in zip(*frames):
        ratios.append(float(((p - t) ** 2).mean()) / (float((t**2).mean()) + 1e-8))
    return float(np.mean(ratios))


@pytest.mark.parametrize(
    ("pred", "true", "expected"),
    [
        # one frame: error mean (1 + 0 + 1 + 0) / 4 = 0.5, energy (1 + 1 + 1 + 1) / 4 = 1
        ([[[[2.0, 1.0], [0.0, 1.0]]]], [[[[1.0, 1.0], [1.0, 1.0]]]], 0.5 / (1 + 1e-8)),
        # two channels: 0 and (2-1)^2/1 -> mean 0.5
        ([[[[1.0]], [[2.0]]]], [[[[1.0]], [[1.0]]]], 0.5 / (1 + 1e-8)),
        # scale matters per frame: frame energies 4 and 0.25, both predictions off by 100 %
        ([[[[4.0]]], [[[1.0]]]], [[[[2.0]]], [[[0.5]]]], (4 / (4 + 1e-8) + 0.25 / (0.25 + 1e-8)) / 2),
        # a zero truth frame: mean squared prediction / 1e-8
        ([[[[0.001]]]], [[[[0.0]]]], 1e-6 / 1e-8),
    ],
    ids=["one-frame", "two-channels", "per-frame-scale", "zero-truth"],
)
def test_known_values(pred, true, expected):
    out = field_error(torch.tensor(pred, dtype=torch.float64), torch.tensor(true, dtype=torch.float64))
    assert float(out) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (2, 3, 2, 4, 4), (1, 1, 1, 1)], ids=str)
def test_matches_literal_reference(shape):
    gen = torch.Generator().manual_seed(len(shape))
    pred = torch.randn(shape, generator=gen, dtype=torch.float64)
    true = torch.randn(shape, generator=gen, dtype=torch.float64)
    assert float(field_error(pred, true)) == pytest.approx(reference_field_error(pred.numpy(), true.numpy()), rel=1e-12)


def test_identical_fields_give_zero():
    true = torch.randn(2, 4, 3, 8, 8)
    assert float(field_error(true, true)) == 0.0


def test_time_steps_are_frames():
    """5-D input equals the 4-D loss of its frames stacked along the batch."""
    gen = torch.Generator().manual_seed(5)
    pred = torch.randn(2, 3, 2, 4, 4, generator=gen, dtype=torch.float64)
    true = torch.randn(2, 3, 2, 4, 4, generator=gen, dtype=torch.float64)
    flat = field_error(pred.reshape(6, 2, 4, 4), true.reshape(6, 2, 4, 4))
    assert float(field_error(pred, true)) == pytest.approx(float(flat), rel=1e-12)


def test_gradcheck_float64():
    gen = torch.Generator().manual_seed(2)
    pred = torch.randn(2, 1, 3, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    true = torch.randn(2, 1, 3, 3, generator=gen, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda p: field_error(p, true), (pred,))


def test_half_inputs_run_in_float32():
    out = field_error(torch.full((1, 1, 2, 2), 2.0, dtype=torch.bfloat16), torch.ones(1, 1, 2, 2, dtype=torch.bfloat16))
    assert out.dtype == torch.float32 and float(out) == pytest.approx(1.0)


def test_nan_propagates_and_empty_batch_is_nan():
    true = torch.ones(1, 1, 2, 2)
    pred = true.clone()
    pred[0, 0, 0, 0] = float("nan")
    assert math.isnan(float(field_error(pred, true)))
    empty = torch.zeros(0, 1, 2, 2)
    assert math.isnan(float(field_error(empty, empty)))


@pytest.mark.parametrize(
    ("pred_shape", "true_shape", "match"),
    [
        ((1, 1, 2, 2), (1, 1, 2, 3), r"field_error: pred and true must have the same shape, "
         r"but got \(1, 1, 2, 2\) and \(1, 1, 2, 3\)"),
        ((2, 2, 2), (2, 2, 2), r"field_error: expects fields shaped \[B, C, H, W\] or \[B, T, C, H, W\], "
         r"but got shape \(2, 2, 2\)"),
    ],
)
def test_bad_shapes(pred_shape, true_shape, match):
    with pytest.raises(ValueError, match=match):
        field_error(torch.zeros(pred_shape), torch.zeros(true_shape))
