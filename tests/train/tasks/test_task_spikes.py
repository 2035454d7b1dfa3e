"""fno2d is where the spike analysis is demonstrated: a high Adam LR spikes, a low one trains smoothly."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

import pytest
import pytorch_lightning as pl

from tune_sched.train.tasks.registry import build_task

EPOCHS = 30  # 240 optimizer steps at the defaults (256 samples, batch 32)
TRANSIENT = 20  # the first steps fall steeply at any LR; spikes are judged after them


def spike_count(losses: Sequence[float], *, window: int = 10, factor: float = 2.0) -> int:
    """Steps (after the transient) whose loss exceeds ``factor`` times the median of the ``window`` steps before."""
    return sum(
        losses[i] > factor * statistics.median(losses[i - window:i]) for i in range(TRANSIENT, len(losses))
    )


@pytest.mark.parametrize(
    ("losses", "expected"),
    [([1.0] * 30, 0), ([1.0] * 25 + [2.5] + [1.0] * 4, 1), ([1.0] * 25 + [1.9] * 5, 0), ([3.0] * 25 + [1.0] * 5, 0)],
)
def test_spike_count(losses: list[float], expected: int) -> None:
    assert spike_count(losses) == expected


def step_losses(fit: Any, lr: float, seed: int) -> list[float]:
    pl.seed_everything(seed, verbose=False)
    module, datamodule = build_task("fno2d", {})
    _, recorder = fit(module, datamodule, epochs=EPOCHS, lr=lr)
    return recorder.losses


@pytest.mark.slow
def test_high_lr_spikes_and_low_lr_trains_smoothly(fit: Any) -> None:
    low, high = step_losses(fit, 1e-3, 0), step_losses(fit, 1e-1, 0)
    assert len(low) == len(high) == EPOCHS * 8
    assert spike_count(low) == 0
    assert spike_count(high) >= 3
    assert max(high[TRANSIENT:]) > 2 * max(low[TRANSIENT:])  # the spikes are large, not just noise
