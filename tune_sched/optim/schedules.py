"""Schedule maths: pure functions of the scheduler step with keyword-only parameters.

The builders bind the parameters with :func:`functools.partial` and hand the result to ``torch.optim.lr_scheduler
.LambdaLR`` (one function per param group), so a scheduler built from them pickles and its ``state_dict`` reloads:
no closures, no lambdas. ``*_factor`` functions return the multiplier of the group's base LR that ``LambdaLR``
wants; the others return the LR itself. No torch here.

Example:
    >>> linear_decay_factor(5, total=10, final_fraction=0.0)
    0.5
    >>> linear_warmup_cosine_annealing_lr(0, base_lr=1.0, warmup_epochs=3, max_epochs=10, warmup_start_lr=0.1)
    0.1
"""

from __future__ import annotations

import math

__all__ = [
    "linear_decay_factor",
    "linear_warmup_cosine_annealing_factor",
    "linear_warmup_cosine_annealing_lr",
    "linear_warmup_factor",
]


def linear_warmup_cosine_annealing_lr(
    epoch: int, *, base_lr: float, warmup_epochs: int, max_epochs: int, warmup_start_lr: float = 0.0,
    eta_min: float = 0.0,
) -> float:
    """Linear warmup from ``warmup_start_lr`` to ``base_lr``, then a half cosine down to ``eta_min``.

    For ``epoch < warmup_epochs``: ``warmup_start_lr + epoch * (base_lr - warmup_start_lr) / (warmup_epochs - 1)``,
    so the last warmup epoch is at ``base_lr``. ``warmup_epochs == 1`` is one epoch at ``warmup_start_lr`` (the
    divisor is ``max(1, warmup_epochs - 1)``); ``warmup_epochs == 0`` is no warmup. From ``warmup_epochs`` on:
    ``eta_min + (base_lr - eta_min) * (1 + cos(pi * (epoch - warmup_epochs) / (max_epochs - warmup_epochs))) / 2``,
    which starts at ``base_lr``; from ``max_epochs`` on the LR stays at ``eta_min`` (it does not rise again).
    "Epoch" is one scheduler step: with ``interval: step`` both lengths count steps.

    Raises:
        ValueError: ``max_epochs <= warmup_epochs`` or a negative ``warmup_epochs`` (the builders check first).
    """
    if warmup_epochs < 0 or max_epochs <= warmup_epochs:
        raise ValueError(f"need 0 <= warmup_epochs < max_epochs, but got {warmup_epochs=}, {max_epochs=}")
    if epoch < warmup_epochs:
        return warmup_start_lr + epoch * (base_lr - warmup_start_lr) / max(1, warmup_epochs - 1)
    if epoch >= max_epochs:
        return eta_min
    progress = (epoch - warmup_epochs) / (max_epochs - warmup_epochs)
    return eta_min + 0.5 * (base_lr - eta_min) * (1.0 + math.cos(math.pi * progress))


def linear_warmup_cosine_annealing_factor(
    epoch: int, *, base_lr: float, warmup_epochs: int, max_epochs: int, warmup_start_lr: float = 0.0,
    eta_min: float = 0.0,
) -> float:
    """:func:`linear_warmup_cosine_annealing_lr` divided by ``base_lr`` (``LambdaLR``'s multiplier).

    A group whose base LR is 0 keeps LR 0 (factor 1.0): a multiplier cannot reach an absolute LR from 0.
    """
    if base_lr == 0:
        return 1.0
    return linear_warmup_cosine_annealing_lr(
        epoch, base_lr=base_lr, warmup_epochs=warmup_epochs, max_epochs=max_epochs,
        warmup_start_lr=warmup_start_lr, eta_min=eta_min,
    ) / base_lr


def linear_decay_factor(step: int, *, total: int, final_fraction: float = 0.0) -> float:
    """``(1 - min(step, total) / total) * (1 - final_fraction) + final_fraction``: 1 at step 0, ``final_fraction``
    from step ``total`` on.

    Raises:
        ValueError: ``total < 1``.
    """
    if total < 1:
        raise ValueError(f"total must be at least 1, but got {total}")
    return (1.0 - min(step, total) / total) * (1.0 - final_fraction) + final_fraction


def linear_warmup_factor(step: int, *, warmup_steps: int, start_factor: float) -> float:
    """``start_factor + (1 - start_factor) * step / warmup_steps`` before ``warmup_steps``, then 1.

    Step 0 is at ``start_factor``; the base LR is reached at ``warmup_steps`` (the first step after the warmup).

    Raises:
        ValueError: ``warmup_steps < 1``.
    """
    if warmup_steps < 1:
        raise ValueError(f"warmup_steps must be at least 1, but got {warmup_steps}")
    if step >= warmup_steps:
        return 1.0
    return start_factor + (1.0 - start_factor) * step / warmup_steps
