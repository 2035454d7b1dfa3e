"""Shared helpers for the builder tests."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest
import torch

from tune_sched.optim.lr_schedulers import build_lr_scheduler


def _new_optimizer(lr: float) -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr, momentum=0.9)


def _run(optimizer: torch.optim.Optimizer, scheduler: Any, n: int,
         metrics: Sequence[float] | None = None) -> list[float]:
    """The LR of each of ``n`` optimizer steps, stepping the scheduler after each (metrics for plateau)."""
    out = []
    for i in range(n):
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()  # no gradients: a no-op, but it keeps torch's call-order check quiet
        if metrics is None:
            scheduler.step()
        else:
            scheduler.step(metrics[i])
    return out


@pytest.fixture
def build_on_sgd() -> Callable[..., tuple[torch.optim.Optimizer, dict[str, Any]]]:
    """``build_on_sgd(cfg, lr=1.0, **lengths)`` -> (a one-parameter SGD optimizer, the lr_scheduler dict)."""
    def build(cfg: Mapping[str, Any], *, lr: float = 1.0, **lengths: Any) -> tuple[Any, dict[str, Any]]:
        optimizer = _new_optimizer(lr)
        return optimizer, build_lr_scheduler(optimizer, cfg, **lengths)
    return build


@pytest.fixture
def lr_sequence(build_on_sgd) -> Callable[..., list[float]]:
    """``lr_sequence(cfg, n, metrics=None, **lengths)``: the LR seen by each of n steps, base LR 1.0."""
    def sequence(cfg: Mapping[str, Any], n: int, *, metrics: Sequence[float] | None = None,
                 **lengths: Any) -> list[float]:
        optimizer, built = build_on_sgd(cfg, **lengths)
        return _run(optimizer, built["scheduler"], n, metrics)
    return sequence


@pytest.fixture
def run_schedule() -> Callable[..., list[float]]:
    """``run_schedule(optimizer, scheduler, n, metrics=None)``: continue a built schedule for n steps."""
    return _run
