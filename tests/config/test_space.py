"""SearchSpace: loading, define-by-run sampling with a real Optuna study, grids, dimensions, overrides, summary."""

from __future__ import annotations

import copy
import pickle
import re
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml

from tune_sched.config.run_config import RunConfig
from tune_sched.config.space import (
    Dimension,
    PrunerSettings,
    Resources,
    SearchSettings,
    SearchSpace,
    is_search_space,
    load_search_space,
)
from tune_sched.core.errors import UsageError

EXAMPLE = Path(__file__).parent / "data" / "example_space.yaml"

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def example() -> SearchSpace:
    return load_search_space(EXAMPLE)


def _space(**blocks) -> SearchSpace:
    return SearchSpace.from_dict({"task": "tiny", **blocks})


def test_load_example(example):
    assert example.seeds == (0, 1)
    assert (example.metric, example.mode) == ("val_loss", "min")
    assert example.settings == SearchSettings(
        algorithm="optuna", num_samples=6, time_budget_s=600.0, max_concurrent=2, max_failures=0, sampler_seed=0,
        pruner=PrunerSettings(rule="asha", grace_period=2, reduction_factor=2.0),
    )
    assert example.resources == Resources(cpu=1.0, gpu=0.25)
    assert example.source == yaml.safe_load(EXAMPLE.read_text())
    assert set(example.template) == {"task", "task_kwargs", "optimizer", "lr_scheduler", "loss_scheduler", "trainer"}
    assert example.num_configs == 6


def test_defaults_of_an_empty_space():
    space = SearchSpace.from_dict(None)
    assert space.seeds == (0, 1, 2)
    assert space.settings == SearchSettings()
    assert space.settings.num_samples == 20 and space.settings.pruner.rule == "asha"
    assert space.resources == Resources(cpu=1.0, gpu=0.0)
    assert space.dimensions() == []
    assert space.sample(optuna.create_study().ask()) == {"metric": "val_loss", "mode": "min"}
    assert space.grid() == [{"metric": "val_loss", "mode": "min"}]


IS_SPACE = [
    ({"task": "tiny", "optimizer": {"name": "Adam", "lr": 0.001}}, False),
    ({"optimizer": {"name": "Adam", "lr": {"min": 1e-4, "max": 1e-2}}}, True),
    ({"optimizer": {"name": "Adam", "betas": [{"values": [0.9, 0.95]}, 0.999]}}, True),
    ({"lr_scheduler": {"one_of": {"StepLR": None}}}, True),
    ({"task": "tiny", "seeds": [0]}, True),
    ({"search": {}}, True),
    ({"resources": {"cpu": 1}}, True),
    (None, False),
    ([{"min": 1, "max": 2}], False),
    ("optimizer", False),
]


@pytest.mark.parametrize(("data", "expected"), IS_SPACE)
def test_is_search_space(data, expected):
    assert is_search_space(data) is expected


def test_dimensions_of_the_example(example):
    assert example.dimensions() == [
        Dimension("optimizer", "categorical", "{Adam, SGD}", "", "optimizer.one_of"),
        Dimension("optimizer.lr", "float", "[0.0001, 0.03] log", "", "optimizer.lr"),
        Dimension("optimizer.Adam.betas[0]", "float", "[0.85, 0.95]", "optimizer=Adam",
                  "optimizer.one_of.Adam.betas[0]"),
        Dimension("optimizer.SGD.momentum", "categorical", "{0.0, 0.9}", "optimizer=SGD",
                  "optimizer.one_of.SGD.momentum"),
        Dimension("lr_scheduler", "categorical", "{ReduceLROnPlateau, StepLR, constant}", "", "lr_scheduler.one_of"),
        Dimension("lr_scheduler.ReduceLROnPlateau.factor", "float", "[0.1, 0.5]", "lr_scheduler=ReduceLROnPlateau",
                  "lr_scheduler.one_of.ReduceLROnPlateau.factor"),
        Dimension("lr_scheduler.ReduceLROnPlateau.patience", "int", "[2, 8]", "lr_scheduler=ReduceLROnPlateau",
                  "lr_scheduler.one_of.ReduceLROnPlateau.patience"),
        Dimension("lr_scheduler.StepLR.step_size", "int", "[2, 6] step 2", "lr_scheduler=StepLR",
                  "lr_scheduler.one_of.StepLR.step_size"),
        Dimension("loss_scheduler", "categorical", "{adaptive, ramp}", "", "loss_scheduler.one_of"),
        Dimension("loss_scheduler.adaptive.patience", "int", "[2, 6]", "loss_scheduler=adaptive",
                  "loss_scheduler.one_of.adaptive.patience"),
        Dimension("loss_scheduler.ramp.ramp_epochs", "categorical", "{5, 10}", "loss_scheduler=ramp",
                  "loss_scheduler.one_of.ramp.ramp_epochs"),
        Dimension("trainer.gradient_clip_val", "categorical", "{null, 1.0}", "", "trainer.gradient_clip_val"),
    ]


