"""build_optimizer: every torch optimizer by name, kwargs checked, torch's own refusals reported as UsageError."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from tune_sched.config.catalog.configs import LRSchedulerConfig, OptimizerConfig
from tune_sched.optim.lr_schedulers import build_lr_scheduler
from tune_sched.optim.registry import OPTIMIZERS
from tune_sched.optim.optimizers import build_optimizer
from tune_sched.core.errors import UsageError

# Optimizers that need a particular model to build: Muon takes 2-D parameters only.
NEEDS_2D = {"Muon"}


def _model(name: str) -> nn.Module:
    torch.manual_seed(0)
    return nn.Linear(3, 2, bias=name not in NEEDS_2D)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_builds_with_defaults(name):
    opt = build_optimizer(_model(name), {"name": name.upper()})
    assert type(opt) is getattr(torch.optim, name)
    assert [g["name"] for g in opt.param_groups] == ["default"]
    assert opt.param_groups[0]["lr"] == OPTIMIZERS[name].kwargs["lr"].default


@pytest.mark.parametrize("name", sorted(n for n in OPTIMIZERS if n not in ("LBFGS", "SparseAdam")))
def test_every_optimizer_takes_a_step_with_decay_groups(name):
    model = _model(name)
    cfg = {"name": name, "lr": 0.01}
    if OPTIMIZERS[name].supports_weight_decay and name not in NEEDS_2D:
        cfg.update(weight_decay=0.1, no_decay_bias_and_norm=True)
    opt = build_optimizer(model, cfg)
    before = [p.detach().clone() for p in model.parameters()]
    model(torch.ones(4, 3)).pow(2).sum().backward()
    opt.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_kwargs_reach_torch_and_betas_become_a_tuple():
    opt = build_optimizer(_model("AdamW"), {"name": "adamw", "lr": "2e-3", "betas": [0.95, 0.999], "eps": 1e-6,
                                            "weight_decay": 0.05, "amsgrad": True})
    assert opt.defaults["betas"] == (0.95, 0.999)
    assert opt.defaults["lr"] == 2e-3
    assert opt.defaults["eps"] == 1e-6
    assert opt.defaults["amsgrad"] is True
    assert opt.param_groups[0]["weight_decay"] == 0.05


def test_config_is_never_mutated():
    cfg = {"name": "adamw", "lr": "1e-3", "betas": [0.9, 0.99], "param_groups": {"bias": {"lr_factor": 2}},
           "no_decay_bias_and_norm": True}
    before = copy.deepcopy(cfg)
    build_optimizer(_model("AdamW"), cfg)
    assert cfg == before


def test_plain_parameters_work_without_patterns():
    model = _model("SGD")
    opt = build_optimizer(model.parameters(), {"name": "SGD", "lr": 0.1, "weight_decay": 0.01,
                                               "no_decay_bias_and_norm": True})
    by_name = {g["name"]: g for g in opt.param_groups}
    assert [p.shape for p in by_name["default"]["params"]] == [torch.Size([2, 3])]
    assert [p.shape for p in by_name["default/no_decay"]["params"]] == [torch.Size([2])]  # 1-D rule
    assert by_name["default/no_decay"]["weight_decay"] == 0.0


@pytest.mark.parametrize(("params", "cfg", "match"), [
    ("module", {"name": "adamx"}, r"^optimizer\.name: unknown optimizer 'adamx' \(did you mean 'Adamax'\?\); use "
                                  r"one of: Adadelta, "),
    ("module", {"name": "Adam", "betaz": [0.9, 0.9]}, r"^optimizer\.betaz: unknown Adam argument 'betaz' \(did you "
                                                      r"mean 'betas'\?\)"),
    ("module", {"name": "Adam", "betas": [0.9]}, r"^optimizer\.betas: must be a list of 2 numbers, but got \[0\.9\]"),
    ("module", {"name": "Adam", "betas": [0.9, 1.5]},
     r"^optimizer: torch\.optim\.Adam refused these settings: Invalid beta parameter at index 1: 1\.5; see the Adam "
     r"documentation"),
    ("module", {"name": "Muon"}, r"^optimizer: torch\.optim\.Muon refused these settings: .*2D"),
    ("module", {"name": "LBFGS", "param_groups": {"bias": {"lr_factor": 2}}},
     r"^optimizer: torch\.optim\.LBFGS refused these settings: LBFGS doesn't support per-parameter options"),
    ("params", {"name": "Adam", "param_groups": {"bias": {}}},
     r"^optimizer\.param_groups: param_groups needs parameter names, but plain parameters were given; pass the "
     r"nn\.Module to build_optimizer$"),
    ("empty", {"name": "Adam"}, r"^optimizer: there are no trainable parameters to optimize"),
    ("junk", {"name": "Adam"}, r"^optimizer: expected an nn\.Module or an iterable of tensors, but item 0 is str"),
])
def test_errors(params, cfg, match):
    model = nn.Linear(3, 2)  # with a 1-D bias, which Muon refuses
    given = {"module": model, "params": model.parameters(), "empty": [], "junk": ["weight"]}[params]
    with pytest.raises(UsageError, match=match):
        build_optimizer(given, cfg)


def test_builders_take_typed_blocks():
    block = {"param_groups": {"0.*": {"lr_factor": 2, "weight_decay": 0}}, "name": "AdamW",
             "no_decay_bias_and_norm": True, "weight_decay": 0.1}
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.LayerNorm(2))
    optimizer = build_optimizer(model, OptimizerConfig.from_dict(block))
    from_dict = build_optimizer(model, block)
    assert [(g["name"], g["weight_decay"]) for g in optimizer.param_groups] == [
        (g["name"], g["weight_decay"]) for g in from_dict.param_groups] == [("default/no_decay", 0.0), ("0.*", 0.0)]
    scheduler = LRSchedulerConfig.from_dict({"name": "cosineannealinglr", "eta_min": "1e-6"})
    assert build_lr_scheduler(optimizer, scheduler, max_epochs=4)["scheduler"].T_max == 4
