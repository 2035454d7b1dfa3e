"""Trailing-window statistics on a batch of series (one row per run), vectorised over rows and time.

Every function takes a 2-D float array ``x`` of shape (runs, steps); shorter runs are padded with NaN at the end.
Non-finite values (NaN, +-inf) never enter a window statistic, and a value never sees itself: the statistics at
column ``i`` describe the finite values among ``x[:, i - window : i]``. Each row is computed independently, with
the same operations in the same order whatever the other rows are, so a run gives bit-identical results alone or
in a batch.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "block_noise", "forward_filled", "trailing_ema", "trailing_mean_std", "trailing_median", "trailing_sum",
]


def trailing_sum(v: np.ndarray, window: int) -> np.ndarray:
    """``out[:, i] = v[:, i - window : i].sum(axis=1)`` (a shorter window near the start), for finite ``v``.

    The columns are cut into blocks of ``window``; window ``i`` is the tail of one block (a cumulative sum from the
    block's right end) plus the head of the next (a cumulative sum from its left end). Nothing is ever subtracted,
    so a sum's rounding error is relative to the values inside its own window: a huge value cannot leave
    cancellation noise in the windows around it.
    """
    rows, n = v.shape
    if n == 0:
        return np.zeros((rows, 0))
    blocks = -(-n // window)
    padded = np.zeros((rows, (blocks + 1) * window))
    padded[:, window : window + n] = v  # window i covers padded[:, i : i + window]
    cells = padded.reshape(rows, blocks + 1, window)
    tail = np.cumsum(cells[:, :blocks, ::-1], axis=2)[:, :, ::-1]  # tail[b, o] = sum of block b from offset o on
    head = np.zeros((rows, blocks, window))  # head[b, o] = sum of block b + 1 before offset o
    np.cumsum(cells[:, 1:, :-1], axis=2, out=head[:, :, 1:])
    return (tail + head).reshape(rows, blocks * window)[:, :n]


def trailing_mean_std(x: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count, mean and sample standard deviation (ddof=1) of the finite values in each trailing window.

    Mean is NaN where the count is 0; the standard deviation is NaN where the count is below 2.
    """
    finite = np.isfinite(x)
    v = np.where(finite, x, 0.0)
    count = trailing_sum(finite.astype(np.float64), window)
    total = trailing_sum(v, window)
    squares = trailing_sum(v * v, window)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        var = (squares - total * mean) / (count - 1.0)
    std = np.sqrt(np.maximum(var, 0.0))
    std[count < 2] = np.nan
    return count, mean, std


def trailing_median(x: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Count and median of the finite values in each trailing window (median NaN where the count is 0)."""
    rows, n = x.shape
    clean = np.where(np.isfinite(x), x, np.nan)
    shifted = np.full((rows, n + 1), np.nan)  # shifted[:, i] = x[:, i - 1]: a window never holds its own value
    shifted[:, 1:] = clean
    rolling = pd.DataFrame(shifted.T).rolling(window, min_periods=1)  # one column per run
    median = rolling.median().to_numpy()[:n].T
    count = trailing_sum(np.isfinite(x).astype(np.float64), window)
    return count, np.ascontiguousarray(median)


def block_noise(x: np.ndarray, window: int) -> np.ndarray:
    """A robust noise scale at each column: the median absolute second difference in a block of columns.

    ``|x[i] - 2 x[i - 1] + x[i - 2]|`` follows the noise and not the trend: a steadily falling loss (the fast fall
    at the start of training) leaves it small, where first differences would measure the fall itself. The columns
    are cut into blocks of ``window``; column ``i`` gets the median over the whole block *before* its own, so a
    spike never inflates the scale it is judged by. The first block has nothing before it: it gets the smaller of
    its own median and the next block's (a leading window), so the first values of a series are judged with a
    full block of evidence, and a spike among them (which touches three second differences of its block) cannot
    hide itself. Differences touching a non-finite value are left out; a block without any takes the nearest
    earlier block's median (the first later one at the start); NaN for a row without any.
    """
    rows, n = x.shape
    if n == 0:
        return np.zeros((rows, 0))
    blocks = -(-n // window)
    steps = np.full((rows, blocks * window), np.inf)  # +inf sorts last: "no difference here"
    with np.errstate(invalid="ignore"):
        d = np.abs(x[:, 2:] - 2.0 * x[:, 1:-1] + x[:, :-2])
    steps[:, 2:n] = np.where(np.isfinite(d), d, np.inf)
    ordered = np.sort(steps.reshape(rows, blocks, window), axis=2)
    count = np.isfinite(ordered).sum(axis=2)
    low = np.take_along_axis(ordered, (np.maximum(count - 1, 0) // 2)[..., None], axis=2)[..., 0]
    high = np.take_along_axis(ordered, np.minimum(count // 2, window - 1)[..., None], axis=2)[..., 0]
    median = forward_filled(np.where(count > 0, 0.5 * (low + high), np.nan))
    judged = np.empty_like(median)
    judged[:, 1:] = median[:, :-1]  # block b is judged by block b - 1
    judged[:, 0] = np.fmin(median[:, 0], median[:, 1]) if blocks > 1 else median[:, 0]
    return np.repeat(judged, window, axis=1)[:, :n]


def forward_filled(x: np.ndarray) -> np.ndarray:
    """Each non-finite value replaced by the last finite value before it (the first finite one at the start).

    Rows without any finite value stay all NaN.
    """
    rows, n = x.shape
    finite = np.isfinite(x)
    idx = np.where(finite, np.arange(n), -1)
    np.maximum.accumulate(idx, axis=1, out=idx)
    first = np.argmax(finite, axis=1)
    idx = np.where(idx < 0, first[:, None], idx)
    out = np.take_along_axis(x, idx, axis=1)
    out[~finite.any(axis=1)] = np.nan
    return out


def trailing_ema(x: np.ndarray, alpha: float) -> np.ndarray:
    """Exponential moving average ``e[i] = alpha * x[i] + (1 - alpha) * e[i - 1]``, started at the first value.

    A non-finite value counts as a repeat of the last finite value before it (``forward_filled``); rows without a
    finite value are all NaN. Computed block by block in closed form, with ``c = 1 - alpha``:
    ``e[s + m] = c**(m + 1) * e[s - 1] + alpha * sum_l c**(m - l) * x[s + l]``, in blocks short enough that
    ``c**-m`` cannot overflow.
    """
    rows, n = x.shape
    if n == 0:
        return np.zeros((rows, 0))
    filled = forward_filled(x)
    empty = np.isnan(filled[:, 0])
    filled[empty] = 0.0
    decay = 1.0 - alpha
    if decay == 0.0:
        out = filled
    else:
        block = int(max(1, min(256, 600.0 / -np.log(decay))))
        up = decay ** -np.arange(block, dtype=np.float64)  # c**-l
        down = decay ** np.arange(1, block + 1, dtype=np.float64)  # c**(m + 1)
        out = np.empty_like(filled)
        carry = filled[:, 0].copy()  # e[-1] := x[0] starts the average at the first value
        for s in range(0, n, block):
            m = min(block, n - s)
            sums = np.cumsum(filled[:, s : s + m] * up[:m], axis=1)
            out[:, s : s + m] = down[:m] * carry[:, None] + alpha * (sums * (down[:m] / decay))
            carry = out[:, s + m - 1]
    out[empty] = np.nan
    return out
