"""Every load-time error of a search space: the one line names the key path in the space, the rule and the fix."""

from __future__ import annotations

import re

import pytest

from tune_sched.config.space import SearchSpace, load_search_space
from tune_sched.core.errors import UsageError

ADAM_SGD = {"Adam": None, "SGD": None}


def _deep(levels: int) -> dict:
    out: dict = {"leaf": 1}
    for _ in range(levels):
        out = {"x": out}
    return out


# (space, the start of the error line)
STRUCTURE = [
    ([1, 2], "search space: must be a mapping of keys to values, but got list"),
    ({"seed": 1}, "seed: a search space has no 'seed': every config is trained on each of its seeds; write seeds: "),
    ({"sead": [1]}, "sead: unknown key 'sead' (did you mean 'seeds'?); use one of: datamodule, datamodule_kwargs,"),
    ({"serch": {}}, "serch: unknown key 'serch' (did you mean 'search'?)"),
    ({"metric": {"values": ["val_loss", "val_field"]}},
     "metric: 'metric' is the search's objective and cannot be searched; give one metric, e.g. metric: val_loss"),
    ({"mode": {"values": ["min", "max"]}}, "mode: 'mode' is the search's objective and cannot be searched"),
    ({"metric": ""}, "metric: must be a non-empty string, but got ''"),
    ({"mode": "minimize"}, "mode: unknown mode 'minimize'"),
    ({"task_kwargs": {"one_of": {"a": None}}},
     "task_kwargs.one_of: one_of is only allowed directly under optimizer, lr_scheduler or loss_scheduler; list the"),
    ({"optimizer": {"one_of": ["Adam", "SGD"]}},
     "optimizer.one_of: must be a non-empty mapping of optimizer families to their settings, but got ['Adam', 'SGD']; "
     "e.g. one_of: {Adam: {...}, ...}"),
    ({"lr_scheduler": {"one_of": {}}}, "lr_scheduler.one_of: must be a non-empty mapping of lr_scheduler families"),
    ({"lr_scheduler": {"one_of": None}}, "lr_scheduler.one_of: must be a non-empty mapping"),
    ({"optimizer": {"name": "Adam", "one_of": ADAM_SGD}},
     "optimizer.name: 'name' is set by one_of (the family chosen); remove 'name' here"),
    ({"loss_scheduler": {"mode": "ramp", "one_of": {"ramp": None}}},
     "loss_scheduler.mode: 'mode' is set by one_of"),
    ({"optimizer": {"one_of": {"Adam": {"name": "AdamW"}}}},
     "optimizer.one_of.Adam.name: 'name' cannot be set inside a one_of family; the family's name is 'Adam'"),
    ({"optimizer": {"one_of": {"Adam": {"one_of": ADAM_SGD}}}},
     "optimizer.one_of.Adam.one_of: 'one_of' cannot be set inside a one_of family"),
    ({"optimizer": {"lr": 0.1, "one_of": {"Adam": {"lr": 0.01}, "SGD": None}}},
     "optimizer.one_of.Adam.lr: 'lr' is also given outside one_of (optimizer.lr); give it in one place"),
    ({"optimizer": {"one_of": {"Adam": [0.1]}}}, "optimizer.one_of.Adam: must be a mapping of keys to values"),
    ({"optimizer": {"one_of": {3: None}}}, "optimizer.one_of: family names must be non-empty strings, but got 3"),
    ({"optimizer": {"one_of": {None: None}}}, "optimizer.one_of: family names must be non-empty strings, but got None"),
    ({"lr_scheduler": {"one_of": {"constant": {"gamma": 0.5}}}},
     "lr_scheduler.one_of.constant: 'constant' means no lr_scheduler, so it takes no settings; write constant: null"),
    ({"lr_scheduler": {"one_of": {None: None, "none": None}}},
     "lr_scheduler.one_of: lists the family 'none' twice; list each family once"),
    ({"task_kwargs": _deep(45)}, "task_kwargs" + ".x" * 40 + ": is nested more than 40 levels deep; flatten it"),
]

