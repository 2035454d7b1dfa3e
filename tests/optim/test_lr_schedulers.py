"""build_lr_scheduler over the whole registry: builds, Lightning's dict, lengths, pickling, state_dict, errors."""

from __future__ import annotations

import copy
import io
import pickle
import warnings

import pytest
import torch

from tune_sched.optim.registry import LR_SCHEDULERS
from tune_sched.optim.lr_schedulers import OWN_SCHEDULERS, build_lr_scheduler
from tune_sched.optim.warmup import WarmupLR
from tune_sched.core.errors import UsageError

# What each family needs to build (its required kwargs; lengths come from the run).
REQUIRED = {
    "ChainedScheduler": {"schedulers": [{"name": "ConstantLR", "factor": 0.5}, {"name": "ExponentialLR",
                                                                                "gamma": 0.9}]},
    "ConstantLR": {},
    "CosineAnnealingLR": {},
    "CosineAnnealingWarmRestarts": {"T_0": 3},
    "CyclicLR": {"base_lr": 0.1, "max_lr": 1.0, "step_size_up": 3},
    "ExponentialLR": {"gamma": 0.9},
    "LinearDecayLR": {},
    "LinearLR": {},
    "LinearWarmupCosineAnnealingLR": {"warmup_epochs": 2},
    "MultiStepLR": {"milestones": [2, 4]},
    "OneCycleLR": {"max_lr": 1.0},
    "PolynomialLR": {},
    "ReduceLROnPlateau": {"monitor": "val_loss", "patience": 0},
    "SequentialLR": {"schedulers": [{"name": "LinearLR", "start_factor": 0.1, "total_iters": 2},
                                    {"name": "CosineAnnealingLR"}], "milestones": [2]},
    "StepLR": {"step_size": 2},
}
LENGTHS = {"max_epochs": 10, "total_steps": 100}
METRICS = [1.0, 2.0, 3.0, 0.5, 0.6, 0.7, 0.1, 0.2, 0.3, 0.4] * 3  # for ReduceLROnPlateau


def _cfg(family: str, **extra) -> dict:
    return {"name": family, **copy.deepcopy(REQUIRED[family]), **extra}


def _metrics(name: str) -> list[float] | None:
    return METRICS if LR_SCHEDULERS[name].needs_monitor else None


def test_table_covers_the_registry():
    assert set(REQUIRED) == set(LR_SCHEDULERS)
    assert {n for n, s in LR_SCHEDULERS.items() if s.source == "tune_sched"} == set(OWN_SCHEDULERS)


@pytest.mark.parametrize("name", sorted(LR_SCHEDULERS))
def test_every_scheduler_builds_with_defaults(name, build_on_sgd, run_schedule):
    cfg = {**_cfg(name), "name": name.lower()}
    before = copy.deepcopy(cfg)
    optimizer, built = build_on_sgd(cfg, **LENGTHS)
    assert cfg == before  # never mutated
    assert set(built) == {"scheduler", "interval", "frequency", "monitor", "strict", "name"}
    assert built["name"] == f"lr-{name}"
    assert built["interval"] == LR_SCHEDULERS[name].interval
    assert built["frequency"] == 1 and built["strict"] is True
    assert built["monitor"] == ("val_loss" if name == "ReduceLROnPlateau" else None)
    expected_class = "LambdaLR" if LR_SCHEDULERS[name].source == "tune_sched" else name
    assert type(built["scheduler"]).__name__ == expected_class
    lrs = run_schedule(optimizer, built["scheduler"], 10, _metrics(name))
    assert len(set(lrs)) > 1  # every family moves the LR within 10 steps with these settings


def _cases():
    for name in sorted(LR_SCHEDULERS):
        yield pytest.param(_cfg(name), id=name)
    yield pytest.param(_cfg("CosineAnnealingLR", warmup={"epochs": 3, "start_factor": 0.1}), id="warmup-epochs")
    yield pytest.param(_cfg("StepLR", warmup={"steps": 4, "start_factor": 0.0}), id="warmup-steps-on-epochs")
    yield pytest.param(_cfg("ReduceLROnPlateau", warmup={"epochs": 2, "start_factor": 0.5}), id="warmup-plateau")


