"""expected_lr_change: should the LR have moved in a run of this length (True / False / None)?"""

from __future__ import annotations

import pytest

from tune_sched.optim.liveness import expected_lr_change


@pytest.mark.parametrize(("cfg", "run", "expected"), [
    (None, dict(epochs=3, steps_per_epoch=10, optimizer_steps=30), False),
    ({"name": "StepLR", "step_size": 2}, dict(epochs=3, steps_per_epoch=10, optimizer_steps=30), True),
    ({"name": "StepLR", "step_size": 5}, dict(epochs=3, steps_per_epoch=10, optimizer_steps=30), False),
    ({"name": "StepLR", "step_size": 1}, dict(epochs=0, steps_per_epoch=10, optimizer_steps=0), False),
    ({"name": "StepLR", "step_size": 1, "frequency": 2}, dict(epochs=1, steps_per_epoch=10, optimizer_steps=10),
     False),  # Lightning steps it at the end of every 2nd epoch only
    ({"name": "StepLR", "step_size": 1, "frequency": 2}, dict(epochs=2, steps_per_epoch=10, optimizer_steps=20),
     True),
    ({"name": "StepLR", "step_size": 25, "interval": "step"}, dict(epochs=2, steps_per_epoch=10, optimizer_steps=20),
     False),
    ({"name": "StepLR", "step_size": 15, "interval": "step"}, dict(epochs=2, steps_per_epoch=10, optimizer_steps=20),
     True),
    ({"name": "CosineAnnealingLR"}, dict(epochs=2, steps_per_epoch=5, optimizer_steps=10), True),
    ({"name": "LinearDecayLR"}, dict(epochs=1, steps_per_epoch=5, optimizer_steps=5), True),
    ({"name": "OneCycleLR", "max_lr": 0.1}, dict(epochs=3, steps_per_epoch=3, optimizer_steps=10), True),
    ({"name": "ConstantLR", "factor": 1.0}, dict(epochs=10, steps_per_epoch=5, optimizer_steps=50), False),
    ({"name": "MultiStepLR", "milestones": [4, 8]}, dict(epochs=3, steps_per_epoch=5, optimizer_steps=15), False),
    ({"name": "ReduceLROnPlateau", "monitor": "val_loss"}, dict(epochs=5, steps_per_epoch=5, optimizer_steps=25),
     None),
    ({"name": "ReduceLROnPlateau", "monitor": "val_loss", "warmup": {"epochs": 2, "start_factor": 0.1}},
     dict(epochs=5, steps_per_epoch=5, optimizer_steps=25), True),
    ({"name": "ReduceLROnPlateau", "monitor": "val_loss", "warmup": {"epochs": 2, "start_factor": 1.0}},
     dict(epochs=5, steps_per_epoch=5, optimizer_steps=25), None),
    ({"name": "StepLR", "step_size": 100, "warmup": {"steps": 3, "start_factor": 0.5}},
     dict(epochs=2, steps_per_epoch=5, optimizer_steps=10), True),
    ({"name": "CyclicLR", "base_lr": 1.0, "max_lr": 1.0}, dict(epochs=1, steps_per_epoch=5, optimizer_steps=5),
     False),
])
def test_expected_lr_change(cfg, run, expected):
    assert expected_lr_change(cfg, **run) is expected


@pytest.mark.parametrize(("seen", "expected"), [(False, True), (True, False)])
def test_seen_by_optimizer_leaves_out_the_step_after_the_last_optimizer_step(seen, expected):
    # one epoch: Lightning steps the epoch scheduler once, after the last optimizer step, which uses the old LR
    run = dict(epochs=1, steps_per_epoch=10, optimizer_steps=10)
    assert expected_lr_change({"name": "StepLR", "step_size": 1}, **run, seen_by_optimizer=seen) is expected


def test_seen_by_optimizer_for_step_intervals():
    cfg = {"name": "StepLR", "step_size": 4, "interval": "step"}
    assert expected_lr_change(cfg, epochs=1, steps_per_epoch=5, optimizer_steps=5, seen_by_optimizer=True) is True
    assert expected_lr_change(cfg, epochs=1, steps_per_epoch=4, optimizer_steps=4, seen_by_optimizer=True) is False


def test_base_lr_matters_for_absolute_settings():
    cfg = {"name": "CosineAnnealingLR", "eta_min": 0.01}
    assert expected_lr_change(cfg, epochs=3, steps_per_epoch=2, optimizer_steps=6, base_lr=0.01) is False
    assert expected_lr_change(cfg, epochs=3, steps_per_epoch=2, optimizer_steps=6) is True


def test_planned_lengths_fill_like_the_real_run():
    # the real run planned 100 epochs; after 2 epochs a T_max of 100 barely moves, but it does move
    cfg = {"name": "CosineAnnealingLR"}
    assert expected_lr_change(cfg, epochs=2, steps_per_epoch=3, optimizer_steps=6, max_epochs=100) is True


def test_invalid_config_is_a_usage_error():
    from tune_sched.core.errors import UsageError

    with pytest.raises(UsageError, match=r"^lr_scheduler\.name: unknown LR scheduler 'nope'"):
        expected_lr_change({"name": "nope"}, epochs=1, steps_per_epoch=1, optimizer_steps=1)