def test_shared_keys_are_conditional_when_a_family_means_no_block():
    space = _space(lr_scheduler={"interval": {"values": ["epoch", "step"]},
                                 "one_of": {"StepLR": {"step_size": 2}, "ExponentialLR": {"gamma": 0.9}, "none": None}})
    assert space.dimensions()[1] == Dimension(
        "lr_scheduler.interval", "categorical", "{epoch, step}", "lr_scheduler in {StepLR, ExponentialLR}",
        "lr_scheduler.interval",
    )


def _ask_many(space: SearchSpace, n: int, sampler: optuna.samplers.BaseSampler) -> list[tuple[dict, dict]]:
    study = optuna.create_study(sampler=sampler)
    out = []
    for _ in range(n):
        trial = study.ask()
        config = space.sample(trial)
        out.append((config, dict(trial.params)))
        study.tell(trial, float(config["optimizer"]["lr"]))
    return out


def test_sampling_is_define_by_run(example):
    names = {d.name for d in example.dimensions()}
    seen_families = set()
    for config, params in _ask_many(example, 60, optuna.samplers.RandomSampler(seed=0)):
        assert set(params) <= names
        opt, sched, loss = params["optimizer"], params["lr_scheduler"], params["loss_scheduler"]
        seen_families |= {opt, sched, loss}
        # Only the chosen family's parameters are sampled, under names distinct per family.
        assert {p for p in params if p.startswith("optimizer.") and p != "optimizer.lr"} == (
            {"optimizer.Adam.betas[0]"} if opt == "Adam" else {"optimizer.SGD.momentum"}
        )
        sched_params = {p for p in params if p.startswith("lr_scheduler.")}
        assert sched_params == {
            "ReduceLROnPlateau": {"lr_scheduler.ReduceLROnPlateau.factor", "lr_scheduler.ReduceLROnPlateau.patience"},
            "StepLR": {"lr_scheduler.StepLR.step_size"},
            "constant": set(),
        }[sched]
        # The concrete config: the family becomes the block's name (mode), values land where they were written.
        assert config["optimizer"]["name"] == opt
        assert config["optimizer"]["lr"] == params["optimizer.lr"]
        if opt == "Adam":
            assert config["optimizer"]["betas"] == [params["optimizer.Adam.betas[0]"], 0.999]
            assert 0.85 <= config["optimizer"]["betas"][0] <= 0.95
        else:
            assert config["optimizer"] == {"name": "SGD", "lr": params["optimizer.lr"],
                                           "momentum": params["optimizer.SGD.momentum"], "nesterov": False}
        if sched == "constant":
            assert config["lr_scheduler"] is None
        elif sched == "StepLR":
            assert config["lr_scheduler"] == {"name": "StepLR", "interval": "epoch",
                                              "step_size": params["lr_scheduler.StepLR.step_size"]}
            assert config["lr_scheduler"]["step_size"] in (2, 4, 6)
        else:
            patience = config["lr_scheduler"]["patience"]
            assert type(patience) is int and 2 <= patience <= 8
        assert config["loss_scheduler"]["mode"] == loss
        assert config["metric"] == "val_loss" and config["mode"] == "min" and "seed" not in config
        assert 1e-4 <= config["optimizer"]["lr"] <= 3e-2
        RunConfig.from_dict(config)
    assert seen_families == {"Adam", "SGD", "ReduceLROnPlateau", "StepLR", "constant", "adaptive", "ramp"}


