"""Fixtures for the task tests: a real Lightning fit with a plain Adam, recording what the trial records per step."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
import pytorch_lightning as pl
import torch


class StepRecorder(pl.Callback):
    """What the trial records per step: the returned loss, the module's detached components, the epoch."""

    def __init__(self) -> None:
        self.losses: list[float] = []
        self.components: list[dict[str, float]] = []
        self.epochs: list[int] = []

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: Any, outputs: Any, batch: Any, i: int) -> None:
        self.losses.append(float(outputs["loss"]))
        comps = getattr(pl_module, "tune_sched_components", {})
        assert all(v.ndim == 0 and not v.requires_grad for v in comps.values())
        self.components.append({k: float(v) for k, v in comps.items()})
        self.epochs.append(trainer.current_epoch)


FitFn = Callable[..., tuple[pl.Trainer, StepRecorder]]


@pytest.fixture
def fit() -> FitFn:
    """``fit(module, datamodule, *, epochs=2, lr=1e-3, callbacks=())`` -> (trainer, StepRecorder).

    The optimizer is a plain Adam monkeypatched onto the instance (the trial supplies configure_optimizers).
    """

    def run(module: pl.LightningModule, datamodule: pl.LightningDataModule | None, *, epochs: int = 2,
            lr: float = 1e-3, callbacks: Sequence[pl.Callback] = ()) -> tuple[pl.Trainer, StepRecorder]:
        module.configure_optimizers = lambda: torch.optim.Adam(module.parameters(), lr=lr)
        recorder = StepRecorder()
        trainer = pl.Trainer(
            max_epochs=epochs, enable_progress_bar=False, logger=False, enable_checkpointing=False,
            enable_model_summary=False, deterministic=True, accelerator="cpu", devices=1,
            callbacks=[recorder, *callbacks],
        )
        trainer.fit(module, datamodule=datamodule)
        return trainer, recorder

    return run
