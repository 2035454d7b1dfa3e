"""SeedBatches: every seed's batches of one epoch, drawn exactly as that seed's own DataLoader would draw them.

Alone, a seed's data order comes from the global RNG: each epoch the DataLoader's iterator draws a base seed and
the shuffling sampler draws the seed of its permutation; each validation's iterator draws one more base seed. Here
every seed keeps its own copy of the global RNG state (taken right after its model was built, as in a run of that
seed alone), and each of those draws is made by the same public DataLoader calls with that state swapped in. A
step's batch is then the ``[K, B]`` sample indices of the K seeds, gathered from the one in-memory dataset.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler, TensorDataset, default_collate

from tune_sched.train.rng import rng_state, set_rng_state

__all__ = ["SeedBatches", "stacked_loader"]


@contextmanager
def _global_rng(states: list[dict[str, Any]], k: int) -> Iterator[None]:
    """Run the block with seed ``k``'s RNG state as the global one; keep what the block drew."""
    outer = rng_state()
    set_rng_state(states[k])
    try:
        yield
    finally:
        states[k] = rng_state()
        set_rng_state(outer)


class SeedBatches(Sampler):
    """Yields one ``[K, B]`` tensor of sample indices per step: row k is seed k's batch.

    Args:
        loader: the DataLoader a seed trains with alone (its sampler and batch size are used, never its data).
        states: per seed, the global RNG state (:func:`~tune_sched.train.rng.rng_state`) at the point where a run
            of that seed alone would create its first training iterator.
    """

    def __init__(self, loader: DataLoader, states: Sequence[dict[str, Any]]) -> None:
        self.loader = loader
        self.states = list(states)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[torch.Tensor]:
        per_seed = []
        for k in range(len(self.states)):
            with _global_rng(self.states, k):
                iter(self.loader)  # the iterator's base seed, drawn as alone
                per_seed.append(list(self.loader.batch_sampler))  # the shuffle's seed and permutation
        for rows in zip(*per_seed):
            yield torch.as_tensor(rows)

    def validation_started(self, val_loader: DataLoader) -> None:
        """A validation (not the sanity check) begins: its iterator's draw, made once for every seed."""
        for k in range(len(self.states)):
            with _global_rng(self.states, k):
                iter(val_loader)


class _Gather(Dataset):
    """``dataset[[K, B] indices]`` -> the K seeds' batches stacked, ``[K, B, ...]`` per field."""

    def __init__(self, dataset: Any, collate: Any) -> None:
        self.dataset = dataset
        self.collate = collate

    def __getitem__(self, index: torch.Tensor) -> Any:
        if isinstance(self.dataset, TensorDataset):
            return tuple(t[index] for t in self.dataset.tensors)
        return default_collate([self.collate([self.dataset[i] for i in row]) for row in index.tolist()])

    def __len__(self) -> int:
        return len(self.dataset)


def stacked_loader(loader: DataLoader, batches: SeedBatches) -> DataLoader:
    """A DataLoader of stacked batches (``[K, B, ...]``) over ``loader``'s dataset in ``batches``' order."""
    return DataLoader(_Gather(loader.dataset, loader.collate_fn), sampler=batches, batch_size=None,
                      num_workers=0)