def test_tpe_learns_over_conditional_parameters(example):
    sampler = optuna.samplers.TPESampler(seed=0, n_startup_trials=4)
    results = _ask_many(example, 12, sampler)
    assert len(results) == 12
    assert all(RunConfig.from_dict(config) for config, _ in results)


def test_same_sampler_seed_gives_the_same_configs(example):
    first = _ask_many(example, 5, optuna.samplers.RandomSampler(seed=3))
    again = _ask_many(example, 5, optuna.samplers.RandomSampler(seed=3))
    assert first == again


def test_categorical_mappings_are_suggested_by_label_and_copied():
    space = _space(optimizer={"name": "Adam", "betas": {"values": [[0.9, 0.999], [0.95, 0.99]]}})
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1)).ask()
    config = space.sample(trial)
    assert trial.params["optimizer.betas"] in ("[0.9, 0.999]", "[0.95, 0.99]")
    assert config["optimizer"]["betas"] == yaml.safe_load(trial.params["optimizer.betas"])
    config["optimizer"]["betas"].append(1)
    assert space.template["optimizer"]["betas"]["values"] == [[0.9, 0.999], [0.95, 0.99]]


def test_loading_and_sampling_never_mutate_the_input():
    data = yaml.safe_load(EXAMPLE.read_text())
    before = copy.deepcopy(data)
    space = SearchSpace.from_dict(data)
    space.sample(optuna.create_study().ask())
    space.grid_size()
    assert data == before


@pytest.mark.slow
def test_ray_optuna_search_gets_the_sampled_config(example):
    """Ray's OptunaSearch wraps the trial and also returns the flat parameter names beside our dict."""
    from ray.tune.search.optuna import OptunaSearch

    def define_by_run(trial):
        return {"run_config": example.sample(trial)}

    searcher = OptunaSearch(space=define_by_run, metric="score", mode="min",
                            sampler=optuna.samplers.RandomSampler(seed=0))
    config = searcher.suggest("trial_1")
    RunConfig.from_dict(config["run_config"])
    assert config["optimizer.lr"] == config["run_config"]["optimizer"]["lr"]


GRIDS = [
    ({}, 1),
    ({"optimizer": {"name": "SGD", "lr": {"values": [0.1, 0.01]}, "momentum": {"min": 0.0, "max": 0.9, "step": 0.3}}},
     8),
    ({"optimizer": {"name": "Adam", "betas": [{"values": [0.9, 0.95]}, {"values": [0.99, 0.999]}]}}, 4),
    ({"optimizer": {"lr": {"values": [0.1, 0.01]}, "one_of": {"Adam": None, "SGD": {"momentum": {"values": [0, 0.9]}}}},
      "lr_scheduler": {"one_of": {"StepLR": {"step_size": {"min": 1, "max": 3}}, "constant": None}}},
     (2 + 2 * 2) * (3 + 1)),
    ({"trainer": {"max_epochs": {"min": 1, "max": 16, "log": True}}}, 16),
]


@pytest.mark.parametrize(("blocks", "count"), GRIDS)
def test_grid_counts(blocks, count):
    space = _space(search={"algorithm": "grid"}, **blocks)
    grid = space.grid()
    assert len(grid) == space.grid_size() == space.num_configs == count
    assert len({yaml.safe_dump(c) for c in grid}) == count  # all distinct
    for config in grid:
        RunConfig.from_dict(config)