@pytest.mark.filterwarnings("ignore:Seems like `optimizer.step\\(\\)` has been overridden")
@pytest.mark.parametrize("cfg", _cases())
def test_pickle_round_trip_continues_the_same_lrs(cfg, build_on_sgd, run_schedule):
    metrics = _metrics(cfg["name"])
    optimizer, built = build_on_sgd(cfg, **LENGTHS)
    run_schedule(optimizer, built["scheduler"], 4, metrics)
    clone = pickle.loads(pickle.dumps(built["scheduler"]))
    assert pickle.loads(pickle.dumps(cfg)) == cfg
    rest = metrics[4:] if metrics else None
    expected = run_schedule(optimizer, built["scheduler"], 12, rest)
    assert run_schedule(clone.optimizer, clone, 12, rest) == expected


@pytest.mark.parametrize("cfg", _cases())
def test_state_dict_reload_continues_the_same_lrs(cfg, build_on_sgd, run_schedule):
    metrics = _metrics(cfg["name"])
    optimizer, built = build_on_sgd(cfg, **LENGTHS)
    run_schedule(optimizer, built["scheduler"], 5, metrics)
    buffer = io.BytesIO()  # as a Lightning checkpoint stores them, loadable with weights_only
    torch.save({"scheduler": built["scheduler"].state_dict(), "optimizer": optimizer.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)

    fresh_optimizer, fresh = build_on_sgd(cfg, **LENGTHS)
    fresh_optimizer.load_state_dict(saved["optimizer"])
    fresh["scheduler"].load_state_dict(saved["scheduler"])
    rest = metrics[5:] if metrics else None
    expected = run_schedule(optimizer, built["scheduler"], 12, rest)
    assert run_schedule(fresh_optimizer, fresh["scheduler"], 12, rest) == expected


@pytest.mark.parametrize(("cfg", "lengths", "attribute", "expected"), [
    ({"name": "CosineAnnealingLR"}, dict(max_epochs=7), "T_max", 7),
    ({"name": "CosineAnnealingLR", "interval": "step"}, dict(max_epochs=7, total_steps=70), "T_max", 70),
    ({"name": "CosineAnnealingLR", "frequency": 2}, dict(max_epochs=7), "T_max", 3),
    ({"name": "CosineAnnealingLR", "interval": "step", "frequency": 4}, dict(max_epochs=2, total_steps=10), "T_max",
     2),  # 5 batches per epoch: 1 step each
    ({"name": "CosineAnnealingLR", "T_max": 3}, dict(max_epochs=3), "T_max", 3),
    ({"name": "OneCycleLR", "max_lr": 0.1}, dict(max_epochs=2, total_steps=40), "total_steps", 40),
    ({"name": "PolynomialLR"}, dict(max_epochs=12), "total_iters", 12),  # not torch's default 5
])
def test_lengths_are_filled_from_the_run(cfg, lengths, attribute, expected, build_on_sgd):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # none of these is a likely mistake
        _, built = build_on_sgd(cfg, **lengths)
    assert getattr(built["scheduler"], attribute) == expected


def test_nested_lengths_follow_milestones_and_the_warmup(build_on_sgd):
    _, built = build_on_sgd(_cfg("SequentialLR"), max_epochs=10)
    assert built["scheduler"]._schedulers[1].T_max == 8
    _, built = build_on_sgd({"name": "ChainedScheduler", "schedulers": [{"name": "CosineAnnealingLR"},
                                                                        {"name": "PolynomialLR"}]}, max_epochs=6)
    assert [s.__dict__.get("T_max", s.__dict__.get("total_iters")) for s in built["scheduler"]._schedulers] == [6, 6]
    _, built = build_on_sgd({"name": "CosineAnnealingLR", "warmup": {"epochs": 2, "start_factor": 0.1}},
                            max_epochs=10)
    assert isinstance(built["scheduler"], WarmupLR)
    assert built["scheduler"].inner.T_max == 8


@pytest.mark.parametrize(("cfg", "warmup", "lengths", "interval", "warmup_steps", "inner_every", "t_max"), [
    ({"name": "CosineAnnealingLR"}, {"epochs": 2}, dict(max_epochs=10), "epoch", 2, 1, 8),
    ({"name": "CosineAnnealingLR", "interval": "step"}, {"steps": 5}, dict(total_steps=50), "step", 5, 1, 45),
    ({"name": "CosineAnnealingLR"}, {"steps": 5}, dict(max_epochs=5, total_steps=50), "step", 5, 10, 4),
    ({"name": "CosineAnnealingLR", "interval": "step"}, {"epochs": 2}, dict(max_epochs=5, total_steps=50), "step",
     20, 1, 30),
])
def test_warmup_units_decide_the_interval(cfg, warmup, lengths, interval, warmup_steps, inner_every, t_max,
                                          build_on_sgd):
    _, built = build_on_sgd({**cfg, "warmup": {**warmup, "start_factor": 0.1}}, **lengths)
    scheduler = built["scheduler"]
    assert (built["interval"], scheduler.warmup_steps, scheduler.inner_every, scheduler.inner.T_max) == (
        interval, warmup_steps, inner_every, t_max)


def test_warmup_around_plateau_tells_lightning_to_pass_the_metric(build_on_sgd):
    _, built = build_on_sgd(_cfg("ReduceLROnPlateau", warmup={"epochs": 2, "start_factor": 0.1}))
    assert built["reduce_on_plateau"] is True
    assert built["monitor"] == "val_loss"


def test_outer_keys_reach_lightnings_dict(build_on_sgd):
    _, built = build_on_sgd({"name": "StepLR", "step_size": 2, "interval": "step", "frequency": 3, "strict": False,
                             "monitor": "val_acc"})
    assert {k: built[k] for k in ("interval", "frequency", "strict", "monitor")} == {
        "interval": "step", "frequency": 3, "strict": False, "monitor": "val_acc"}


@pytest.mark.parametrize(("cfg", "lengths", "match"), [
    ({"name": "CosineAnnealingLR"}, {},
     r"^lr_scheduler\.T_max: CosineAnnealingLR needs 'T_max' \(its length in scheduler steps, one per epoch\); it is "
     r"not set and the run length is unknown; set T_max: N, or pass max_epochs= to build_lr_scheduler "
     r"\(configure_optimizers takes it from the Trainer\)$"),
    ({"name": "LinearDecayLR"}, dict(max_epochs=3),
     r"^lr_scheduler\.T: LinearDecayLR needs 'T' \(its length in scheduler steps, one per step\).*pass total_steps="),
    ({"name": "OneCycleLR", "max_lr": 1.0}, {}, r"^lr_scheduler\.total_steps: OneCycleLR needs 'total_steps'"),
    ({"name": "SequentialLR", "schedulers": [{"name": "LinearLR"}, {"name": "CosineAnnealingLR"}],
      "milestones": [5]}, {}, r"^lr_scheduler\.schedulers\[1\]\.T_max: CosineAnnealingLR needs 'T_max'"),
    ({"name": "SequentialLR", "schedulers": [{"name": "LinearLR"}, {"name": "CosineAnnealingLR"}],
      "milestones": [5]}, dict(max_epochs=5),
     r"^lr_scheduler\.schedulers\[1\]\.T_max: is filled from the run length, but only 0 scheduler steps are left for "
     r"it; lengthen the run, or set T_max explicitly$"),
    ({"name": "LinearWarmupCosineAnnealingLR", "warmup_epochs": 3}, dict(max_epochs=3),
     r"^lr_scheduler\.max_epochs: must be greater than warmup_epochs \(3\), but got 3"),
    ({"name": "OneCycleLR", "max_lr": 1.0, "total_steps": 10}, dict(total_steps=20),
     r"^lr_scheduler\.total_steps: OneCycleLR is planned for 10 steps but the run takes 20 scheduler steps; torch "
     r"raises once they are exceeded; leave total_steps"),
    ({"name": "CosineAnnealingLR", "warmup": {"steps": 10, "start_factor": 0.1}}, dict(max_epochs=3),
     r"^lr_scheduler\.warmup: a warmup in steps in front of a per-epoch schedule needs steps_per_epoch \(the schedule "
     r"after it is stepped once every steps_per_epoch steps\); pass steps_per_epoch"),
    ({"name": "LinearDecayLR", "warmup": {"epochs": 1, "start_factor": 0.1}}, dict(total_steps=30),
     r"^lr_scheduler\.warmup: a warmup in epochs in front of a per-step schedule needs steps_per_epoch \(its 1 epochs "
     r"are converted to steps\)"),
    ({"name": "ReduceLROnPlateau", "monitor": "val_loss", "factor": 1.0}, {},
     r"^lr_scheduler: torch\.optim\.lr_scheduler\.ReduceLROnPlateau refused these settings: Factor should be < 1\.0\.; "
     r"see the ReduceLROnPlateau documentation"),
    ({"name": "MultiStepLR"}, {}, r"^lr_scheduler\.milestones: MultiStepLR needs 'milestones'"),
    ({"name": "cosine_annealing"}, {}, r"^lr_scheduler\.name: unknown LR scheduler 'cosine_annealing'"),
    ({"name": "StepLR", "step_size": 1, "gama": 0.5}, {}, r"^lr_scheduler\.gama: unknown StepLR argument 'gama' "
                                                          r"\(did you mean 'gamma'\?\)"),
    ({"name": "CosineAnnealingLR"}, dict(max_epochs=0), r"^max_epochs: must be at least 1, but got 0"),
])
def test_errors(cfg, lengths, match):
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    with pytest.raises(UsageError, match=match):
        build_lr_scheduler(optimizer, cfg, **lengths)


@pytest.mark.parametrize(("cfg", "lengths", "match"), [
    ({"name": "OneCycleLR", "max_lr": 1.0, "interval": "epoch"}, dict(max_epochs=5),
     r"lr_scheduler: OneCycleLR is stepped once per epoch \(interval: epoch\); it is meant to move every batch: set "
     r"interval: step"),
    ({"name": "SequentialLR", "schedulers": [{"name": "LinearLR"}, {"name": "OneCycleLR", "max_lr": 1.0}],
      "milestones": [2]}, dict(max_epochs=5), r"lr_scheduler\.schedulers\[1\]: OneCycleLR is stepped once per epoch"),
    ({"name": "CosineAnnealingWarmRestarts", "T_0": 20}, dict(max_epochs=10),
     r"lr_scheduler: T_0=20 is longer than the run \(10 scheduler steps\): it never restarts"),
    ({"name": "CosineAnnealingLR", "T_max": 5}, dict(max_epochs=10),
     r"lr_scheduler: T_max=5 is shorter than the run \(10 scheduler steps\): the LR rises again after T_max"),
    ({"name": "CyclicLR", "base_lr": 0.1, "max_lr": 1.0}, dict(total_steps=100),
     r"lr_scheduler: step_size_up=2000 is not shorter than the run \(100 scheduler steps\): the LR only rises"),
    ({"name": "StepLR", "step_size": 10}, dict(max_epochs=10),
     r"lr_scheduler: the LR changes only after the run \(10 scheduler steps\) has ended"),
    ({"name": "MultiStepLR", "milestones": [10, 20]}, dict(max_epochs=10), r"the LR changes only after the run"),
    ({"name": "MultiStepLR", "milestones": []}, dict(max_epochs=10), r"the LR changes only after the run"),
    ({"name": "OneCycleLR", "max_lr": 1.0}, dict(total_steps=10, lr=[1.0, 0.5]),
     r"lr_scheduler: max_lr is one number, but the param groups have different LRs \[0\.5, 1\.0\]: their lr_factor "
     r"is lost; give a list, one per group"),
    ({"name": "CyclicLR", "base_lr": 0.1, "max_lr": [1.0, 0.5], "step_size_up": 2}, dict(total_steps=10,
                                                                                        lr=[1.0, 0.5]),
     r"lr_scheduler: base_lr is one number"),
    ({"name": "StepLR", "step_size": 1, "warmup": {"epochs": 10, "start_factor": 0.1}}, dict(max_epochs=10),
     r"lr_scheduler\.warmup: the warmup \(10 scheduler steps\) is not shorter than the run \(10\); the schedule after "
     r"it never runs"),
])
def test_warnings_for_likely_mistakes(cfg, lengths, match):
    lrs = lengths.pop("lr", [1.0])
    optimizer = torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in lrs],
                                momentum=0.9)
    with pytest.warns(UserWarning, match=match):
        build_lr_scheduler(optimizer, cfg, **lengths)


def test_no_warning_for_sensible_configs():
    optimizer = torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in (1.0, 0.5)],
                                momentum=0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for cfg in ({"name": "OneCycleLR", "max_lr": [1.0, 0.5]}, {"name": "StepLR", "step_size": 3},
                    {"name": "MultiStepLR", "milestones": [3, 20]}, {"name": "CosineAnnealingWarmRestarts", "T_0": 5},
                    {"name": "CyclicLR", "base_lr": [0.1, 0.05], "max_lr": [1.0, 0.5], "step_size_up": 5}):
            build_lr_scheduler(optimizer, cfg, max_epochs=10, total_steps=100)


def test_lambda_families_use_each_groups_base_lr():
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD([{"params": [model.weight], "lr": 1.0}, {"params": [model.bias], "lr": 0.1}])
    built = build_lr_scheduler(optimizer, {"name": "LinearWarmupCosineAnnealingLR", "warmup_epochs": 2,
                                           "warmup_start_lr": 0.01, "eta_min": 0.001}, max_epochs=4)
    assert [g["lr"] for g in optimizer.param_groups] == [0.01, 0.01]
    for _ in range(4):
        optimizer.step()
        built["scheduler"].step()
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.001, 0.001])
