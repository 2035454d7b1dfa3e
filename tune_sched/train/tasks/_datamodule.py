"""FieldPairDataModule: train/val (input field, target field) pairs generated on the fly, for the built-in tasks.

A subclass sets ``pairs``, a function ``(resolution, count, seed) -> (inputs, targets)`` that draws its randomness
only from ``seed`` (a local ``torch.Generator``) and is cached per process (``functools.lru_cache``), so several
training seeds of one config build the data once. Train and validation sets use different seeds derived
from ``data_seed`` (``2 * data_seed`` and ``2 * data_seed + 1``): the validation set does not change with
``n_train``, and no data depends on the training seed or consumes the global RNG.

The data are generated in ``setup`` (not in ``__init__``), so a DataModule shipped to a Ray worker is small and
builds its data there. Loaders: ``num_workers=0``, plain ``TensorDataset``, the training set shuffled by the default
sampler (so ``seed_everything`` makes the batch order deterministic). The cached tensors are shared between
DataModules of one process and must not be modified in place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

__all__ = ["FieldPairDataModule", "split_seed"]


def split_seed(data_seed: int, split: str) -> int:
    """The generator seed of one split: ``2 * data_seed`` for ``"train"``, ``2 * data_seed + 1`` for ``"val"``."""
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', but got {split!r}")
    return 2 * data_seed + (split == "val")


class FieldPairDataModule(pl.LightningDataModule):
    """Generated (input, target) field pairs shaped ``[N, 1, resolution, resolution]``; subclasses set ``pairs``.

    Args:
        resolution: Grid points per side.
        n_train: Training samples.
        n_val: Validation samples.
        data_seed: Seed of the data (see the module docstring for the per-split seeds).
        batch_size: Samples per batch, for both loaders.
    """

    pairs: ClassVar[Callable[[int, int, int], tuple[torch.Tensor, torch.Tensor]]]

    def __init__(self, *, resolution: int, n_train: int, n_val: int, data_seed: int, batch_size: int) -> None:
        super().__init__()
        self.resolution = resolution
        self.n_train = n_train
        self.n_val = n_val
        self.data_seed = data_seed
        self.batch_size = batch_size
        self.train_set: TensorDataset | None = None
        self.val_set: TensorDataset | None = None

    def setup(self, stage: str | None = None) -> None:
        """Build both splits once (a no-op when they exist)."""
        if self.train_set is None:
            seed = self.data_seed
            self.train_set = TensorDataset(*self.pairs(self.resolution, self.n_train, split_seed(seed, "train")))
            self.val_set = TensorDataset(*self.pairs(self.resolution, self.n_val, split_seed(seed, "val")))

    def train_dataloader(self) -> DataLoader:
        self.setup()
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True, num_workers=0)

    def val_dataloader(self) -> DataLoader:
        self.setup()
        return DataLoader(self.val_set, batch_size=self.batch_size, shuffle=False, num_workers=0)