def test_grid_order_and_values():
    space = _space(optimizer={"lr": {"values": [0.1, 0.01]},
                              "one_of": {"Adam": None, "SGD": {"momentum": {"min": 0.0, "max": 0.6, "step": 0.3}}}})
    assert [c["optimizer"] for c in space.grid()] == [
        {"name": "Adam", "lr": 0.1},
        {"name": "Adam", "lr": 0.01},
        {"name": "SGD", "lr": 0.1, "momentum": 0.0},
        {"name": "SGD", "lr": 0.1, "momentum": 0.3},
        {"name": "SGD", "lr": 0.1, "momentum": 0.6},
        {"name": "SGD", "lr": 0.01, "momentum": 0.0},
        {"name": "SGD", "lr": 0.01, "momentum": 0.3},
        {"name": "SGD", "lr": 0.01, "momentum": 0.6},
    ]


def test_grid_rejects_a_continuous_range_naming_it():
    space = _space(optimizer={"name": "Adam", "lr": {"min": 1e-4, "max": 1e-2, "log": True}})
    with pytest.raises(UsageError, match=r"^optimizer\.lr: \[0\.0001, 0\.01\] log is a continuous range, which a grid "
                                         r"cannot list; give it a step"):
        space.grid()


def test_grid_rejects_a_huge_grid():
    space = _space(trainer={"max_epochs": {"min": 1, "max": 200}}, task_kwargs={"data_seed": {"min": 0, "max": 999}})
    with pytest.raises(UsageError, match=r"search\.algorithm: the grid has 200,000 configs, more than 100,000; use"):
        space.grid()


def test_with_overrides():
    base = load_search_space(EXAMPLE)
    space = base.with_overrides(num_samples=3, seeds="4, 5", max_epochs=7, max_concurrent=1, cpus_per_trial=2,
                                gpus_per_trial=0.5)
    assert space.settings.num_samples == 3 and space.settings.max_concurrent == 1
    assert space.seeds == (4, 5)
    assert space.resources == Resources(cpu=2.0, gpu=0.5)
    assert space.template["trainer"] == {"max_epochs": 7, "gradient_clip_val": {"values": [None, 1.0]}}
    assert space.source["search"]["num_samples"] == 3 and space.source["seeds"] == [4, 5]
    assert base.with_overrides() == base
    assert base.settings.num_samples == 6 and base.seeds == (0, 1)  # the original is untouched
    assert base.with_overrides(seeds=[2]).seeds == (2,)


def test_max_epochs_override_replaces_a_distribution():
    space = _space(trainer={"max_epochs": {"values": [5, 10]}})
    assert [d.name for d in space.dimensions()] == ["trainer.max_epochs"]
    assert space.with_overrides(max_epochs=3).dimensions() == []
    assert _space().with_overrides(max_epochs=3).template["trainer"] == {"max_epochs": 3}


OVERRIDE_ERRORS = [
    ({"num_samples": 0}, "--num-samples: must be at least 1, but got 0"),
    ({"seeds": "1,x"}, "--seeds[1]: must be an integer, but got 'x' (str)"),
    ({"seeds": "1,1"}, "--seeds[1]: repeats seed 1; list each seed once"),
    ({"seeds": []}, "--seeds: must be a non-empty list of seeds"),
    ({"max_epochs": 0}, "--max-epochs: must be at least 1, but got 0"),
    ({"max_concurrent": 0}, "--max-concurrent: must be at least 1, but got 0"),
    ({"cpus_per_trial": 0}, "--cpus-per-trial: must be greater than 0, but got 0.0"),
    ({"gpus_per_trial": 1.5}, "--gpus-per-trial: must be a fraction up to 1 or a whole number, but got 1.5"),
    ({"gpus_per_trial": -1}, "--gpus-per-trial: must be at least 0.0, but got -1.0"),
]


@pytest.mark.parametrize(("flags", "message"), OVERRIDE_ERRORS)
def test_override_errors_name_the_flag(example, flags, message):
    with pytest.raises(UsageError, match="^" + re.escape(message)):
        example.with_overrides(**flags)


