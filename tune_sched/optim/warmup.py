"""WarmupLR: a linear warmup in front of any LR scheduler, whose time starts when the warmup ends.

The ``warmup:`` block of an LR-scheduler config builds one. Scheduler step ``t < warmup_steps`` sets every group's
LR to ``base * (start_factor + (1 - start_factor) * t / warmup_steps)``; at ``t == warmup_steps`` the LRs the
wrapped scheduler set at its own time 0 are restored (usually the base LRs), and from then on the wrapped scheduler
is stepped every ``inner_every``-th step: 1 when warmup and schedule count the same unit, ``steps_per_epoch`` when a
warmup in steps runs in front of a per-epoch schedule (see :mod:`tune_sched.optim.lr_schedulers`).

It is a class because it has state (its step counter and the wrapped scheduler); it pickles, and its
``state_dict`` holds the wrapped scheduler's, so a reloaded WarmupLR continues the same LR sequence.
"""

from __future__ import annotations

from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from tune_sched.optim.schedules import linear_warmup_factor

__all__ = ["WarmupLR"]


class WarmupLR(LRScheduler):
    """Linear warmup from ``start_factor * base_lr`` to ``base_lr`` over ``warmup_steps`` steps, then ``inner``.

    Args:
        optimizer: the optimizer ``inner`` adjusts.
        inner: the wrapped scheduler, already built on ``optimizer``; ReduceLROnPlateau gets ``step(metrics)``.
        warmup_steps: scheduler steps of warmup (>= 1).
        start_factor: the LR fraction of step 0, in [0, 1].
        inner_every: step ``inner`` once every this many steps after the warmup (>= 1).
    """

    def __init__(self, optimizer: Optimizer, inner: LRScheduler | ReduceLROnPlateau, *, warmup_steps: int,
                 start_factor: float, inner_every: int = 1) -> None:
        if warmup_steps < 1 or inner_every < 1 or not 0.0 <= start_factor <= 1.0:
            raise ValueError(f"need warmup_steps >= 1, inner_every >= 1, 0 <= start_factor <= 1, but got "
                             f"{warmup_steps=}, {inner_every=}, {start_factor=}")
        if inner.optimizer is not optimizer:
            raise ValueError("the wrapped scheduler must belong to the same optimizer")
        self.inner = inner
        self.warmup_steps = warmup_steps
        self.start_factor = start_factor
        self.inner_every = inner_every
        self.inner_start_lrs = list(inner.get_last_lr())
        super().__init__(optimizer)

    def step(self, metrics: Any = None) -> None:  # type: ignore[override]
        """One scheduler step; ``metrics`` goes to a wrapped ReduceLROnPlateau (ignored during the warmup)."""
        self._step_count += 1
        self.last_epoch += 1
        t = self.last_epoch
        if t < self.warmup_steps:
            factor = linear_warmup_factor(t, warmup_steps=self.warmup_steps, start_factor=self.start_factor)
            self._set([base * factor for base in self.base_lrs])
        elif t == self.warmup_steps:
            self._set(self.inner_start_lrs)
        elif (t - self.warmup_steps) % self.inner_every == 0:
            if isinstance(self.inner, ReduceLROnPlateau):
                self.inner.step(metrics)
            else:
                self.inner.step()
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _set(self, lrs: list[Any]) -> None:
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            group["lr"] = lr

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer, with the wrapped scheduler's own state_dict under ``inner``."""
        state = {key: value for key, value in self.__dict__.items() if key not in ("optimizer", "inner")}
        state["inner"] = self.inner.state_dict()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (the argument is not mutated)."""
        state = dict(state_dict)
        self.inner.load_state_dict(state.pop("inner"))
        self.__dict__.update(state)
