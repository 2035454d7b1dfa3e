"""Any LightningModule trains unmodified: the trial supplies configure_optimizers; a bad module path is a UsageError."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from tests.train.trial_configs import USER_MODULES, user_module

from tune_sched.core.errors import UsageError
from tune_sched.train.trial import run_trial

EXAMPLE = "tune_sched.train.tasks.examples:ExampleRegressor"


def test_example_regressor_trains_with_the_configs_optimizer_and_schedule(tmp_path):
    config = {"module": EXAMPLE, "module_kwargs": {"in_features": 3, "n_train": 16, "batch_size": 4},
              "optimizer": {"name": "SGD", "lr": 0.05, "momentum": 0.9},
              "lr_scheduler": {"name": "StepLR", "step_size": 1, "gamma": 0.1}, "trainer": {"max_epochs": 2}}
    result = run_trial(config, seed=0, out_dir=tmp_path)
    assert result.status == "completed" and result.steps_run == 8
    steps = pq.read_table(tmp_path / "steps.parquet").to_pandas()
    assert list(steps["lr"]) == pytest.approx([0.05] * 4 + [0.005] * 4)
    assert "weight_field" not in steps.columns  # no loss protocol, no weights
    assert result.best_metric < result.final_metric or result.best_epoch == 1


def test_a_module_with_its_own_configure_optimizers_is_warned_and_overridden(tmp_path):
    with pytest.warns(UserWarning, match="OwnOptimizer defines configure_optimizers; tune-sched replaces it"):
        result = run_trial(user_module("OwnOptimizer", max_epochs=1), seed=0, out_dir=tmp_path)
    steps = pq.read_table(tmp_path / "steps.parquet").to_pandas()
    assert set(steps["lr"]) == {0.01}  # the config's Adam, not the module's SGD(lr=123)
    assert result.status == "completed"


@pytest.mark.parametrize(("module", "kwargs", "message"), [
    ("no_such_package.models:Net", {},
     r"^module: cannot import module 'no_such_package.models' \(ModuleNotFoundError: .*\); check the import path"),
    ("tune_sched.train.tasks.examples:ExampleRegresor", {},
     r"^module: module 'tune_sched.train.tasks.examples' has no attribute 'ExampleRegresor' "
     r"\(did you mean 'ExampleRegressor'\?\); name a class"),
    (f"{USER_MODULES}:NotAModule", {},
     r"^module: 'tests.train.user_modules:NotAModule' is not a pytorch_lightning.LightningModule subclass; "
     r"name a LightningModule class"),
    (EXAMPLE, {"in_featurs": 3},
     r"^module_kwargs.in_featurs: unknown ExampleRegressor argument 'in_featurs' \(did you mean 'in_features'\?\); "
     r"use one of: batch_size, data_seed, in_features, n_train, n_val$"),
    (f"{USER_MODULES}:Requires", {},
     r"^module_kwargs: Requires does not accept these arguments \(missing a required argument: 'width'\); "
     r"give the arguments Requires needs \(it takes: width\)$"),
    (f"{USER_MODULES}:ManualOptimization", {"step_scheduler": True, "x": 1},  # **kwargs: the constructor decides
     r"^module_kwargs: ManualOptimization\(\*\*module_kwargs\) raised TypeError: ExampleRegressor.__init__\(\) "
     r"got an unexpected keyword argument 'x'; check the values in module_kwargs$"),
    (EXAMPLE, {"in_features": -2},
     r"^module_kwargs: ExampleRegressor\(\*\*module_kwargs\) raised RuntimeError: .*; check the values"),
])
def test_a_bad_module_is_a_usage_error_naming_the_key(tmp_path, module, kwargs, message):
    with pytest.raises(UsageError, match=message):
        run_trial({"module": module, "module_kwargs": kwargs}, seed=0, out_dir=tmp_path)
    assert not (tmp_path / "result.json").exists()  # nothing ran: no result


def test_a_loss_scheduler_needs_a_module_following_the_loss_protocol():
    with pytest.raises(UsageError, match=r"^loss_scheduler: is set but ExampleRegressor does not follow the loss "
                                         r"protocol \(no 'loss_weights'\); remove loss_scheduler, or see "
                                         r"docs/loss_protocol.md"):
        run_trial({"module": EXAMPLE, "loss_scheduler": {"mode": "constant"}}, seed=0)