# Errors RunConfig finds in the representative concrete configs, re-pointed at the space.
RUN_CONFIG_SIDE = [
    ({"task": "tny"}, "task: unknown task 'tny' (did you mean 'tiny'?)"),
    ({"task": {"values": ["tiny", "fno"]}}, "task.values[1]: unknown task 'fno'"),
    ({"optimizer": {"one_of": {"Adm": None}}}, "optimizer.one_of.Adm: unknown optimizer 'Adm' (did you mean 'Adam'?)"),
    ({"optimizer": {"one_of": {"Adam": {"momentum": 0.9}}}},
     "optimizer.one_of.Adam.momentum: unknown Adam argument 'momentum'"),
    ({"optimizer": {"momentum": 0.9, "one_of": ADAM_SGD}},
     "optimizer.momentum: unknown Adam argument 'momentum' (with optimizer: Adam)"),
    ({"optimizer": {"momentum": 0.9, "one_of": {"SGD": None, "Adam": None}}},
     "optimizer.momentum: unknown Adam argument 'momentum' (with optimizer: Adam)"),
    ({"optimizer": {"name": "SGD", "lr": {"values": [0.1, -1.0, 0.01]}}}, "optimizer.lr.values[1]: must be "),
    ({"optimizer": {"name": "SGD", "lr": {"min": -0.1, "max": 0.1}}}, "optimizer.lr.min: must be "),
    ({"loss_scheduler": {"mode": "adaptive", "max_target_weight": {"min": 0.5, "max": 1.5}}},
     "loss_scheduler.max_target_weight.max: "),
    ({"optimizer": {"name": "Adam", "betas": [{"values": [0.9, "x"]}, 0.999]}}, "optimizer.betas[0].values[1]: "),
    ({"lr_scheduler": {"one_of": {"ReduceLROnPlateau": {"factor": 0.5}, "constant": None}}},
     "lr_scheduler.one_of.ReduceLROnPlateau.monitor: ReduceLROnPlateau needs 'monitor'"),
    ({"lr_scheduler": {"one_of": {"StepLR": {"step_sise": 2}}}},
     "lr_scheduler.one_of.StepLR.step_sise: unknown StepLR argument 'step_sise' (did you mean 'step_size'?)"),
    ({"loss_scheduler": {"one_of": {"adaptiv": None}}},
     "loss_scheduler.one_of.adaptiv: unknown mode 'adaptiv' (did you mean 'adaptive'?)"),
    ({"loss_scheduler": {"one_of": {"adaptive": {"patience": {"min": 0, "max": 3}}}}},
     "loss_scheduler.one_of.adaptive.patience.min: must be at least 1, but got 0"),
    ({"trainer": {"max_epoch": 3}}, "trainer.max_epoch: unknown key 'max_epoch' (did you mean 'max_epochs'?)"),
    ({"trainer": {"max_epochs": {"min": 0, "max": 4}}}, "trainer.max_epochs.min: must be at least 1, but got 0"),
    ({"trainer": {"precision": {"values": [32, 15]}}}, "trainer.precision.values[1]: unknown precision 15"),
]

