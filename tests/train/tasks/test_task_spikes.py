"""fno2d is where the spike analysis is demonstrated: a high Adam LR spikes, a low one trains smoothly.

Measured at the defaults (30 epochs, seeds 0 and 1): Adam lr 1e-1 blows the loss up to 20-25x its initial value
within the first dozen steps on every seed, and on seed 0 again at step 54 (0.17 -> 6.1, recovering over ~40
steps); lr 1e-3 falls monotonically. lr 1e-2 and 3e-2 train smoothly over 30 epochs.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

import pytest
import pytorch_lightning as pl

from tune_sched.train.tasks.registry import build_task

EPOCHS = 8  # 64 optimizer steps at the defaults (256 samples, batch 32)


def spike_steps(losses: Sequence[float], *, window: int = 10, factor: float = 2.0) -> list[int]:
    """Steps whose loss exceeds ``factor`` times the median of the (up to) ``window`` steps before it."""
    return [i for i in range(1, len(losses)) if losses[i] > factor * statistics.median(losses[max(0, i - window):i])]


@pytest.mark.parametrize(
    ("losses", "expected"),
    [
        ([1.0] * 30, []),
        ([1.0, 3.0, 1.0], [1]),
        ([1.0] * 25 + [2.5] + [1.0] * 4, [25]),
        ([1.0] * 25 + [1.9] * 5, []),
        ([3.0] * 25 + [1.0] * 5, []),
        ([1.0] * 12 + [5.0, 5.0, 5.0, 5.0, 5.0, 5.0], [12, 13, 14, 15, 16]),  # until the median catches up
    ],
)
def test_spike_steps(losses: list[float], expected: list[int]) -> None:
    assert spike_steps(losses) == expected


def step_losses(fit: Any, lr: float, seed: int) -> list[float]:
    pl.seed_everything(seed, verbose=False)
    module, datamodule = build_task("fno2d", {})
    _, recorder = fit(module, datamodule, epochs=EPOCHS, lr=lr)
    return recorder.losses


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_high_lr_spikes_and_low_lr_trains_smoothly(fit: Any, seed: int) -> None:
    low, high = step_losses(fit, 1e-3, seed), step_losses(fit, 1e-1, seed)
    assert len(low) == len(high) == EPOCHS * 8
    assert spike_steps(low) == []
    assert len(spike_steps(high)) >= 3  # measured: 12 (seed 0) and 5 (seed 1)
    assert max(high) > 5 * high[0] and max(low) <= low[0] * 1.01  # measured: 20x and 25x; low never rises
