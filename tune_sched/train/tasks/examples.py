"""ExampleRegressor: a plain LightningModule that knows nothing of tune-sched, for docs and tests of user modules.

It is what a user's own module looks like to tune-sched: its own data (``train_dataloader``/``val_dataloader``),
a logged ``val_loss``, and no ``configure_optimizers`` (tune-sched supplies one from the run config's optimizer
and LR scheduler). Use it in a run config as::

    module: "tune_sched.train.tasks.examples:ExampleRegressor"
    module_kwargs: {in_features: 4}

The data are a noisy linear map ``y = x @ w + 0.1 * noise``, drawn from a local generator seeded with
``data_seed`` (the global RNG is untouched).
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

__all__ = ["ExampleRegressor"]


class ExampleRegressor(pl.LightningModule):
    """Linear regression on random data; logs ``train_loss`` and ``val_loss`` (mean squared error) per epoch.

    Args:
        in_features: Inputs per sample.
        n_train: Training samples.
        n_val: Validation samples.
        batch_size: Samples per batch.
        data_seed: Seed of the generated data.
    """

    def __init__(self, in_features: int = 4, n_train: int = 64, n_val: int = 32, batch_size: int = 16,
                 data_seed: int = 0) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.linear = nn.Linear(in_features, 1)
        generator = torch.Generator().manual_seed(data_seed)
        weight = torch.randn(in_features, 1, generator=generator)
        x = torch.randn(n_train + n_val, in_features, generator=generator)
        y = x @ weight + 0.1 * torch.randn(n_train + n_val, 1, generator=generator)
        self.train_set = TensorDataset(x[:n_train], y[:n_train])
        self.val_set = TensorDataset(x[n_train:], y[n_train:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = nn.functional.mse_loss(self(x), y)
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=x.shape[0])
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        self.log("val_loss", nn.functional.mse_loss(self(x), y), on_epoch=True, batch_size=x.shape[0])

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.hparams.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=self.hparams.batch_size)
