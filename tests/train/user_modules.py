"""LightningModules a user might write, for the trial tests (importable as ``tests.train.user_modules:Name``).

They build on :class:`~tune_sched.train.tasks.examples.ExampleRegressor` (its own data, ``train_loss`` and
``val_loss`` logged per epoch, no ``configure_optimizers``) and change one behaviour each.
"""

from __future__ import annotations

import torch
from torch import nn

from tune_sched.train.tasks.examples import ExampleRegressor

__all__ = ["CrashAt", "ManualOptimization", "NaNAt", "NotAModule", "OutOfMemoryAt", "OwnOptimizer", "Requires", "Stackable",
           "WithBatchNorm"]


class ManualOptimization(ExampleRegressor):
    """Manual optimization; steps its LR scheduler once per epoch only when ``step_scheduler`` (Lightning never
    steps it under manual optimization)."""

    def __init__(self, *, step_scheduler: bool = False, **kwargs: int) -> None:
        super().__init__(**kwargs)
        self.automatic_optimization = False
        self.step_scheduler = step_scheduler

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        optimizer = self.optimizers()
        x, y = batch
        loss = nn.functional.mse_loss(self(x), y)
        optimizer.zero_grad()
        self.manual_backward(loss)
        optimizer.step()
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=x.shape[0])
        return loss.detach()

    def on_train_epoch_end(self) -> None:
        if self.step_scheduler:
            self.lr_schedulers().step()


class NaNAt(ExampleRegressor):
    """Returns a NaN loss from global step ``step`` on."""

    def __init__(self, *, step: int = 2, **kwargs: int) -> None:
        super().__init__(**kwargs)
        self.nan_step = step

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = super().training_step(batch, batch_idx)
        return loss * torch.nan if self.global_step >= self.nan_step else loss


class CrashAt(ExampleRegressor):
    """Raises ``RuntimeError('boom in training_step')`` in the first training step of epoch ``epoch``."""

    def __init__(self, *, epoch: int = 1, **kwargs: int) -> None:
        super().__init__(**kwargs)
        self.crash_epoch = epoch

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        if self.current_epoch == self.crash_epoch:
            raise RuntimeError("boom in training_step")
        return super().training_step(batch, batch_idx)


class OutOfMemoryAt(CrashAt):
    """Raises ``torch.OutOfMemoryError`` (as CUDA does) in the first training step of epoch ``epoch``."""

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        if self.current_epoch == self.crash_epoch:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super().training_step(batch, batch_idx)


class OwnOptimizer(ExampleRegressor):
    """Defines its own ``configure_optimizers`` (the trial replaces it, with a warning)."""

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=123.0)


class Requires(ExampleRegressor):
    """Needs a ``width`` argument (that it ignores)."""

    def __init__(self, *, width: int) -> None:
        super().__init__()


class NotAModule:
    """A plain class: not a LightningModule."""


class Stackable(ExampleRegressor):
    """Follows the stacked-seeds protocol (docs/seeds.md): ``loss_terms(batch)``, used by its own steps too; with
    ``dropout`` > 0 a dropout layer before the linear map."""

    def __init__(self, *, dropout: float = 0.0, **kwargs: int) -> None:
        super().__init__(**kwargs)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.drop(x))

    def loss_terms(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, y = batch
        return {"loss": nn.functional.mse_loss(self(x), y)}

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self.loss_terms(batch)["loss"]
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=batch[0].shape[0])
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self.log("val_loss", self.loss_terms(batch)["loss"], on_epoch=True, batch_size=batch[0].shape[0])


class WithBatchNorm(Stackable):
    """The protocol, but with batch-norm running statistics (buffers): it cannot train stacked."""

    def __init__(self, **kwargs: int) -> None:
        super().__init__(**kwargs)
        self.norm = nn.BatchNorm1d(self.hparams.in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.norm(x))
