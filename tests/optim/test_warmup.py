"""WarmupLR on its own: argument checks, its state_dict, and per-group base LRs."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.optim.lr_scheduler import ExponentialLR

from tune_sched.optim.warmup import WarmupLR


def _optimizer(*lrs: float) -> torch.optim.Optimizer:
    return torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in lrs])


@pytest.mark.parametrize("kw", [
    dict(warmup_steps=0, start_factor=0.1),
    dict(warmup_steps=2, start_factor=1.5),
    dict(warmup_steps=2, start_factor=0.1, inner_every=0),
])
def test_rejects_bad_arguments(kw):
    optimizer = _optimizer(1.0)
    with pytest.raises(ValueError, match="need warmup_steps >= 1, inner_every >= 1, 0 <= start_factor <= 1"):
        WarmupLR(optimizer, ExponentialLR(optimizer, gamma=0.5), **kw)


def test_rejects_a_scheduler_of_another_optimizer():
    with pytest.raises(ValueError, match="the wrapped scheduler must belong to the same optimizer"):
        WarmupLR(_optimizer(1.0), ExponentialLR(_optimizer(1.0), gamma=0.5), warmup_steps=2, start_factor=0.1)


def test_each_group_warms_up_to_its_own_base_lr():
    optimizer = _optimizer(1.0, 0.1)
    scheduler = WarmupLR(optimizer, ExponentialLR(optimizer, gamma=0.5), warmup_steps=2, start_factor=0.0)
    seen = []
    for _ in range(4):
        seen += [g["lr"] for g in optimizer.param_groups]
        optimizer.step()
        scheduler.step()
    assert seen == pytest.approx([0, 0, 0.5, 0.05, 1, 0.1, 0.5, 0.05])
    assert scheduler.get_last_lr() == pytest.approx([0.25, 0.025])


def test_state_dict_nests_the_inner_state_and_load_does_not_mutate_it():
    optimizer = _optimizer(1.0)
    scheduler = WarmupLR(optimizer, ExponentialLR(optimizer, gamma=0.5), warmup_steps=2, start_factor=0.0)
    for _ in range(3):
        optimizer.step()
        scheduler.step()
    state = scheduler.state_dict()
    assert "optimizer" not in state and "optimizer" not in state["inner"]
    assert state["inner"]["last_epoch"] == 1 and state["last_epoch"] == 3  # t=2 restores, t=3 steps inner
    before = copy.deepcopy(state)
    other_optimizer = _optimizer(1.0)
    other = WarmupLR(other_optimizer, ExponentialLR(other_optimizer, gamma=0.5), warmup_steps=2, start_factor=0.0)
    other.load_state_dict(state)
    assert state == before
    assert other.inner.last_epoch == 1 and other.last_epoch == 3
