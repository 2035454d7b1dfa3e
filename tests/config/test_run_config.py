"""RunConfig: defaults, round trip, overrides, precision names, and every error message of run_config.py."""

from __future__ import annotations

import doctest
import re

import pytest

from tune_sched.config import run_config
from tune_sched.config.run_config import (
    EarlyStoppingConfig,
    RunConfig,
    TrainerConfig,
    load_run_config,
    normalize_precision,
)
from tune_sched.core.errors import UsageError
from tune_sched.config.loss_scheduler import LossSchedulerConfig, validate_loss_scheduler_config
from tune_sched.config.catalog.checks import validate_lr_scheduler_config, validate_optimizer_config
from tune_sched.config.catalog.configs import LRSchedulerConfig, OptimizerConfig

EXAMPLE_MODULE = "tune_sched.train.tasks.examples:ExampleRegressor"


def test_defaults():
    cfg = RunConfig.from_dict({})
    assert (cfg.task, cfg.seed, cfg.metric, cfg.mode) == ("tiny", 0, "val_loss", "min")
    assert cfg.optimizer == {"name": "Adam", "lr": 1e-3}
    assert cfg.lr_scheduler is None and cfg.loss_scheduler is None
    assert cfg.trainer == TrainerConfig()


def test_blocks_are_typed_and_still_read_as_their_yaml_blocks():
    blocks = {"optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9},
              "lr_scheduler": {"name": "StepLR", "step_size": 2, "interval": "epoch"},
              "loss_scheduler": {"mode": "ramp", "ramp_epochs": 4, "initial_weights": [2, 0]}}
    cfg = RunConfig.from_dict(blocks)
    assert isinstance(cfg.optimizer, OptimizerConfig) and isinstance(cfg.lr_scheduler, LRSchedulerConfig)
    assert isinstance(cfg.loss_scheduler, LossSchedulerConfig)
    assert (cfg.optimizer.name, cfg.optimizer.kwargs, cfg.optimizer["lr"]) == ("SGD", {"lr": 0.1, "momentum": 0.9}, 0.1)
    assert (cfg.lr_scheduler.name, cfg.lr_scheduler.interval, cfg.lr_scheduler.get("frequency")) == ("StepLR", "epoch",
                                                                                                   None)
    assert (cfg.loss_scheduler.mode, cfg.loss_scheduler.ramp_epochs) == ("ramp", 4)
    assert cfg.loss_scheduler["initial_weights"] == [2.0, 0.0]
    written = cfg.to_dict()
    assert written["optimizer"] == validate_optimizer_config(blocks["optimizer"])
    assert written["lr_scheduler"] == validate_lr_scheduler_config(blocks["lr_scheduler"])
    assert written["loss_scheduler"] == validate_loss_scheduler_config(blocks["loss_scheduler"])
    assert all(type(written[key]) is dict and list(written[key]) == list(getattr(cfg, key)) for key in blocks)
    assert RunConfig.from_dict(written) == cfg
    assert isinstance(RunConfig.from_dict({}).optimizer, OptimizerConfig)


FULL = {
    "task": "tiny",
    "task_kwargs": {"data_seed": 1},
    "optimizer": {"name": "SGD", "lr": 0.1, "momentum": 0.9},
    "lr_scheduler": {"name": "StepLR", "step_size": 2},
    "trainer": {
        "max_epochs": 3, "precision": 32, "gradient_clip_val": 1.0, "accumulate_grad_batches": 2,
        "early_stopping": {"monitor": "val_loss", "patience": 2, "mode": "min", "min_delta": 0.01},
        "deterministic": False, "batch_size": 8, "accelerator": "cpu", "limit_train_batches": 4,
        "check_val_every_n_epoch": 2,
    },
    "seed": 7,
    "metric": "val_field",
    "mode": "max",
}


