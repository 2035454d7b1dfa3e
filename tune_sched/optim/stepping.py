"""How often Lightning steps an LR scheduler: the run's length in scheduler steps, by interval and frequency.

Lightning steps an ``interval: epoch`` scheduler at the end of every ``frequency``-th epoch, and an ``interval:
step`` one after every ``frequency``-th batch of an epoch (the batch counter restarts each epoch). Lengths that a
config leaves out (``T_max`` ...) are filled with these counts, and :func:`tune_sched.optim.liveness
.expected_lr_change` simulates exactly this many steps. No torch here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tune_sched.core.checks import as_int

__all__ = ["RunLength", "scheduler_step_count"]

Interval = Literal["epoch", "step"]


def scheduler_step_count(*, interval: Interval, frequency: int, epochs: int, optimizer_steps: int,
                         steps_per_epoch: int | None = None) -> int:
    """Scheduler steps Lightning takes in ``epochs`` epochs of ``optimizer_steps`` optimizer steps in all.

    ``interval: epoch``: ``epochs // frequency``. ``interval: step``: ``optimizer_steps`` for frequency 1; else
    ``frequency`` divides each epoch's batches separately (``steps_per_epoch`` optimizer steps per epoch; without it
    ``optimizer_steps // frequency``). Exact without gradient accumulation; with it, Lightning counts batches.

    Example:
        >>> scheduler_step_count(interval="step", frequency=2, epochs=2, optimizer_steps=10, steps_per_epoch=5)
        4
    """
    if interval == "epoch":
        return epochs // frequency
    if frequency == 1:
        return optimizer_steps
    if not steps_per_epoch:
        return optimizer_steps // frequency
    full, rest = divmod(optimizer_steps, steps_per_epoch)
    return full * (steps_per_epoch // frequency) + rest // frequency


@dataclass(frozen=True)
class RunLength:
    """What is known of the run's length; any two of the three give the third.

    Attributes:
        max_epochs: epochs the trainer runs.
        total_steps: optimizer steps in all (Lightning's ``estimated_stepping_batches``).
        steps_per_epoch: optimizer steps per epoch.
    """

    max_epochs: int | None = None
    total_steps: int | None = None
    steps_per_epoch: int | None = None

    @classmethod
    def of(cls, *, max_epochs: int | None = None, total_steps: int | None = None,
           steps_per_epoch: int | None = None) -> RunLength:
        """Check the given numbers (integers >= 1 or None) and derive a missing one from the other two."""
        epochs = None if max_epochs is None else as_int(max_epochs, "max_epochs", min=1)
        total = None if total_steps is None else as_int(total_steps, "total_steps", min=1)
        per_epoch = None if steps_per_epoch is None else as_int(steps_per_epoch, "steps_per_epoch", min=1)
        if per_epoch is None and epochs is not None and total is not None:
            per_epoch = max(1, total // epochs)
        if total is None and epochs is not None and per_epoch is not None:
            total = epochs * per_epoch
        if epochs is None and total is not None and per_epoch is not None:
            epochs = max(1, total // per_epoch)
        return cls(epochs, total, per_epoch)

    def scheduler_steps(self, interval: Interval, frequency: int = 1) -> int | None:
        """The number of scheduler steps in the whole run, or None when the needed length is unknown."""
        if interval == "epoch":
            return None if self.max_epochs is None else self.max_epochs // frequency
        if self.total_steps is None:
            return None
        return scheduler_step_count(interval="step", frequency=frequency, epochs=self.max_epochs or 0,
                                    optimizer_steps=self.total_steps, steps_per_epoch=self.steps_per_epoch)
