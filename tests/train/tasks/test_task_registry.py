"""The task registry: every task builds, its spec matches its classes, and bad task/kwargs are UsageErrors."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

from tune_sched.core.errors import UsageError
from tune_sched.train.tasks.registry import (
    TASK_NAMES,
    TASKS,
    build_task,
    get_task,
    parse_loss_weights,
    validate_task_kwargs,
)


def test_task_names_are_the_registry_keys() -> None:
    assert TASK_NAMES == tuple(TASKS) == ("fno2d", "tiny")
    assert all(spec.name == name for name, spec in TASKS.items())


def test_registry_imports_without_torch() -> None:
    code = (
        "import sys; import tune_sched.train.tasks; "
        "from tune_sched.train.tasks.registry import validate_task_kwargs; validate_task_kwargs('tiny', {}); "
        "bad = [m for m in ('torch', 'pytorch_lightning') if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_spec_matches_the_classes_it_names(name: str) -> None:
    import pytorch_lightning as pl

    spec = TASKS[name]
    module_cls, data_cls = spec.module_class(), spec.datamodule_class()
    assert issubclass(module_cls, pl.LightningModule) and issubclass(data_cls, pl.LightningDataModule)
    module_params = inspect.signature(module_cls).parameters
    data_params = inspect.signature(data_cls).parameters
    for kw in spec.kwargs:
        params = module_params if kw.to == "module" else data_params
        assert kw.name in params, f"{kw.name} is not a parameter of {kw.to} class"
        if kw.to == "module":  # the module's own defaults must be the registry's
            assert params[kw.name].default == kw.default
    assert set(data_params) == {k.name for k in spec.kwargs if k.to == "data"} | {"batch_size"}
    assert set(module_params) == {k.name for k in spec.kwargs if k.to == "module"}


@pytest.mark.parametrize("name", TASK_NAMES)
def test_build_task_with_defaults(name: str) -> None:
    module, datamodule = build_task(name, {})
    spec = TASKS[name]
    assert type(module).__name__ == spec.module_path.rpartition(":")[2]
    assert type(datamodule).__name__ == spec.datamodule_path.rpartition(":")[2]
    assert datamodule.batch_size == spec.batch_size
    assert module.loss_weights == {"field": 1.0}
    assert validate_task_kwargs(name, None) == {**spec.defaults, "loss": {"field": 1.0}}


def test_build_task_passes_kwargs_and_batch_size() -> None:
    module, datamodule = build_task(
        "fno2d", {"width": 4, "modes": 3, "layers": 2, "resolution": 8, "n_train": 5, "n_val": 3, "data_seed": 7,
                  "loss": {"field": 0.7, "spectrum": 0.3}}, batch_size=4)
    assert module.hparams["width"] == 4 and len(module.net.spectral) == 2 and module.net.spectral[0].modes == 3
    assert module.loss_weights == {"field": 0.7, "spectrum": 0.3}
    assert (datamodule.resolution, datamodule.n_train, datamodule.n_val, datamodule.data_seed) == (8, 5, 3, 7)
    assert datamodule.batch_size == 4


def test_validate_does_not_mutate_the_callers_kwargs() -> None:
    given = {"loss": {"field": 1}, "n_train": 8.0}
    values = validate_task_kwargs("tiny", given)
    assert given == {"loss": {"field": 1}, "n_train": 8.0}
    assert values["n_train"] == 8 and isinstance(values["n_train"], int)
    assert values["loss"] == {"field": 1.0}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("field", {"field": 1.0}),
        ("spectrum", {"spectrum": 1.0}),
        ({"field": 0.7, "spectrum": 0.3}, {"field": 0.7, "spectrum": 0.3}),
        ({"mse": 2, "field": 0}, {"mse": 2.0, "field": 0.0}),
    ],
)
def test_parse_loss_weights(value: object, expected: dict[str, float]) -> None:
    assert parse_loss_weights(value) == expected


def test_unknown_task_lists_the_valid_ones() -> None:
    with pytest.raises(UsageError,
                       match=r"^task: unknown task 'tinyy' \(did you mean 'tiny'\?\); use one of: fno2d, tiny$"):
        get_task("tinyy")
    with pytest.raises(UsageError, match=r"unknown task 'mnist'; use one of: fno2d, tiny"):
        build_task("mnist", {})


def test_unknown_kwarg_lists_the_valid_ones() -> None:
    with pytest.raises(
        UsageError,
        match=r"^task_kwargs\.widht: unknown fno2d kwarg 'widht' \(did you mean 'width'\?\); "
              r"use one of: data_seed, layers, loss, modes, n_train, n_val, resolution, width$",
    ):
        build_task("fno2d", {"widht": 8})
    with pytest.raises(UsageError,
                       match=r"task_kwargs\.modes: unknown tiny kwarg 'modes'.*use one of: data_seed, loss"):
        build_task("tiny", {"modes": 4})


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("tiny", {"resolution": 4}, r"task_kwargs\.resolution: must be at least 8, but got 4"),
        ("tiny", {"n_train": 1.5}, r"task_kwargs\.n_train: must be an integer, but got 1\.5 \(float\)"),
        ("tiny", {"n_val": 0}, r"task_kwargs\.n_val: must be at least 1, but got 0"),
        ("tiny", {"data_seed": -1}, r"task_kwargs\.data_seed: must be at least 0, but got -1"),
        ("tiny", {"width": "8"}, r"task_kwargs\.width: must be an integer, but got '8' \(str\)"),
        ("fno2d", {"layers": True}, r"task_kwargs\.layers: must be an integer, but got True \(bool\)"),
        ("fno2d", {"modes": 17}, r"task_kwargs\.modes: must be at most resolution // 2 = 16 .*but got 17; "
                                 r"set modes to 16 or less, or raise resolution"),
        ("fno2d", {"resolution": 12, "modes": 8}, r"task_kwargs\.modes: must be at most resolution // 2 = 6"),
        ("tiny", {"loss": "fild"}, r"task_kwargs\.loss: unknown loss 'fild' \(did you mean 'field'\?\); "
                                   r"use one of: field, huber, mae, mse, spectrum"),
        ("tiny", {"loss": {"spectrm": 1}}, r"task_kwargs\.loss\.spectrm: unknown loss 'spectrm' "
                                           r"\(did you mean 'spectrum'\?\)"),
        ("tiny", {"loss": {"field": -1}}, r"task_kwargs\.loss\.field: must be at least 0\.0, but got -1\.0"),
        ("tiny", {"loss": {"field": float("nan")}}, r"task_kwargs\.loss\.field: must be a finite number, but got nan"),
        ("tiny", {"loss": {"field": 0}}, r"task_kwargs\.loss: needs at least one positive weight, but got "
                                         r"\{'field': 0\}; give at least one loss a weight greater than 0"),
        ("tiny", {"loss": {}}, r"task_kwargs\.loss: needs at least one positive weight"),
        ("tiny", {"loss": 3}, r"task_kwargs\.loss: must be a loss name or a mapping of loss names to weights, "
                              r"but got 3; write e\.g\. loss: field"),
    ],
)
def test_bad_values_name_the_key(name: str, kwargs: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        validate_task_kwargs(name, kwargs)


def test_task_kwargs_must_be_a_mapping() -> None:
    with pytest.raises(UsageError,
                       match=r"^task_kwargs: must be a mapping of keys to values, but got \[1\] \(list\)"):
        build_task("tiny", [1])


def test_batch_size_override_is_checked() -> None:
    with pytest.raises(UsageError, match=r"trainer\.batch_size: must be at least 1, but got 0"):
        build_task("tiny", {}, batch_size=0)


def test_module_rejects_a_bad_loss_when_built_directly() -> None:
    from tune_sched.train.tasks.tiny import TinyTask

    with pytest.raises(UsageError, match=r"^loss: unknown loss 'l2'"):
        TinyTask(loss="l2")
