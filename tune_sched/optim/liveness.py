"""expected_lr_change: should the configured schedule have moved the LR in a run of this length?

The trial records the LR at every optimizer step. If it never moved although this says it should have, the
scheduler was never stepped: under manual optimization Lightning does not step it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

from tune_sched.config.catalog.checks import validate_lr_scheduler_config
from tune_sched.config.catalog.registry import LR_SCHEDULERS
from tune_sched.optim.stepping import RunLength, scheduler_step_count

__all__ = ["expected_lr_change"]


def expected_lr_change(
    scheduler_config: Mapping[str, Any] | None,
    *,
    epochs: int,
    steps_per_epoch: int,
    optimizer_steps: int,
    max_epochs: int | None = None,
    total_steps: int | None = None,
    base_lr: float = 1.0,
    seen_by_optimizer: bool = False,
) -> bool | None:
    """Simulate the schedule on a throwaway optimizer and say whether the LR changes.

    It takes exactly the scheduler steps Lightning takes in ``epochs`` epochs of ``optimizer_steps`` optimizer
    steps (by ``interval`` and ``frequency``, :func:`~tune_sched.optim.stepping.scheduler_step_count`), including
    the one after the last optimizer step, unless ``seen_by_optimizer``.

    Args:
        scheduler_config: the LR-scheduler block; None (a constant LR) gives False.
        epochs: epochs run.
        steps_per_epoch: optimizer steps per epoch.
        optimizer_steps: optimizer steps run in all.
        max_epochs: the run's planned epochs, to fill left-out lengths as the real run did (default ``epochs``).
        total_steps: the run's planned optimizer steps (default the larger of ``optimizer_steps`` and
            ``max_epochs * steps_per_epoch``).
        base_lr: the throwaway optimizer's LR; pass the real one when absolute LRs in the config (``eta_min``,
            CyclicLR's ``base_lr``) could equal it.
        seen_by_optimizer: count only the scheduler steps taken before the last optimizer step, i.e. the changes
            a per-optimizer-step LR record can show (Lightning steps the scheduler after the optimizer).

    Returns:
        True if the LR differs from its initial value at some simulated step, False if not (also for zero steps),
        None when it depends on metrics (ReduceLROnPlateau, except a warmup in front of it that already moves it).

    Example:
        >>> expected_lr_change({"name": "StepLR", "step_size": 5}, epochs=3, steps_per_epoch=10, optimizer_steps=30)
        False
        >>> expected_lr_change({"name": "StepLR", "step_size": 2}, epochs=3, steps_per_epoch=10, optimizer_steps=30)
        True
    """
    if scheduler_config is None:
        return False
    # lazy: heavy
    import torch

    from tune_sched.optim.lr_schedulers import build_lr_scheduler

    cfg = validate_lr_scheduler_config(scheduler_config)
    max_epochs = max_epochs or max(1, epochs)
    per_epoch = max(1, steps_per_epoch)
    run = RunLength.of(max_epochs=max_epochs, steps_per_epoch=per_epoch,
                       total_steps=total_steps or max(optimizer_steps, max_epochs * per_epoch))
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base_lr, momentum=0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the real run warned already; the simulation steps without training
        built = build_lr_scheduler(optimizer, cfg, total_steps=run.total_steps, max_epochs=run.max_epochs,
                                   steps_per_epoch=run.steps_per_epoch)
        steps = _count(built["interval"], built["frequency"], epochs, steps_per_epoch, optimizer_steps,
                       seen_by_optimizer)
        if LR_SCHEDULERS[cfg["name"]].needs_monitor:
            warmup_steps = built["scheduler"].warmup_steps if "warmup" in cfg else 0
            return True if _changes(built["scheduler"], optimizer, min(steps, warmup_steps)) else None
        return _changes(built["scheduler"], optimizer, steps)


def _count(interval: str, frequency: int, epochs: int, steps_per_epoch: int, optimizer_steps: int,
           seen_by_optimizer: bool) -> int:
    if not seen_by_optimizer:
        return scheduler_step_count(interval=interval, frequency=frequency, epochs=epochs,
                                    optimizer_steps=optimizer_steps, steps_per_epoch=steps_per_epoch)
    if optimizer_steps < 1:
        return 0
    last = optimizer_steps - 1  # the scheduler steps before the last optimizer step are those after the others
    return scheduler_step_count(interval=interval, frequency=frequency, epochs=last // max(1, steps_per_epoch),
                                optimizer_steps=last, steps_per_epoch=steps_per_epoch)


def _changes(scheduler: Any, optimizer: Any, steps: int) -> bool:
    initial = [group["lr"] for group in optimizer.param_groups]
    for _ in range(steps):
        scheduler.step()
        now = [group["lr"] for group in optimizer.param_groups]
        if any(not math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0) for a, b in zip(initial, now)):
            return True
    return False
