"""FieldPairDataModule: train/val (input field, target field) pairs generated on the fly, for the built-in tasks.

A subclass supplies ``make_pairs(count, seed) -> (inputs, targets)``, a function of its kwargs that draws its
randomness only from ``seed`` (a local ``torch.Generator``) and is cached per process (``functools.lru_cache``), so
several training seeds of one config build the data once. Train and validation sets use different seeds derived
from ``data_seed`` (``2 * data_seed`` and ``2 * data_seed + 1``): the validation set does not change with
``n_train``, and no data depends on the training seed or consumes the global RNG.

The data are generated in ``setup`` (not in ``__init__``), so a DataModule shipped to a Ray worker is small and
builds its data there. Loaders: ``num_workers=0``, plain ``TensorDataset``, the training set shuffled by the default
sampler (so ``seed_everything`` makes the batch order deterministic). The cached tensors are shared between
DataModules of one process and must not be modified in place.
"""

from __future__ import annotations

from typing import Any

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
    """Generated (input, target) field pairs shaped ``[N, 1, H, W]``; subclasses define ``make_pairs``."""

    def __init__(self, *, n_train: int, n_val: int, data_seed: int, batch_size: int) -> None:
        super().__init__()
        self.n_train = n_train
        self.n_val = n_val
        self.data_seed = data_seed
        self.batch_size = batch_size
        self.train_set: TensorDataset | None = None
        self.val_set: TensorDataset | None = None

    def make_pairs(self, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``count`` (input, target) pairs drawn from a generator seeded with ``seed``."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        """Build both splits once (a no-op when they exist)."""
        if self.train_set is None:
            self.train_set = TensorDataset(*self.make_pairs(self.n_train, split_seed(self.data_seed, "train")))
            self.val_set = TensorDataset(*self.make_pairs(self.n_val, split_seed(self.data_seed, "val")))

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def _loader(self, dataset: Any, *, shuffle: bool) -> DataLoader:
        if dataset is None:
            self.setup()
            dataset = self.train_set if shuffle else self.val_set
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=shuffle, num_workers=0)
