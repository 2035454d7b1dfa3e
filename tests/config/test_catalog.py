"""The torch-free config checks that `tune-sched validate` and the builders rely on."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest

from tune_sched.config.catalog.checks import validate_lr_scheduler_config, validate_optimizer_config
from tune_sched.core.errors import UsageError


def test_catalog_imports_no_torch():
    code = ("import sys, tune_sched.optim, tune_sched.optim.catalog, tune_sched.optim.registry, "
            "tune_sched.config.run_config; "
            "assert 'torch' not in sys.modules, 'catalog imported torch'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(("cfg", "expected"), [
    ({"name": "adamw", "lr": "1e-3", "betas": [0.95, 0.999]}, {"name": "AdamW", "lr": 1e-3, "betas": [0.95, 0.999]}),
    ({"name": "SGD", "lr": 1, "momentum": 0.9, "nesterov": True},
     {"name": "SGD", "lr": 1.0, "momentum": 0.9, "nesterov": True}),
    ({"name": "adam", "betas": (0.9, "0.99"), "param_groups": {"head.*": {"lr_factor": 2, "weight_decay": 0}},
      "no_decay_bias_and_norm": True},
     {"name": "Adam", "betas": [0.9, 0.99], "param_groups": {"head.*": {"lr_factor": 2.0, "weight_decay": 0.0}},
      "no_decay_bias_and_norm": True}),
    ({"name": "Adafactor", "eps": [None, 1e-3]}, {"name": "Adafactor", "eps": [None, 1e-3]}),
])
def test_optimizer_config_is_normalized_and_idempotent(cfg, expected):
    before = copy.deepcopy(cfg)
    out = validate_optimizer_config(cfg)
    assert out == expected
    assert isinstance(out["lr" if "lr" in out else "name"], (float, str))
    assert cfg == before  # never mutated
    assert validate_optimizer_config(out) == out


@pytest.mark.parametrize(("cfg", "expected"), [
    ({"name": "cosineannealinglr", "T_max": 10.0, "eta_min": "1e-6"},
     {"name": "CosineAnnealingLR", "T_max": 10, "eta_min": 1e-6}),
    ({"name": "reducelronplateau", "monitor": "val_loss", "mode": "max", "interval": "epoch", "strict": False},
     {"name": "ReduceLROnPlateau", "mode": "max", "interval": "epoch", "monitor": "val_loss", "strict": False}),
    ({"name": "SequentialLR", "schedulers": [{"name": "linearlr", "start_factor": 0.1, "total_iters": 5},
                                             {"name": "CosineAnnealingLR"}], "milestones": [5]},
     {"name": "SequentialLR", "milestones": [5],
      "schedulers": [{"name": "LinearLR", "start_factor": 0.1, "total_iters": 5}, {"name": "CosineAnnealingLR"}]}),
    ({"name": "StepLR", "step_size": 3, "frequency": 2},
     {"name": "StepLR", "step_size": 3, "frequency": 2}),
    ({"name": "CosineAnnealingLR", "warmup": {"steps": 100, "start_factor": "1e-2"}},
     {"name": "CosineAnnealingLR", "warmup": {"steps": 100, "start_factor": 0.01}}),
    ({"name": "OneCycleLR", "max_lr": [0.1, 0.2]}, {"name": "OneCycleLR", "max_lr": [0.1, 0.2]}),
])
def test_scheduler_config_is_normalized_and_idempotent(cfg, expected):
    before = copy.deepcopy(cfg)
    out = validate_lr_scheduler_config(cfg)
    assert out == expected
    assert cfg == before
    assert validate_lr_scheduler_config(out) == out


@pytest.mark.parametrize(("cfg", "match"), [
    ({"lr": 1e-3}, r"^optimizer\.name: needs 'name'; e\.g\. name: AdamW$"),
    ({"name": "adamx"}, r"^optimizer\.name: unknown optimizer 'adamx' \(did you mean 'Adamax'\?\); use one of: "
                        r"Adadelta, .*SGD, SparseAdam$"),
    ({"name": 3}, r"optimizer\.name: unknown optimizer 3"),
    ({"name": "Adam", "betaz": [0.9, 0.99]}, r"^optimizer\.betaz: unknown Adam argument 'betaz' \(did you mean "
                                             r"'betas'\?\); use one of: amsgrad, betas, .*weight_decay$"),
    ({"name": "Adam", "betas": 0.9}, r"optimizer\.betas: must be a list of 2 numbers, but got 0\.9; write it as a "
                                     r"YAML list, e\.g\. \[0\.9, 0\.999\]"),
    ({"name": "Adam", "betas": [0.9, 0.99, 0.999]}, r"optimizer\.betas: must be a list of 2 numbers"),
    ({"name": "Adam", "betas": [0.9, "x"]}, r"optimizer\.betas\[1\]: must be a finite number, but got 'x'"),
    ({"name": "Adam", "lr": -1}, r"optimizer\.lr: must be at least 0\.0, but got -1\.0"),
    ({"name": "Adam", "lr": "fast"}, r"optimizer\.lr: must be a finite number"),
    ({"name": "SGD", "nesterov": "yes"}, r"optimizer\.nesterov: must be true or false"),
    ({"name": "Rprop", "no_decay_bias_and_norm": True},
     r"optimizer\.no_decay_bias_and_norm: Rprop has no weight_decay to switch off; remove it"),
    ({"name": "Rprop", "param_groups": {"a*": {"weight_decay": 0.1}}},
     r"optimizer\.param_groups\['a\*'\]\.weight_decay: Rprop has no weight_decay"),
    ({"name": "Adam", "param_groups": {"a*": {"lr_factr": 2}}},
     r"optimizer\.param_groups\['a\*'\]\.lr_factr: unknown param-group setting 'lr_factr' \(did you mean "
     r"'lr_factor'\?\); use one of: lr_factor, weight_decay"),
    ({"name": "Adam", "param_groups": {"a*": {"lr_factor": 0}}},
     r"optimizer\.param_groups\['a\*'\]\.lr_factor: must be greater than 0"),
    ({"name": "Adam", "param_groups": ["a*"]}, r"optimizer\.param_groups: must be a mapping"),
])
def test_optimizer_config_errors(cfg, match):
    with pytest.raises(UsageError, match=match):
        validate_optimizer_config(cfg)


@pytest.mark.parametrize(("cfg", "match"), [
    ({"T_max": 3}, r"^lr_scheduler\.name: needs 'name'; e\.g\. name: CosineAnnealingLR$"),
    ({"name": "cosineanealinglr"}, r"^lr_scheduler\.name: unknown LR scheduler 'cosineanealinglr' \(did you mean "
                                   r"'CosineAnnealingLR'\?\); use one of: ChainedScheduler, .*StepLR$"),
    ({"name": "LambdaLR"}, r"lr_scheduler\.name: LambdaLR is not supported: LambdaLR needs a Python callable"),
    ({"name": "MultiplicativeLR"}, r"MultiplicativeLR is not supported"),
    ({"name": "StepLR", "step_size": 2, "gama": 0.5},
     r"lr_scheduler\.gama: unknown StepLR argument 'gama' \(did you mean 'gamma'\?\); use one of: frequency, gamma, "
     r"interval, monitor, step_size, strict, warmup$"),
    ({"name": "StepLR"}, r"^lr_scheduler\.step_size: StepLR needs 'step_size' \(an integer\); add step_size: \.\.\.$"),
    ({"name": "StepLR", "step_size": 0}, r"lr_scheduler\.step_size: must be at least 1, but got 0"),
    ({"name": "StepLR", "step_size": 2.5}, r"lr_scheduler\.step_size: must be an integer, but got 2\.5"),
    ({"name": "StepLR", "step_size": 2, "last_epoch": 4},
     r"lr_scheduler\.last_epoch: 'last_epoch' cannot be set in a config: .*state_dict"),
    ({"name": "CyclicLR", "base_lr": 0.1, "max_lr": 1, "scale_fn": "math.sin"},
     r"lr_scheduler\.scale_fn: 'scale_fn' needs a Python callable, which a config file cannot hold; remove it"),
    ({"name": "CyclicLR", "base_lr": 0.1, "max_lr": 1, "mode": "triangle"},
     r"lr_scheduler\.mode: unknown value 'triangle' \(did you mean 'triangular'\?\)"),
    ({"name": "OneCycleLR", "max_lr": "big"}, r"lr_scheduler\.max_lr: must be a number or a list of numbers"),
    ({"name": "ReduceLROnPlateau"},
     r"^lr_scheduler\.monitor: ReduceLROnPlateau needs 'monitor', the logged metric it watches; add e\.g\. "
     r"monitor: val_loss$"),
    ({"name": "StepLR", "step_size": 2, "interval": "batch"},
     r"lr_scheduler\.interval: unknown interval 'batch'; use one of: epoch, step"),
    ({"name": "StepLR", "step_size": 2, "frequency": 0}, r"lr_scheduler\.frequency: must be at least 1, but got 0"),
    ({"name": "StepLR", "step_size": 2, "strict": "no"}, r"lr_scheduler\.strict: must be true or false"),
    ({"name": "SequentialLR", "schedulers": [], "milestones": []},
     r"lr_scheduler\.schedulers: must be a non-empty list of scheduler configs"),
    ({"name": "SequentialLR", "schedulers": [{"name": "LinearLR"}, {"name": "CosineAnnealingLR"}]},
     r"lr_scheduler\.milestones: SequentialLR needs 'milestones'"),
    ({"name": "SequentialLR", "schedulers": [{"name": "LinearLR"}, {"name": "ExponentialLR", "gamma": 0.9}],
      "milestones": [5, 8]}, r"lr_scheduler\.milestones: needs one milestone fewer than schedulers \(1\), but got 2"),
    ({"name": "SequentialLR", "schedulers": [{"name": "LinearLR"}] * 3, "milestones": [5, 5]},
     r"lr_scheduler\.milestones\[1\]: must increase and be at least 1, but got \[5, 5\]"),
    ({"name": "SequentialLR", "schedulers": [{"name": "LinearLR"}, {"name": "StepLR"}], "milestones": [3]},
     r"lr_scheduler\.schedulers\[1\]\.step_size: StepLR needs 'step_size'"),
    ({"name": "ChainedScheduler", "schedulers": [{"name": "LinearLR", "interval": "step"}]},
     r"lr_scheduler\.schedulers\[0\]\.interval: 'interval' can only be set on the outermost scheduler"),
    ({"name": "ChainedScheduler", "schedulers": [{"name": "LinearLR", "warmup": {"epochs": 1}}]},
     r"lr_scheduler\.schedulers\[0\]\.warmup: 'warmup' can only be set on the outermost scheduler"),
    ({"name": "ChainedScheduler", "schedulers": [{"name": "ReduceLROnPlateau"}]},
     r"lr_scheduler\.schedulers\[0\]\.name: ReduceLROnPlateau cannot be nested"),
    ({"name": "CosineAnnealingLR", "warmup": {"epochs": 2}},
     r"lr_scheduler\.warmup\.start_factor: needs 'start_factor' .*; e\.g\. warmup: \{epochs: 5, start_factor: 0\.1\}"),
    ({"name": "CosineAnnealingLR", "warmup": {"epochs": 2, "steps": 5, "start_factor": 0.1}},
     r"lr_scheduler\.warmup: needs exactly one of 'epochs' or 'steps'"),
    ({"name": "CosineAnnealingLR", "warmup": {"epoch": 2, "start_factor": 0.1}},
     r"lr_scheduler\.warmup\.epoch: unknown warmup setting 'epoch' \(did you mean 'epochs'\?\)"),
    ({"name": "CosineAnnealingLR", "warmup": {"epochs": 0, "start_factor": 0.1}},
     r"lr_scheduler\.warmup\.epochs: must be at least 1, but got 0"),
    ({"name": "CosineAnnealingLR", "warmup": {"epochs": 2, "start_factor": 1.5}},
     r"lr_scheduler\.warmup\.start_factor: must be at most 1\.0, but got 1\.5"),
    ({"name": "CosineAnnealingLR", "frequency": 2, "warmup": {"epochs": 2, "start_factor": 0.1}},
     r"lr_scheduler\.frequency: a warmup needs frequency 1, but got 2"),
    ({"name": "ReduceLROnPlateau", "monitor": "val_loss", "warmup": {"steps": 10, "start_factor": 0.1}},
     r"lr_scheduler\.warmup\.steps: a warmup in steps cannot wrap ReduceLROnPlateau stepped per epoch"),
    ({"name": "LinearWarmupCosineAnnealingLR", "warmup_epochs": 5, "max_epochs": 5},
     r"lr_scheduler\.max_epochs: must be greater than warmup_epochs \(5\), but got 5"),
    ({"name": "LinearWarmupCosineAnnealingLR"}, r"lr_scheduler\.warmup_epochs: LinearWarmupCosineAnnealingLR needs"),
    ("CosineAnnealingLR", r"lr_scheduler: must be a mapping of keys to values, but got 'CosineAnnealingLR'"),
])
def test_scheduler_config_errors(cfg, match):
    with pytest.raises(UsageError, match=match):
        validate_lr_scheduler_config(cfg)


def test_error_paths_follow_the_given_path():
    with pytest.raises(UsageError, match=r"^search\.lr_scheduler\.schedulers\[0\]\.gama: unknown"):
        validate_lr_scheduler_config({"name": "ChainedScheduler", "schedulers": [{"name": "StepLR", "step_size": 1,
                                                                                  "gama": 1}]},
                                     path="search.lr_scheduler")


def test_validate_accepts_null_for_optional_callable_kwargs():
    out = validate_lr_scheduler_config({"name": "CyclicLR", "base_lr": 0.1, "max_lr": 1.0, "scale_fn": None})
    assert out["scale_fn"] is None


def test_nested_unknown_kwarg_lists_only_what_a_nested_scheduler_takes():
    with pytest.raises(UsageError, match=r"lr_scheduler\.schedulers\[0\]\.gama: unknown StepLR argument 'gama' "
                                         r"\(did you mean 'gamma'\?\); use one of: gamma, step_size$"):
        validate_lr_scheduler_config({"name": "ChainedScheduler", "schedulers": [{"name": "StepLR", "step_size": 1,
                                                                                  "gama": 1}]})
