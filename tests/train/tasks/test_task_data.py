"""Generated task data: shapes, determinism from data_seed only, the global RNG untouched, caching, loaders."""

from __future__ import annotations

import pickle

import pytest
import pytorch_lightning as pl
import torch

from tune_sched.losses import field_error, spectrum_error
from tune_sched.train.tasks.registry import TASK_NAMES, build_task

SMALL = {"fno2d": {"resolution": 16, "modes": 4, "width": 4, "n_train": 12, "n_val": 6},
         "tiny": {"resolution": 8, "n_train": 12, "n_val": 6}}


def _datamodule(name: str, **kwargs: object) -> pl.LightningDataModule:
    return build_task(name, {**SMALL[name], **kwargs}, batch_size=4)[1]


def _clear_cache(name: str) -> None:
    type(_datamodule(name)).pairs.cache_clear()


def _tensors(dm: pl.LightningDataModule) -> tuple[torch.Tensor, ...]:
    dm.setup("fit")
    return (*dm.train_set.tensors, *dm.val_set.tensors)


def test_every_task_has_small_test_sizes() -> None:
    assert set(SMALL) == set(TASK_NAMES)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_shapes_and_dtypes(name: str) -> None:
    r = SMALL[name]["resolution"]
    x_train, y_train, x_val, y_val = _tensors(_datamodule(name))
    assert x_train.shape == y_train.shape == (12, 1, r, r)
    assert x_val.shape == y_val.shape == (6, 1, r, r)
    assert all(t.dtype == torch.float32 and torch.isfinite(t).all() for t in (x_train, y_train, x_val, y_val))


@pytest.mark.parametrize("name", TASK_NAMES)
def test_data_depend_on_data_seed_only_and_leave_the_global_rng_alone(name: str) -> None:
    _clear_cache(name)
    pl.seed_everything(1, verbose=False)
    dm = _datamodule(name)  # building the task initialises the module's weights from the global RNG...
    state = torch.random.get_rng_state()
    first = _tensors(dm)
    assert torch.equal(torch.random.get_rng_state(), state)  # ...but generating the data consumes none of it
    _clear_cache(name)
    pl.seed_everything(2, verbose=False)  # another training seed
    again = _tensors(_datamodule(name))
    assert first[0] is not again[0] and all(torch.equal(a, b) for a, b in zip(first, again))
    other = _tensors(_datamodule(name, data_seed=1))
    assert not any(torch.equal(a, b) for a, b in zip(first, other))


@pytest.mark.parametrize("name", TASK_NAMES)
def test_data_are_cached_per_process(name: str) -> None:
    _clear_cache(name)
    pairs = type(_datamodule(name)).pairs
    first = _tensors(_datamodule(name))
    hits = pairs.cache_info().hits
    second = _tensors(_datamodule(name))
    assert all(a is b for a, b in zip(first, second))
    assert pairs.cache_info().hits == hits + 2  # train and val


@pytest.mark.parametrize("name", TASK_NAMES)
def test_validation_set_does_not_change_with_n_train(name: str) -> None:
    _, _, x_val, y_val = _tensors(_datamodule(name, n_train=5))
    _, _, x_val2, y_val2 = _tensors(_datamodule(name, n_train=7))
    x_train, *_ = _tensors(_datamodule(name))
    assert torch.equal(x_val, x_val2) and torch.equal(y_val, y_val2)
    assert not torch.equal(x_train[:6], x_val)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_targets_differ_from_inputs_in_field_and_spectrum(name: str) -> None:
    x, y, _, _ = _tensors(_datamodule(name))
    # predicting the input unchanged is a poor model by both measures: the task is not trivial
    assert float(field_error(x, y)) > 0.1
    assert float(spectrum_error(x, y)) > 1e-3  # (a trained fno2d reaches about 4e-3 at its default 32x32)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_training_order_is_shuffled_deterministically_by_the_global_seed(name: str) -> None:
    dm = _datamodule(name)
    dm.setup("fit")

    def first_batch(seed: int) -> torch.Tensor:
        pl.seed_everything(seed, verbose=False)
        return next(iter(dm.train_dataloader()))[0]

    assert torch.equal(first_batch(0), first_batch(0))
    assert not torch.equal(first_batch(0), first_batch(1))
    loader = dm.train_dataloader()
    assert loader.batch_size == 4 and loader.num_workers == 0
    assert torch.equal(next(iter(dm.val_dataloader()))[0], dm.val_set.tensors[0][:4])  # validation in order


@pytest.mark.parametrize("name", TASK_NAMES)
def test_module_and_datamodule_pickle(name: str) -> None:
    module, dm = build_task(name, SMALL[name])
    fresh = pickle.loads(pickle.dumps(dm))
    assert fresh.train_set is None  # data are built in setup, on the worker
    dm.setup("fit")
    restored = pickle.loads(pickle.dumps(dm))
    assert torch.equal(restored.train_set.tensors[1], dm.train_set.tensors[1])
    copy = pickle.loads(pickle.dumps(module))
    assert copy.loss_weights == module.loss_weights
    assert all(torch.equal(a, b) for a, b in zip(copy.state_dict().values(), module.state_dict().values()))