SETTINGS = [
    ({"search": [1]}, "search: must be a mapping of keys to values"),
    ({"search": {"algoritm": "grid"}}, "search.algoritm: unknown key 'algoritm' (did you mean 'algorithm'?)"),
    ({"search": {"algorithm": "tpe"}}, "search.algorithm: unknown algorithm 'tpe'; use one of: grid, optuna, random"),
    ({"search": {"num_samples": 0}}, "search.num_samples: must be at least 1, but got 0"),
    ({"search": {"num_samples": 2.5}}, "search.num_samples: must be an integer, but got 2.5"),
    ({"search": {"algorithm": "grid", "num_samples": 4}},
     "search.num_samples: does not apply to algorithm grid, which tries every grid point once; remove num_samples"),
    ({"search": {"algorithm": "grid"}, "optimizer": {"name": "SGD", "lr": {"min": 0.1, "max": 1.0}}},
     "optimizer.lr: [0.1, 1.0] is a continuous range, which a grid cannot list"),
    ({"search": {"time_budget_s": 0}}, "search.time_budget_s: must be greater than 0, but got 0.0"),
    ({"search": {"max_concurrent": 0}}, "search.max_concurrent: must be at least 1, but got 0"),
    ({"search": {"max_failures": -1}}, "search.max_failures: must be at least 0, but got -1"),
    ({"search": {"sampler_seed": "a"}}, "search.sampler_seed: must be an integer, but got 'a'"),
    ({"search": {"pruner": 3}}, "search.pruner: must be a mapping of keys to values, but got 3"),
    ({"search": {"pruner": "hyperband"}}, "search.pruner.rule: unknown pruner rule 'hyperband'; use one of: asha,"),
    ({"search": {"pruner": {"rule": "ash"}}}, "search.pruner.rule: unknown pruner rule 'ash' (did you mean 'asha'?)"),
    ({"search": {"pruner": {"grace_periods": 2}}},
     "search.pruner.grace_periods: unknown key 'grace_periods' (did you mean 'grace_period'?)"),
    ({"search": {"pruner": {"rule": "median", "reduction_factor": 2}}},
     "search.pruner.reduction_factor: applies only to rule asha, not median; remove reduction_factor"),
    ({"search": {"pruner": {"rule": "asha", "min_samples_required": 2}}},
     "search.pruner.min_samples_required: applies only to rule median, not asha"),
    ({"search": {"pruner": {"rule": "none", "grace_period": 2}}},
     "search.pruner.grace_period: applies only to rule asha or median, not none"),
    ({"search": {"pruner": {"grace_period": 0}}}, "search.pruner.grace_period: must be at least 1, but got 0"),
    ({"search": {"pruner": {"reduction_factor": 1}}},
     "search.pruner.reduction_factor: must be greater than 1, but got 1.0; use 2 to 4"),
    ({"search": {"pruner": {"rule": "median", "min_samples_required": 0}}},
     "search.pruner.min_samples_required: must be at least 1, but got 0"),
    ({"resources": {"cpus": 2}}, "resources.cpus: unknown key 'cpus' (did you mean 'cpu'?); use one of: cpu, gpu"),
    ({"resources": {"cpu": 0}}, "resources.cpu: must be greater than 0, but got 0.0"),
    ({"resources": {"gpu": -0.5}}, "resources.gpu: must be at least 0.0, but got -0.5"),
    ({"resources": {"gpu": 2.5}},
     "resources.gpu: must be a fraction up to 1 or a whole number, but got 2.5; use 2 or 3 (Ray only shares"),
    ({"seeds": []}, "seeds: must be a non-empty list of seeds, but got []; write e.g. seeds: [0, 1, 2]"),
    ({"seeds": {"a": 1}}, "seeds: must be a non-empty list of seeds"),
    ({"seeds": 3}, "seeds: must be a non-empty list of seeds, but got 3"),
    ({"seeds": [0, -1]}, "seeds[1]: must be at least 0, but got -1"),
    ({"seeds": [0, 1.5]}, "seeds[1]: must be an integer, but got 1.5"),
    ({"seeds": [2, 2]}, "seeds[1]: repeats seed 2; list each seed once"),
]


@pytest.mark.parametrize(("space", "message"), STRUCTURE + RUN_CONFIG_SIDE + SETTINGS)
def test_error_message(space, message):
    with pytest.raises(UsageError, match="^" + re.escape(message)):
        SearchSpace.from_dict(space)


def test_error_is_one_line_with_path_message_and_fix():
    with pytest.raises(UsageError) as info:
        SearchSpace.from_dict({"optimizer": {"one_of": {"Adm": None}}})
    err = info.value
    assert err.path == "optimizer.one_of.Adm"
    assert err.fix.startswith("use one of: ")
    assert "\n" not in str(err)


FILES = [
    (None, "does not exist; pass the path of a YAML file"),
    ("", "is empty; write a search space (see docs/search_spaces.md)"),
    ("- a\n- b\n", "must be a mapping of keys to values, but got list"),
    ("optimizer: {lr: [\n", "is not valid YAML at line 2, column 1"),
]


@pytest.mark.parametrize(("text", "message"), FILES)
def test_file_errors(tmp_path, text, message):
    path = tmp_path / "space.yaml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(UsageError, match="^" + re.escape(f"{path}: {message}")):
        load_search_space(path)


def test_yaml_exponent_without_a_dot_is_a_number(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text("optimizer: {name: Adam, lr: {min: 1e-5, max: 1e-2, log: true}}\n")
    assert load_search_space(path).dimensions()[0].detail == "[1e-05, 0.01] log"