def test_full_config_and_round_trip():
    cfg = RunConfig.from_dict(FULL)
    assert cfg.trainer == TrainerConfig(
        max_epochs=3, precision="32-true", gradient_clip_val=1.0, accumulate_grad_batches=2,
        early_stopping=EarlyStoppingConfig("val_loss", 2, "min", 0.01), deterministic=False, batch_size=8,
        accelerator="cpu", limit_train_batches=4, check_val_every_n_epoch=2,
    )
    assert (cfg.seed, cfg.metric, cfg.mode, cfg.task_kwargs) == (7, "val_field", "max", {"data_seed": 1})
    assert RunConfig.from_dict(cfg.to_dict()) == cfg


def test_user_module_round_trip():
    cfg = RunConfig.from_dict({"module": EXAMPLE_MODULE, "module_kwargs": {"width": 3}})
    assert (cfg.task, cfg.module, cfg.module_kwargs) == (None, EXAMPLE_MODULE, {"width": 3})
    assert RunConfig.from_dict(cfg.to_dict()) == cfg


def test_input_is_not_mutated():
    data = {"module": "tune_sched.train.tasks.examples:ExampleRegressor", "module_kwargs": {"a": [1]},
            "optimizer": {"name": "Adam", "lr": 1e-3, "betas": [0.9, 0.99]}}
    cfg = RunConfig.from_dict(data)
    cfg.module_kwargs["a"].append(2)
    cfg.optimizer["betas"].append(3)
    assert data == {"module": "tune_sched.train.tasks.examples:ExampleRegressor", "module_kwargs": {"a": [1]},
                    "optimizer": {"name": "Adam", "lr": 1e-3, "betas": [0.9, 0.99]}}


def test_with_overrides():
    cfg = RunConfig.from_dict(FULL)
    again = cfg.with_overrides(seed=3, max_epochs=9)
    assert (again.seed, again.trainer.max_epochs, again.trainer.batch_size) == (3, 9, 8)
    assert cfg.with_overrides() == cfg
    with pytest.raises(UsageError, match=r"^--seed: must be at least 0, but got -1"):
        cfg.with_overrides(seed=-1)
    with pytest.raises(UsageError, match=r"^--max-epochs: must be at least 1, but got 0"):
        cfg.with_overrides(max_epochs=0)


PRECISIONS = [(16, "16-mixed"), ("16", "16-mixed"), ("bf16", "bf16-mixed"), (32, "32-true"), ("64", "64-true"),
              ("BF16-Mixed", "bf16-mixed"), ("16-true", "16-true")]


@pytest.mark.parametrize(("given", "name"), PRECISIONS)
def test_precision_names(given, name):
    assert normalize_precision(given) == name


