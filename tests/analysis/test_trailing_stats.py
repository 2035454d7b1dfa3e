"""Trailing-window statistics against plain loops, NaN handling, and numerical locality."""

from __future__ import annotations

import numpy as np
import pytest

from tune_sched.analysis._rolling import (
    block_noise, forward_filled, trailing_ema, trailing_mean_std, trailing_median, trailing_sum,
)


def _windows(row, window):
    """The finite values before each index (at most ``window`` positions back): the reference."""
    out = []
    for i in range(row.size):
        w = row[max(0, i - window) : i]
        out.append(w[np.isfinite(w)])
    return out


@pytest.fixture
def batch():
    rng = np.random.default_rng(3)
    x = rng.lognormal(0.0, 1.0, (4, 53))
    x[0, [3, 10, 11]] = np.nan
    x[1, 20] = np.inf
    x[2, :] = np.nan
    x[3, 40:] = np.nan  # a shorter run, padded
    return x


@pytest.mark.parametrize("window", [4, 8, 13, 64])
def test_mean_std_and_count_match_a_loop(batch, window):
    count, mean, std = trailing_mean_std(batch, window)
    for r, row in enumerate(batch):
        for i, w in enumerate(_windows(row, window)):
            assert count[r, i] == w.size
            if w.size:
                assert mean[r, i] == pytest.approx(w.mean(), rel=1e-12)
            else:
                assert np.isnan(mean[r, i])
            if w.size >= 2:
                assert std[r, i] == pytest.approx(w.std(ddof=1), rel=1e-9, abs=1e-12)
            else:
                assert np.isnan(std[r, i])


@pytest.mark.parametrize("window", [4, 9])
def test_median_matches_a_loop(batch, window):
    count, median = trailing_median(batch, window)
    for r, row in enumerate(batch):
        for i, w in enumerate(_windows(row, window)):
            assert count[r, i] == w.size
            assert (np.isnan(median[r, i]) and not w.size) or median[r, i] == np.median(w)


def test_a_huge_value_does_not_pollute_later_windows():
    x = np.full((1, 2000), 1.0) + 1e-3 * np.sin(np.arange(2000))[None, :]
    x[0, 10] = 1e12
    _, mean, std = trailing_mean_std(x, 16)
    late = x[0, 1000:1016]
    assert std[0, 1016] == pytest.approx(late.std(ddof=1), rel=1e-6)
    assert mean[0, 1016] == pytest.approx(late.mean(), rel=1e-12)


@pytest.mark.parametrize("window", [16, 128])
def test_windows_next_to_a_huge_value_keep_their_own_precision(window):
    # 1e8 at column 1024: the windows just before and just after it, in the same blocks, must not inherit its
    # rounding error (the variance of values near 1 is ~1e-4, the rounding error of a sum holding 1e16 is ~1)
    x = 1.0 + 0.01 * np.sin(np.arange(2000.0))[None, :]
    x[0, 1024] = 1e8
    _, mean, std = trailing_mean_std(x, window)
    sums = trailing_sum(x * x, window)
    for i in [*range(1024 - window + 1, 1025), *range(1025 + window, 1025 + 2 * window)]:
        w = x[0, max(0, i - window) : i]
        assert sums[0, i] == pytest.approx((w * w).sum(), rel=1e-13)
        assert std[0, i] == pytest.approx(w.std(ddof=1), rel=1e-6), i
        assert mean[0, i] == pytest.approx(w.mean(), rel=1e-13)


def test_block_noise_is_the_median_second_difference_of_the_block_before():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 100))
    x[0, 50] = np.nan
    noise = block_noise(x, 16)
    d = np.abs(x[0, 2:] - 2 * x[0, 1:-1] + x[0, :-2])
    second = np.r_[np.nan, np.nan, d]  # second[i] belongs to column i
    per_block = [np.nanmedian(second[b * 16 : (b + 1) * 16]) for b in range(7)]
    assert noise[0, 0] == noise[0, 15] == min(per_block[0], per_block[1])  # the first block also looks ahead
    for b in range(1, 7):
        assert (noise[0, b * 16 : (b + 1) * 16] == per_block[b - 1]).all(), b


def test_block_noise_ignores_a_falling_trend_and_a_spike_in_the_block_it_judges():
    t = np.arange(128.0)
    fall = np.log(1.0 + 4.0 * np.exp(-t / 5.0)) + 0.05 * np.random.default_rng(0).standard_normal(128)
    assert block_noise(fall[None, :], 32)[0, 40] < 0.2  # first differences at the start are up to 0.8
    with_spike = fall.copy()
    with_spike[70] += 3.0
    assert block_noise(with_spike[None, :], 32)[0, 70] == block_noise(fall[None, :], 32)[0, 70]


def test_block_noise_of_rows_without_differences():
    assert np.isnan(block_noise(np.full((1, 40), np.nan), 8)).all()
    assert block_noise(np.zeros((2, 0)), 8).shape == (2, 0)
    short = block_noise(np.array([[1.0, 2.0, 4.0]]), 8)  # one block, one difference
    assert short.tolist() == [[1.0, 1.0, 1.0]]


def test_rows_give_the_same_bits_alone_or_in_a_batch(batch):
    for fn in (lambda a: trailing_mean_std(a, 8)[2], lambda a: trailing_median(a, 8)[1], lambda a: trailing_ema(a, 0.3),
               lambda a: block_noise(a, 8)):
        together = fn(batch)
        for r in range(batch.shape[0]):
            np.testing.assert_array_equal(fn(batch[r : r + 1, :45])[0], together[r, :45])


def test_trailing_sum_of_an_empty_batch():
    assert trailing_sum(np.zeros((3, 0)), 8).shape == (3, 0)


def test_forward_fill_uses_the_last_finite_value_and_the_first_at_the_start():
    x = np.array([[np.nan, 2.0, np.nan, np.inf, 5.0], [np.nan] * 5])
    out = forward_filled(x)
    np.testing.assert_array_equal(out[0], [2.0, 2.0, 2.0, 2.0, 5.0])
    assert np.isnan(out[1]).all()


@pytest.mark.parametrize("alpha", [0.01, 0.3, 0.999, 1.0])
def test_ema_matches_the_recursion(alpha):
    rng = np.random.default_rng(0)
    x = rng.lognormal(0, 2, (2, 700))
    x[0, [0, 1, 50]] = np.nan
    x[1, 300:] = np.nan
    ema = trailing_ema(x, alpha)
    filled = forward_filled(x)
    for r in range(2):
        e = filled[r, 0]
        for i in range(700):
            e = alpha * filled[r, i] + (1 - alpha) * e
            assert ema[r, i] == pytest.approx(e, rel=1e-9)


def test_ema_of_an_all_nan_row_is_nan_and_of_no_columns_is_empty():
    assert np.isnan(trailing_ema(np.full((1, 5), np.nan), 0.3)).all()
    assert trailing_ema(np.zeros((2, 0)), 0.3).shape == (2, 0)
