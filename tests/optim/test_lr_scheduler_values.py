"""Known LR values (base LR 1.0) at successive scheduler steps, for every family, warmups and compositions."""

from __future__ import annotations

import math

import pytest

C = (1 + math.cos(math.pi / 4)) / 2  # 0.8536
S = (1 - math.cos(math.pi / 4)) / 2  # 0.1464
C5 = (1 + math.cos(math.pi / 5)) / 2  # 0.9045
C25 = (1 + math.cos(2 * math.pi / 5)) / 2  # 0.6545


def _one_cycle_linear(step: int) -> float:
    # div_factor 10 -> starts at 0.1, peak 1.0 at step 2 (pct_start 0.3 of 10 steps), down to 1e-5 at step 9
    return 0.1 + 0.45 * step if step <= 2 else 1.0 + (1e-5 - 1.0) * (step - 2) / 7


VALUES = [
    pytest.param({"name": "StepLR", "step_size": 2}, {}, [1, 1, 0.1, 0.1, 0.01], id="StepLR"),
    pytest.param({"name": "MultiStepLR", "milestones": [2, 4], "gamma": 0.5}, {}, [1, 1, 0.5, 0.5, 0.25, 0.25],
                 id="MultiStepLR"),
    pytest.param({"name": "ConstantLR", "factor": 0.5, "total_iters": 3}, {}, [0.5, 0.5, 0.5, 1, 1], id="ConstantLR"),
    pytest.param({"name": "LinearLR", "start_factor": 0.5, "total_iters": 2}, {}, [0.5, 0.75, 1, 1], id="LinearLR"),
    pytest.param({"name": "ExponentialLR", "gamma": 0.5}, {}, [1, 0.5, 0.25, 0.125], id="ExponentialLR"),
    pytest.param({"name": "CosineAnnealingLR"}, {"max_epochs": 4}, [1, C, 0.5, S, 0], id="CosineAnnealingLR"),
    pytest.param({"name": "CosineAnnealingLR", "eta_min": 0.5}, {"max_epochs": 2}, [1, 0.75, 0.5],
                 id="CosineAnnealingLR-eta_min"),
    pytest.param({"name": "CosineAnnealingWarmRestarts", "T_0": 2}, {"max_epochs": 10}, [1, 0.5, 1, 0.5, 1],
                 id="CosineAnnealingWarmRestarts"),
    pytest.param({"name": "PolynomialLR"}, {"max_epochs": 4}, [1, 0.75, 0.5, 0.25, 0, 0], id="PolynomialLR"),
    pytest.param({"name": "CyclicLR", "base_lr": 0.1, "max_lr": 1.0, "step_size_up": 2}, {"total_steps": 10},
                 [0.1, 0.55, 1.0, 0.55, 0.1, 0.55], id="CyclicLR"),
    pytest.param({"name": "OneCycleLR", "max_lr": 1.0, "anneal_strategy": "linear", "div_factor": 10},
                 {"total_steps": 10}, [_one_cycle_linear(s) for s in range(10)], id="OneCycleLR"),
    pytest.param({"name": "LinearWarmupCosineAnnealingLR", "warmup_epochs": 3, "warmup_start_lr": 0.1},
                 {"max_epochs": 7}, [0.1, 0.55, 1.0, 1.0, C, 0.5, S, 0.0, 0.0], id="LinearWarmupCosineAnnealingLR"),
    pytest.param({"name": "LinearWarmupCosineAnnealingLR", "warmup_epochs": 1, "warmup_start_lr": 0.2,
                  "max_epochs": 5}, {}, [0.2, 1.0, C, 0.5, S, 0.0], id="LinearWarmupCosineAnnealingLR-warmup1"),
    pytest.param({"name": "LinearDecayLR", "final_fraction": 0.2}, {"total_steps": 4}, [1, 0.8, 0.6, 0.4, 0.2, 0.2],
                 id="LinearDecayLR"),
    pytest.param({"name": "LinearDecayLR", "T": 2}, {}, [1, 0.5, 0, 0], id="LinearDecayLR-explicit-T"),
    pytest.param({"name": "SequentialLR", "schedulers": [{"name": "LinearLR", "start_factor": 0.1, "total_iters": 5},
                                                         {"name": "CosineAnnealingLR"}], "milestones": [5]},
                 {"max_epochs": 10}, [0.1, 0.28, 0.46, 0.64, 0.82, 1, C5, C25, 1 - C25, 1 - C5, 0],
                 id="SequentialLR"),
    pytest.param({"name": "ChainedScheduler", "schedulers": [{"name": "ConstantLR", "factor": 0.5, "total_iters": 2},
                                                             {"name": "ExponentialLR", "gamma": 0.5}]},
                 {}, [0.5, 0.25, 0.25, 0.125, 0.0625], id="ChainedScheduler"),
    pytest.param({"name": "StepLR", "step_size": 2, "frequency": 2}, {}, [1, 1, 0.1, 0.1],
                 id="frequency-does-not-change-the-maths"),
    # warmups: linear from start_factor to base, then the schedule from its own time 0
    pytest.param({"name": "CosineAnnealingLR", "warmup": {"epochs": 2, "start_factor": 0.5}}, {"max_epochs": 6},
                 [0.5, 0.75, 1, C, 0.5, S, 0], id="warmup-epochs"),
    pytest.param({"name": "ExponentialLR", "gamma": 0.5, "interval": "step", "warmup": {"steps": 4,
                                                                                          "start_factor": 0.0}},
                 {}, [0, 0.25, 0.5, 0.75, 1, 0.5, 0.25], id="warmup-steps"),
    pytest.param({"name": "StepLR", "step_size": 1, "gamma": 0.5, "warmup": {"steps": 2, "start_factor": 0.5}},
                 {"max_epochs": 3, "total_steps": 11}, [0.5, 0.75, 1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25],
                 id="warmup-steps-then-per-epoch-every-3-steps"),
    pytest.param({"name": "LinearDecayLR", "warmup": {"epochs": 1, "start_factor": 0.0}},
                 {"max_epochs": 3, "total_steps": 12}, [0, 0.25, 0.5, 0.75, 1, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25,
                                                        0.125, 0, 0], id="warmup-epochs-then-per-step"),
    pytest.param({"name": "SequentialLR", "warmup": {"epochs": 1, "start_factor": 0.0},
                  "schedulers": [{"name": "ConstantLR", "factor": 0.5, "total_iters": 2},
                                 {"name": "ExponentialLR", "gamma": 0.5}], "milestones": [2]},
                 {}, [0, 0.5, 0.5, 1, 0.5, 0.25], id="warmup-around-SequentialLR"),
]


@pytest.mark.parametrize(("cfg", "lengths", "expected"), VALUES)
def test_known_values(cfg, lengths, expected, lr_sequence):
    assert lr_sequence(cfg, len(expected), **lengths) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(("cfg", "metrics", "expected"), [
    pytest.param({"name": "ReduceLROnPlateau", "monitor": "val_loss", "factor": 0.5, "patience": 0},
                 [1, 2, 3, 0.5, 0.6], [1, 1, 0.5, 0.25, 0.25], id="ReduceLROnPlateau"),
    pytest.param({"name": "ReduceLROnPlateau", "monitor": "val_loss", "factor": 0.5, "patience": 0,
                  "warmup": {"epochs": 2, "start_factor": 0.0}},
                 [9, 9, 1, 2, 3, 4], [0, 0.5, 1, 1, 0.5, 0.25], id="warmup-around-ReduceLROnPlateau"),
])
def test_known_values_with_metrics(cfg, metrics, expected, lr_sequence):
    assert lr_sequence(cfg, len(expected), metrics=metrics) == pytest.approx(expected, abs=1e-9)
