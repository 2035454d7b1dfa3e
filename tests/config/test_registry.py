"""The optimizer and LR-scheduler registries: every torch class accounted for, our families, list_* and lookups."""

from __future__ import annotations

import pytest

from tune_sched.config.catalog._torch_snapshot import live_signatures
from tune_sched.config.catalog.registry import (
    LR_SCHEDULERS,
    OPTIMIZERS,
    get_lr_scheduler_spec,
    get_optimizer_spec,
    list_lr_schedulers,
    list_optimizers,
)
from tune_sched.core.errors import UsageError


def test_every_torch_class_is_in_a_registry_or_refused_with_a_reason():
    live = live_signatures()
    assert set(live["optimizers"]) == set(OPTIMIZERS)
    refused = set(live["lr_schedulers"]) - set(LR_SCHEDULERS)
    assert refused == {"LambdaLR", "MultiplicativeLR"}
    for name in refused:
        with pytest.raises(UsageError, match=rf"{name} is not supported: .*needs a Python callable \(lr_lambda\)"):
            get_lr_scheduler_spec(name.lower())


def test_own_families_are_registered_with_their_defaults():
    assert LR_SCHEDULERS["LinearDecayLR"].source == "tune_sched"
    assert LR_SCHEDULERS["LinearDecayLR"].interval == "step"
    assert LR_SCHEDULERS["LinearDecayLR"].length == "T"
    assert LR_SCHEDULERS["LinearWarmupCosineAnnealingLR"].length == "max_epochs"
    assert LR_SCHEDULERS["LinearWarmupCosineAnnealingLR"].kwargs["warmup_start_lr"].default == 0.0


@pytest.mark.parametrize(("name", "interval"), [
    ("OneCycleLR", "step"), ("CyclicLR", "step"), ("LinearDecayLR", "step"), ("CosineAnnealingLR", "epoch"),
    ("StepLR", "epoch"), ("ReduceLROnPlateau", "epoch"),
])
def test_default_intervals(name, interval):
    assert LR_SCHEDULERS[name].interval == interval


def test_list_functions_match_case_insensitively_and_sort():
    assert list_optimizers("adam*") == ["Adam", "Adamax", "AdamW"]
    assert list_lr_schedulers("COSINE*") == ["CosineAnnealingLR", "CosineAnnealingWarmRestarts"]
    assert list_optimizers() == sorted(OPTIMIZERS, key=str.lower)
    assert "LambdaLR" not in list_lr_schedulers()
    assert list_optimizers("nothing*") == []


@pytest.mark.parametrize(("name", "canonical"), [("adamw", "AdamW"), ("SGD", "SGD"), ("RMSPROP", "RMSprop")])
def test_lookup_is_case_insensitive(name, canonical):
    assert get_optimizer_spec(name).name == canonical


@pytest.mark.parametrize(("lookup", "name", "match"), [
    (get_optimizer_spec, "adamx", r"^optimizer\.name: unknown optimizer 'adamx' \(did you mean 'Adamax'\?\)"),
    (get_optimizer_spec, None, r"^optimizer\.name: unknown optimizer None; use one of"),
    (get_lr_scheduler_spec, "steplr2", r"^lr_scheduler\.name: unknown LR scheduler 'steplr2' \(did you mean "
                                       r"'StepLR'\?\)"),
])
def test_unknown_names(lookup, name, match):
    with pytest.raises(UsageError, match=match):
        lookup(name)
