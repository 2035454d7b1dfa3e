"""combine: the weighted sum of named loss components."""

from __future__ import annotations

import math

import pytest
import torch

from tune_sched.core.errors import UsageError
from tune_sched.losses import combine


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        ({"field": 1.0, "spectrum": 0.0}, 2.0),
        ({"field": 0.3, "spectrum": 0.7}, 0.3 * 2.0 + 0.7 * 10.0),
        ({"spectrum": 2.0}, 20.0),  # field is only logged
        ({"field": 0.5, "spectrum": 0.5, "mse": 1.0}, 7.0),
    ],
)
def test_weighted_sum(weights, expected):
    components = {"field": torch.tensor(2.0), "spectrum": torch.tensor(10.0), "mse": torch.tensor(1.0)}
    assert float(combine(components, weights)) == pytest.approx(expected)


def test_gradient_follows_the_weights():
    a = torch.tensor(1.0, requires_grad=True)
    b = torch.tensor(1.0, requires_grad=True)
    combine({"field": a * 3, "spectrum": b * 5}, {"field": 0.25, "spectrum": 0.75}).backward()
    assert float(a.grad) == pytest.approx(0.75) and float(b.grad) == pytest.approx(3.75)


def test_zero_weight_skips_a_nan_component():
    out = combine({"field": torch.tensor(2.0), "spectrum": torch.tensor(float("nan"))}, {"field": 1.0, "spectrum": 0.0})
    assert float(out) == 2.0


def test_all_zero_weights_give_zero_times_the_first():
    out = combine({"field": torch.tensor(2.0), "spectrum": torch.tensor(3.0)}, {"field": 0.0, "spectrum": 0.0})
    assert float(out) == 0.0
    assert math.isnan(float(combine({"field": torch.tensor(float("nan"))}, {"field": 0.0})))


@pytest.mark.parametrize(
    ("components", "weights", "match"),
    [
        (
            {"field": 1.0},
            {"field": 0.5, "spectrum": 0.5},
            r"^loss weights: has a weight for loss component 'spectrum', but it was not computed "
            r"\(components: field\); "
            r"compute 'spectrum' in the training step, or drop its weight$",
        ),
        ({}, {"field": 1.0}, r"\(components: none\)"),
        ({"field": 1.0}, {}, r"^loss weights: no loss weights given; give at least one component a weight$"),
        (
            {"field": 1.0},
            {"field": float("nan")},
            r"^loss weights: weight of 'field' must be a finite number, but got nan$",
        ),
        ({"field": 1.0}, {"field": "1"}, r"weight of 'field' must be a finite number, but got '1'"),
    ],
)
def test_errors(components, weights, match):
    with pytest.raises(UsageError, match=match):
        combine(components, weights)
