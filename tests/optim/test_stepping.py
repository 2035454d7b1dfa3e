"""Counting Lightning's scheduler steps, and deriving the run length from what is known."""

from __future__ import annotations

import pytest

from tune_sched.optim.stepping import RunLength, scheduler_step_count
from tune_sched.core.errors import UsageError


@pytest.mark.parametrize(("interval", "frequency", "epochs", "steps", "per_epoch", "expected"), [
    ("epoch", 1, 3, 30, 10, 3),
    ("epoch", 2, 5, 50, 10, 2),
    ("step", 1, 3, 30, 10, 30),
    ("step", 2, 2, 10, 5, 4),      # the batch counter restarts each epoch: 5 batches give 2 steps
    ("step", 2, 2, 10, None, 5),   # without steps_per_epoch: plain division
    ("step", 3, 2, 7, 5, 1),       # 1 in the first epoch; the second has only 2 batches
    ("epoch", 1, 0, 0, 10, 0),
])
def test_scheduler_step_count(interval, frequency, epochs, steps, per_epoch, expected):
    assert scheduler_step_count(interval=interval, frequency=frequency, epochs=epochs, optimizer_steps=steps,
                                steps_per_epoch=per_epoch) == expected


@pytest.mark.parametrize(("given", "expected"), [
    (dict(max_epochs=4, total_steps=40), RunLength(4, 40, 10)),
    (dict(max_epochs=4, steps_per_epoch=10), RunLength(4, 40, 10)),
    (dict(total_steps=40, steps_per_epoch=10), RunLength(4, 40, 10)),
    (dict(max_epochs=4), RunLength(4, None, None)),
    (dict(), RunLength()),
    (dict(max_epochs=4, total_steps=2), RunLength(4, 2, 1)),
])
def test_run_length_fills_the_third_from_two(given, expected):
    assert RunLength.of(**given) == expected


def test_run_length_scheduler_steps():
    run = RunLength.of(max_epochs=4, total_steps=40)
    assert run.scheduler_steps("epoch") == 4
    assert run.scheduler_steps("epoch", 3) == 1
    assert run.scheduler_steps("step") == 40
    assert run.scheduler_steps("step", 3) == 12
    assert RunLength.of(max_epochs=4).scheduler_steps("step") is None
    assert RunLength.of(total_steps=4).scheduler_steps("epoch") is None


@pytest.mark.parametrize(("given", "match"), [
    (dict(max_epochs=0), r"^max_epochs: must be at least 1, but got 0; "),
    (dict(total_steps=2.5), r"^total_steps: must be an integer"),
    (dict(steps_per_epoch=-1), r"^steps_per_epoch: must be at least 1"),
])
def test_run_length_rejects_bad_numbers(given, match):
    with pytest.raises(UsageError, match=match):
        RunLength.of(**given)
