"""The typed optimizer and LR-scheduler blocks: what the catalog checked, with a shape, reading as the same dict."""

from __future__ import annotations

import doctest

import pytest
import yaml

from tune_sched.config.catalog import configs
from tune_sched.config.catalog.checks import validate_lr_scheduler_config, validate_optimizer_config
from tune_sched.config.catalog.configs import LRSchedulerConfig, OptimizerConfig
from tune_sched.core.errors import UsageError

OPTIMIZERS = [
    {"name": "adam", "lr": 3, "betas": (0.9, "0.99")},
    {"param_groups": {"0.*": {"lr_factor": 2, "weight_decay": 0}}, "name": "AdamW", "no_decay_bias_and_norm": True,
     "weight_decay": 0.1},
    {"name": "SGD", "lr": 0.1, "momentum": 0.9, "nesterov": True},
]
SCHEDULERS = [
    {"name": "cosineannealinglr", "eta_min": "1e-6"},
    {"warmup": {"steps": 3, "start_factor": 0.1}, "strict": False, "name": "SequentialLR", "milestones": [2],
     "schedulers": [{"name": "LinearLR", "start_factor": 0.5, "total_iters": 2}, {"name": "CosineAnnealingLR"}],
     "interval": "step", "frequency": 1},
    {"monitor": "val_loss", "name": "ReduceLROnPlateau", "factor": 0.5},
]


@pytest.mark.parametrize("block", OPTIMIZERS)
def test_optimizer_block_reads_as_the_catalogs_dict_in_its_order(block):
    typed, checked = OptimizerConfig.from_dict(block), validate_optimizer_config(block)
    assert typed == checked and list(typed) == list(checked)
    assert yaml.safe_dump(dict(typed), sort_keys=False) == yaml.safe_dump(checked, sort_keys=False)
    assert typed.name == checked["name"]
    assert set(typed.kwargs) == set(checked) - {"name", "param_groups", "no_decay_bias_and_norm"}


@pytest.mark.parametrize("block", SCHEDULERS)
def test_scheduler_block_reads_as_the_catalogs_dict_in_its_order(block):
    typed, checked = LRSchedulerConfig.from_dict(block), validate_lr_scheduler_config(block)
    assert typed == checked and list(typed) == list(checked)
    assert (typed.interval, typed.strict, typed.warmup) == tuple(map(checked.get, ("interval", "strict", "warmup")))


def test_to_dict_is_a_copy_and_the_block_stays_as_checked():
    typed = OptimizerConfig.from_dict(OPTIMIZERS[0])
    typed.to_dict()["betas"][0] = 0.0
    dict(typed)["betas"].append(1.0)
    assert typed["betas"] == [0.9, 0.99]


def test_errors_are_the_catalogs():
    with pytest.raises(UsageError, match=r"^run\.optimizer\.name: unknown optimizer 'adamx' \(did you mean 'Adamax'"):
        OptimizerConfig.from_dict({"name": "adamx"}, path="run.optimizer")
    with pytest.raises(UsageError, match=r"^lr_scheduler\.monitor: ReduceLROnPlateau needs 'monitor'"):
        LRSchedulerConfig.from_dict({"name": "ReduceLROnPlateau"})


def test_doctests():
    assert doctest.testmod(configs).failed == 0