def test_override_errors_for_grid_and_searched_trainer():
    grid = _space(search={"algorithm": "grid"})
    with pytest.raises(UsageError, match=r"^--num-samples: does not apply to algorithm grid"):
        grid.with_overrides(num_samples=2)
    searched = _space(trainer={"values": [{"max_epochs": 2}, {"max_epochs": 4}]})
    with pytest.raises(UsageError, match=r"^--max-epochs: cannot set max_epochs because the whole trainer block is "):
        searched.with_overrides(max_epochs=3)


def test_summary_of_a_small_space():
    space = _space(
        seeds=[0, 1, 2, 3],
        optimizer={"lr": {"min": 1e-4, "max": 1e-2, "log": True}, "one_of": {"Adam": None, "SGD": None}},
        lr_scheduler={"one_of": {"StepLR": {"step_size": {"values": [2, 4]}}, "constant": None}},
        search={"num_samples": 10, "max_concurrent": 2, "pruner": {"rule": "median", "grace_period": 2}},
        resources={"gpu": 0.5},
        trainer={"max_epochs": 5},
    )
    assert space.summary() == "\n".join([
        "search space: 4 dimensions (1 conditional)",
        "  optimizer                      categorical  {Adam, SGD}",
        "  optimizer.lr                   float        [0.0001, 0.01] log",
        "  lr_scheduler                   categorical  {StepLR, constant}",
        "  lr_scheduler.StepLR.step_size  categorical  {2, 4}  if lr_scheduler=StepLR",  # the last column unpadded
        "seeds: 0, 1, 2, 3 (4 runs per config)",
        "objective: min val_loss, scored across seeds",
        "algorithm: optuna; 10 configs x 4 seeds = 40 runs; at most 2 at once; up to 5 epochs per run",
        "pruner: median (grace_period 2 epochs, min_samples_required 3)",
        "resources per config: 1 CPU, 0.5 GPU",
    ])


def test_summary_of_a_grid_and_of_no_dimensions():
    grid = _space(search={"algorithm": "grid", "pruner": None}, optimizer={"name": "SGD", "lr": {"values": [0.1, 1.0]}})
    text = grid.summary()
    assert "algorithm: grid; 2 configs (the whole grid) x 3 seeds = 6 runs" in text
    assert "pruner: none (every config trains to the end)" in text
    assert _space().summary().startswith("search space: no dimensions (every sample is the same config)\n")


def test_pickle_round_trip(example):
    again = pickle.loads(pickle.dumps(example))
    assert again == example
    sampler_seed = 5
    first = _ask_many(example, 3, optuna.samplers.RandomSampler(seed=sampler_seed))
    second = _ask_many(again, 3, optuna.samplers.RandomSampler(seed=sampler_seed))
    assert first == second


def test_import_and_load_need_no_torch_optuna_or_ray():
    code = (
        "import sys\n"
        "from tune_sched.config.space import load_search_space\n"
        f"space = load_search_space({str(EXAMPLE)!r})\n"
        "space.summary(); space.grid_size()\n"
        "heavy = sorted(m for m in ('torch', 'optuna', 'ray', 'pytorch_lightning') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def test_validate_of_the_schedulers_space_pads_no_row_to_its_longest_value():
    """Rows end where their text ends: only the categorical with every scheduler's name is long."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "tune_sched.cli", "validate", "search_spaces/schedulers.yaml"],
                          cwd=root, capture_output=True, text=True, check=True)
    rows = [line for line in done.stdout.splitlines() if line.startswith("  ")]
    assert rows and all(line == line.rstrip() for line in rows)
    assert [line for line in rows if len(line) > 150] == [next(r for r in rows if r.split()[0] == "lr_scheduler")]
    step_size = next(r for r in rows if r.split()[0] == "lr_scheduler.StepLR.step_size")
    assert step_size.endswith("int          [3, 15]  if lr_scheduler=StepLR") and len(step_size) < 120
