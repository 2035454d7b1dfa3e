"""Real Lightning fits of every built-in task and the example module: logged metrics, loss weights, determinism."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import pytorch_lightning as pl
import torch

from tune_sched.train.tasks.examples import ExampleRegressor
from tune_sched.train.tasks.registry import TASK_NAMES, build_task

SMALL = {"fno2d": {"resolution": 16, "modes": 4, "width": 4, "layers": 2, "n_train": 16, "n_val": 8},
         "tiny": {"resolution": 8, "n_train": 16, "n_val": 8}}
FitFn = Callable[..., tuple[pl.Trainer, Any]]  # the ``fit`` fixture of conftest.py
PROTOCOL_METRICS = {"train_loss", "train_field", "train_spectrum", "val_loss", "val_field", "val_spectrum"}


def seeded_fit(fit: FitFn, name: str, seed: int, **kwargs: Any) -> tuple[pl.Trainer, Any, pl.LightningModule]:
    pl.seed_everything(seed, verbose=False)  # before building: the module's initial weights use the seed
    module, datamodule = build_task(name, SMALL[name], batch_size=4)
    trainer, recorder = fit(module, datamodule, **kwargs)
    return trainer, recorder, module


def test_every_task_has_small_test_sizes() -> None:
    assert set(SMALL) == set(TASK_NAMES)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_fit_logs_the_protocol_metrics_per_epoch(fit: FitFn, name: str) -> None:
    trainer, recorder, module = seeded_fit(fit, name, 0)
    metrics = trainer.callback_metrics
    assert PROTOCOL_METRICS <= set(metrics)
    assert not any(key.endswith("_step") or key.endswith("_epoch") for key in metrics)  # on_epoch only
    assert all(math.isfinite(float(metrics[key])) for key in PROTOCOL_METRICS)
    assert len(recorder.losses) == 2 * 4  # 16 samples, batch 4, 2 epochs
    assert all(set(c) == {"field", "spectrum"} for c in recorder.components)
    assert recorder.losses == pytest.approx([c["field"] for c in recorder.components], rel=1e-6)
    torch.testing.assert_close(metrics["val_loss"], metrics["val_field"])


class SetWeights(pl.Callback):
    """Replace the module's loss weights at the start of an epoch, as the trial's loss scheduler does."""

    def __init__(self, epoch: int, weights: dict[str, float]) -> None:
        self.epoch, self.weights = epoch, weights

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: Any) -> None:
        if trainer.current_epoch == self.epoch:
            pl_module.loss_weights = dict(self.weights)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_loss_weights_are_read_at_every_step(fit: FitFn, name: str) -> None:
    weights = {"field": 0.5, "spectrum": 0.25, "mse": 1.0}
    trainer, recorder, _ = seeded_fit(fit, name, 0, callbacks=[SetWeights(1, weights)])
    for epoch, loss, comps in zip(recorder.epochs, recorder.losses, recorder.components):
        if epoch == 0:
            assert set(comps) == {"field", "spectrum"} and loss == pytest.approx(comps["field"], rel=1e-6)
        else:
            assert set(comps) == {"field", "spectrum", "mse"}
            assert loss == pytest.approx(sum(w * comps[k] for k, w in weights.items()), rel=1e-5)
    m = {k: float(v) for k, v in trainer.callback_metrics.items()}
    assert m["val_loss"] == pytest.approx(0.5 * m["val_field"] + 0.25 * m["val_spectrum"] + m["val_mse"], rel=1e-5)
    assert m["train_loss"] == pytest.approx(0.5 * m["train_field"] + 0.25 * m["train_spectrum"] + m["train_mse"],
                                            rel=1e-5)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_same_seed_gives_identical_fits_and_another_seed_does_not(fit: FitFn, name: str) -> None:
    _, first, module_a = seeded_fit(fit, name, 3)
    _, again, module_b = seeded_fit(fit, name, 3)
    _, other, _ = seeded_fit(fit, name, 4)
    assert first.losses == again.losses and first.components == again.components
    assert all(torch.equal(a, b) for a, b in zip(module_a.state_dict().values(), module_b.state_dict().values()))
    assert first.losses != other.losses


def test_tiny_learns_in_ten_epochs(fit: FitFn) -> None:
    pl.seed_everything(0, verbose=False)
    module, datamodule = build_task("tiny", {})
    trainer, recorder = fit(module, datamodule, epochs=10, lr=1e-2)
    assert recorder.losses[0] > 0.5
    assert float(trainer.callback_metrics["val_field"]) < 0.1 * recorder.losses[0]


def test_example_regressor_fits_deterministically(fit: FitFn) -> None:
    def run() -> tuple[pl.Trainer, Any]:
        pl.seed_everything(0, verbose=False)
        return fit(ExampleRegressor(in_features=3, n_train=16, n_val=8, batch_size=4), None, lr=1e-2)

    (trainer, first), (_, again) = run(), run()
    assert {"train_loss", "val_loss"} <= set(trainer.callback_metrics)
    assert first.losses == again.losses and len(first.losses) == 8
    assert first.components == [{}] * 8  # a plain module exposes no components