ERRORS = [
    ([1], "run config: must be a mapping of keys to values, but got [1]"),
    ({"optimiser": {}}, "optimiser: unknown key 'optimiser' (did you mean 'optimizer'?); use one of: datamodule,"),
    ({"task": "tiny", "module": EXAMPLE_MODULE},
     "module: give either 'task' or 'module', not both; remove one of them"),
    ({"task": None, "module": "pkg.mod.Class"}, "module: must look like 'package.module:ClassName', but got"),
    ({"task": None, "module": ""}, "module: must be a non-empty string, but got ''"),
    ({"task": None, "module": EXAMPLE_MODULE, "module_kwargs": [1]}, "module_kwargs: must be a mapping of keys"),
    ({"task": None, "module": EXAMPLE_MODULE, "datamodule": "x"}, "datamodule: must look like 'package.module:"),
    ({"task": "tiny", "module_kwargs": {"a": 1}}, "module_kwargs: 'module_kwargs' needs 'module'; set module: "),
    ({"datamodule": "a.b:C"}, "datamodule: 'datamodule' needs 'module'"),
    ({"task": "tiyn"}, "task: unknown task 'tiyn' (did you mean 'tiny'?); use one of: fno2d, tiny"),
    ({"task_kwargs": 3}, "task_kwargs: must be a mapping of keys to values, but got 3 (int)"),
    ({"trainer": 3}, "trainer: must be a mapping of keys to values"),
    ({"trainer": {"epochs": 3}}, "trainer.epochs: unknown key 'epochs'"),
    ({"trainer": {"max_epochs": 0}}, "trainer.max_epochs: must be at least 1, but got 0"),
    ({"trainer": {"max_epochs": 2.5}}, "trainer.max_epochs: must be an integer, but got 2.5"),
    ({"trainer": {"precision": 8}}, "trainer.precision: unknown precision 8; use one of: "),
    ({"trainer": {"gradient_clip_val": 0}}, "trainer.gradient_clip_val: must be greater than 0, but got 0.0"),
    ({"trainer": {"accumulate_grad_batches": 0}}, "trainer.accumulate_grad_batches: must be at least 1, but got 0"),
    ({"trainer": {"deterministic": "yes"}}, "trainer.deterministic: must be true or false, but got 'yes' (str)"),
    ({"trainer": {"batch_size": 0}}, "trainer.batch_size: must be at least 1, but got 0"),
    ({"trainer": {"accelerator": "tpu"}},
     "trainer.accelerator: unknown accelerator 'tpu' (did you mean 'gpu'?); use one of: auto, cpu, gpu"),
    ({"trainer": {"limit_train_batches": 0}}, "trainer.limit_train_batches: must be at least 1, but got 0"),
    ({"trainer": {"check_val_every_n_epoch": 0}}, "trainer.check_val_every_n_epoch: must be at least 1, but got 0"),
    ({"trainer": {"early_stopping": {"patiance": 2}}},
     "trainer.early_stopping.patiance: unknown key 'patiance' (did you mean 'patience'?)"),
    ({"trainer": {"early_stopping": {"monitor": 3}}}, "trainer.early_stopping.monitor: must be a non-empty string"),
    ({"trainer": {"early_stopping": {"patience": 0}}},
     "trainer.early_stopping.patience: must be at least 1, but got 0"),
    ({"trainer": {"early_stopping": {"mode": "up"}}}, "trainer.early_stopping.mode: unknown mode 'up'"),
    ({"trainer": {"early_stopping": {"min_delta": -1}}}, "trainer.early_stopping.min_delta: must be at least 0.0"),
    ({"seed": -1}, "seed: must be at least 0, but got -1"),
    ({"seed": "a"}, "seed: must be an integer, but got 'a' (str)"),
    ({"metric": ""}, "metric: must be a non-empty string, but got ''"),
    ({"mode": "maximize"}, "mode: unknown mode 'maximize'; use one of: max, min"),
    ({"optimizer": {"name": "Adm"}}, "optimizer.name: unknown optimizer 'Adm' (did you mean 'Adam'?)"),
    ({"lr_scheduler": {"name": "StepLR", "step_sise": 2}}, "lr_scheduler.step_sise: unknown StepLR argument"),
    ({"loss_scheduler": {"mode": "adaptiv"}}, "loss_scheduler.mode: unknown mode 'adaptiv' (did you mean 'adaptive'?)"),
]


@pytest.mark.parametrize(("data", "message"), ERRORS)
def test_error_messages(data, message):
    with pytest.raises(UsageError, match="^" + re.escape(message)):
        RunConfig.from_dict(data)


def test_nested_path_prefix():
    with pytest.raises(UsageError, match=r"^trial\.trainer\.max_epochs: must be at least 1"):
        RunConfig.from_dict({"trainer": {"max_epochs": 0}}, path="trial")


FILES = [
    (None, "does not exist; pass the path of a YAML file"),
    ("", "is empty; write a run config"),
    ("seeds: [0, 1]\n", "is a search space, not a run config; use 'tune-sched search --space' for it"),
    ("task: [\n", "is not valid YAML at line 2"),
]


@pytest.mark.parametrize(("text", "message"), FILES)
def test_file_errors(tmp_path, text, message):
    path = tmp_path / "run.yaml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(UsageError, match="^" + re.escape(f"{path}: {message}")):
        load_run_config(path)


def test_directory_is_not_a_file(tmp_path):
    with pytest.raises(UsageError, match="is a directory, not a file"):
        load_run_config(tmp_path)


def test_load_run_config(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("task: tiny\noptimizer: {name: Adam, lr: 1e-3}\ntrainer: {max_epochs: 2}\n")
    cfg = load_run_config(path)
    assert cfg.trainer.max_epochs == 2 and cfg.optimizer["lr"] == pytest.approx(1e-3)


def test_doctests():
    assert doctest.testmod(run_config).failed == 0
