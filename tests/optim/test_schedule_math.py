"""The pure schedule functions: known values, edges, and their own errors."""

from __future__ import annotations

import math

import pytest

from tune_sched.optim.schedules import (
    linear_decay_factor,
    linear_warmup_cosine_annealing_factor,
    linear_warmup_cosine_annealing_lr,
    linear_warmup_factor,
)

C = (1 + math.cos(math.pi / 4)) / 2  # 0.8536: a quarter of the cosine
S = (1 - math.cos(math.pi / 4)) / 2  # 0.1464


@pytest.mark.parametrize(("kw", "expected"), [
    # warmup over epochs 0..2 (the last warmup epoch is at base), cosine over 3..7, then eta_min
    (dict(warmup_epochs=3, max_epochs=7, warmup_start_lr=0.1), [0.1, 0.55, 1.0, 1.0, C, 0.5, S, 0.0, 0.0, 0.0]),
    # warmup_epochs=1: one epoch at warmup_start_lr, then the cosine from base
    (dict(warmup_epochs=1, max_epochs=5, warmup_start_lr=0.2), [0.2, 1.0, C, 0.5, S, 0.0]),
    # no warmup, with eta_min
    (dict(warmup_epochs=0, max_epochs=2, eta_min=0.2), [1.0, 0.6, 0.2, 0.2]),
])
def test_linear_warmup_cosine_annealing_lr(kw, expected):
    got = [linear_warmup_cosine_annealing_lr(e, base_lr=1.0, **kw) for e in range(len(expected))]
    assert got == pytest.approx(expected, abs=1e-12)


def test_linear_warmup_cosine_factor_is_lr_over_base_and_keeps_zero_base():
    kw = dict(warmup_epochs=2, max_epochs=6, warmup_start_lr=0.01, eta_min=0.001)
    for e in range(8):
        assert linear_warmup_cosine_annealing_factor(e, base_lr=0.5, **kw) == pytest.approx(
            linear_warmup_cosine_annealing_lr(e, base_lr=0.5, **kw) / 0.5)
    assert linear_warmup_cosine_annealing_factor(3, base_lr=0.0, **kw) == 1.0


@pytest.mark.parametrize(("warmup", "total"), [(5, 5), (6, 5), (-1, 5)])
def test_linear_warmup_cosine_rejects_bad_lengths(warmup, total):
    with pytest.raises(ValueError, match="need 0 <= warmup_epochs < max_epochs"):
        linear_warmup_cosine_annealing_lr(0, base_lr=1.0, warmup_epochs=warmup, max_epochs=total)


@pytest.mark.parametrize(("total", "final", "expected"), [
    (4, 0.2, [1.0, 0.8, 0.6, 0.4, 0.2, 0.2]),
    (2, 0.0, [1.0, 0.5, 0.0, 0.0]),
    (1, 0.5, [1.0, 0.5, 0.5]),
])
def test_linear_decay_factor(total, final, expected):
    got = [linear_decay_factor(s, total=total, final_fraction=final) for s in range(len(expected))]
    assert got == pytest.approx(expected, abs=1e-12)


def test_linear_decay_factor_rejects_zero_length():
    with pytest.raises(ValueError, match="total must be at least 1, but got 0"):
        linear_decay_factor(0, total=0)


@pytest.mark.parametrize(("n", "start", "expected"), [
    (4, 0.0, [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]),
    (2, 0.5, [0.5, 0.75, 1.0]),
    (1, 0.1, [0.1, 1.0]),
])
def test_linear_warmup_factor(n, start, expected):
    got = [linear_warmup_factor(s, warmup_steps=n, start_factor=start) for s in range(len(expected))]
    assert got == pytest.approx(expected, abs=1e-12)


def test_linear_warmup_factor_rejects_zero_length():
    with pytest.raises(ValueError, match="warmup_steps must be at least 1, but got 0"):
        linear_warmup_factor(0, warmup_steps=0, start_factor=0.1)
