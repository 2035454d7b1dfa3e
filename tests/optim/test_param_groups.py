"""Param groups by glob patterns: first match wins, every parameter exactly once, lr_factor and weight decay."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tune_sched.optim.optimizers import build_optimizer
from tune_sched.optim.param_groups import group_parameters, is_no_decay
from tune_sched.core.errors import UsageError


class ScaleNorm(nn.Module):
    """A norm layer with a 2-D parameter: only the *Norm* module rule sends it to no_decay."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(2, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale.mean(0)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Linear(4, 8)
        self.recurrent_cell = nn.GRUCell(8, 8)
        self.norm = nn.LayerNorm(8)
        self.scale_norm = ScaleNorm()
        self.head = nn.Linear(8, 2)
        self.frozen = nn.Linear(2, 2)
        self.frozen.requires_grad_(False)


SPEC_EXAMPLE = {
    "name": "adamw",
    "lr": 1.0e-3,
    "betas": [0.95, 0.999],
    "weight_decay": 0.01,
    "param_groups": {"*recurrent*": {"lr_factor": 0.2}, "head.*": {"lr_factor": 2.0, "weight_decay": 0.0}},
    "no_decay_bias_and_norm": True,
}


def _groups(opt: torch.optim.Optimizer, model: nn.Module) -> dict[str, tuple[list[str], float, float]]:
    names = {id(p): n for n, p in model.named_parameters()}
    return {g["name"]: (sorted(names[id(p)] for p in g["params"]), g["lr"], g["weight_decay"])
            for g in opt.param_groups}


def test_spec_example_groups():
    model = Net()
    groups = _groups(build_optimizer(model, SPEC_EXAMPLE), model)
    assert groups == {
        "default": (["encoder.weight"], 1e-3, 0.01),
        "default/no_decay": (["encoder.bias", "norm.bias", "norm.weight", "scale_norm.scale"], 1e-3, 0.0),
        "*recurrent*": (["recurrent_cell.weight_hh", "recurrent_cell.weight_ih"], pytest.approx(2e-4), 0.01),
        "*recurrent*/no_decay": (["recurrent_cell.bias_hh", "recurrent_cell.bias_ih"], pytest.approx(2e-4), 0.0),
        "head.*": (["head.bias", "head.weight"], 2e-3, 0.0),  # decay 0 already: no split
    }


def test_every_trainable_parameter_exactly_once_and_frozen_ones_left_out():
    model = Net()
    opt = build_optimizer(model, SPEC_EXAMPLE)
    ids = [id(p) for g in opt.param_groups for p in g["params"]]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in model.parameters() if p.requires_grad}


def test_first_matching_pattern_wins():
    model = Net()
    cfg = {"name": "SGD", "lr": 1.0, "param_groups": {"head.*": {"lr_factor": 3.0}, "*.weight": {"lr_factor": 0.5}}}
    groups = _groups(build_optimizer(model, cfg), model)
    assert groups["head.*"][0] == ["head.bias", "head.weight"]
    assert "head.weight" not in groups["*.weight"][0]
    assert groups["*.weight"][1] == 0.5


def test_without_no_decay_everything_keeps_its_decay():
    model = Net()
    groups = _groups(build_optimizer(model, {"name": "AdamW", "weight_decay": 0.1}), model)
    assert list(groups) == ["default"]
    assert groups["default"][2] == 0.1


def test_group_order_puts_default_first():
    model = Net()
    opt = build_optimizer(model, {**SPEC_EXAMPLE, "param_groups": {"head.*": {}}})
    assert [g["name"] for g in opt.param_groups] == ["default", "default/no_decay", "head.*", "head.*/no_decay"]


@pytest.mark.parametrize(("name", "shape", "in_norm", "expected"), [
    ("fc.bias", (4, 4), False, True),
    ("fc.weight", (4,), False, True),
    ("ln.weight", (2, 2), True, True),
    ("fc.weight", (4, 4), False, False),
    ("biased.weight", (4, 4), False, False),
])
def test_is_no_decay(name, shape, in_norm, expected):
    assert is_no_decay(name, torch.zeros(shape), in_norm_layer=in_norm) is expected


@pytest.mark.parametrize(("patterns", "match"), [
    ({"decoder.*": {}}, r"^optimizer\.param_groups\['decoder\.\*'\]: matches no trainable parameter; patterns are "
                        r"fnmatch globs on names like: encoder\.weight, encoder\.bias, "),
    ({"frozen.*": {}}, r"optimizer\.param_groups\['frozen\.\*'\]: matches no trainable parameter"),
    ({"head.*": {}, "head.weight": {}},
     r"^optimizer\.param_groups\['head\.weight'\]: every parameter it matches is taken by an earlier pattern \(the "
     r"first match wins\); reorder the patterns or remove this one$"),
])
def test_pattern_errors(patterns, match):
    with pytest.raises(UsageError, match=match):
        build_optimizer(Net(), {"name": "Adam", "param_groups": patterns})


def test_group_parameters_without_weight_decay_sets_none():
    groups = group_parameters(Net(), lr=0.1, weight_decay=None, patterns={}, no_decay_bias_and_norm=True)
    assert [g["name"] for g in groups] == ["default"]
    assert "weight_decay" not in groups[0]
