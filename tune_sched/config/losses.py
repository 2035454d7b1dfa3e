"""The losses a config may name: name -> :class:`LossSpec` (torch-free; ``tune_sched.losses.get_loss`` loads one).

A run config names losses in its ``loss_scheduler:`` block and in a built-in task's ``loss`` kwarg; both are checked
against :data:`LOSS_NAMES` here, without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LOSSES", "LOSS_NAMES", "LossSpec"]


@dataclass(frozen=True)
class LossSpec:
    """One registered loss: ``target`` is ``"module:function"``; the function is ``f(pred, true) -> 0-d Tensor``."""

    name: str
    target: str
    description: str


LOSSES: dict[str, LossSpec] = {
    spec.name: spec
    for spec in (
        LossSpec(
            "field",
            "tune_sched.losses.field:field_error",
            "relative squared error per frame (batch item, time step, channel), averaged over frames",
        ),
        LossSpec(
            "spectrum",
            "tune_sched.losses.spectrum:spectrum_error",
            "relative squared error of the log radial power spectrum (channels averaged)",
        ),
        LossSpec("mse", "tune_sched.losses.pointwise:mse", "mean squared error over all elements"),
        LossSpec("mae", "tune_sched.losses.pointwise:mae", "mean absolute error over all elements"),
        LossSpec("huber", "tune_sched.losses.pointwise:huber", "mean Huber loss over all elements (delta 1)"),
    )
}

LOSS_NAMES: tuple[str, ...] = tuple(LOSSES)
