"""StackedModule: K seeds of one LightningModule as one, with stacked parameters and one step for all.

Each parameter holds every seed's copy along a leading dimension of size K (``torch.func.stack_module_state``).
A step calls the module's ``loss_terms(batch)`` through ``torch.func.functional_call``, seed k's parameters on
seed k's batch (training) or on the shared batch (validation): vectorised, once under ``torch.vmap`` (dropout
draws differ per seed: ``randomness="different"``), which is what makes a GPU fast; or seed after seed within
the one step, which on a CPU runs the very kernels a seed alone runs (vectorised CPU kernels, grouped
convolutions above all, are slower) while the step's Lightning overhead and the optimizer step are still shared. The loss that is back-propagated is the sum of the live seeds' losses, so each
seed's parameters get exactly their own gradient. Gradient clipping is per seed (each seed's own norm, as
``torch.nn.utils.clip_grad_norm_`` computes it), and a seed marked dead (diverged) keeps being computed but its
loss and gradients are zeroed, so its NaNs never reach the others (nor a mixed-precision loss scale).

Per-seed metrics are kept here, not logged to Lightning: ``seed_metrics[k]`` holds seed k's epoch means
(``train_loss``, ``train_<term>``, ``val_loss``, ``val_<term>``; batch-size weighted, as Lightning's
``self.log(on_epoch=True)`` means), and ``last_terms`` the last training step's terms of every seed.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from tune_sched.optim.lightning import trainer_lengths
from tune_sched.optim.lr_schedulers import build_lr_scheduler
from tune_sched.optim.optimizers import build_optimizer
from tune_sched.train.seed_batches import SeedBatches

__all__ = ["StackedModule"]


class _Terms(nn.Module):
    """``forward(batch)`` is the wrapped module's ``loss_terms(batch)`` (what ``functional_call`` calls)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.m = module

    def forward(self, batch: Any) -> dict[str, torch.Tensor]:
        return self.m.loss_terms(batch)


class StackedModule(pl.LightningModule):
    """The K seeds' modules as one LightningModule.

    Args:
        modules: the K freshly built modules (seed k's initial weights), all of one class, with ``loss_terms``.
        run_config: the RunConfig (its ``optimizer`` and ``lr_scheduler`` build the optimizer).
        train_loader: the stacked training DataLoader (:func:`~tune_sched.train.seed_batches.stacked_loader`).
        val_loader: the validation DataLoader every seed is validated on, or None.
        batches: the sampler behind ``train_loader`` (it makes each validation's per-seed RNG draw).
        vectorise: one ``vmap`` call per step (True), or the seeds one after another within the step (False).
    """

    def __init__(self, modules: Sequence[pl.LightningModule], run_config: Any, train_loader: Any,
                 val_loader: Any, batches: SeedBatches, *, vectorise: bool = True) -> None:
        super().__init__()
        self.vectorise = vectorise
        base = modules[0]
        self.seeds_count = len(modules)
        self._config = run_config
        self._train_loader, self._val_loader, self._batches = train_loader, val_loader, batches
        params, _ = stack_module_state(list(modules))
        self._names = list(params)  # the module's own parameter names, in its order
        self.seed_params = nn.ParameterList(nn.Parameter(params[name].detach().clone()) for name in self._names)
        object.__setattr__(self, "_template", _Terms(copy.deepcopy(base)))  # not a child: only its code is used
        object.__setattr__(self, "_base", base)  # for the optimizer's param groups (by name)
        self.register_buffer("alive", torch.ones(self.seeds_count, dtype=torch.bool))
        self.seed_metrics: list[dict[str, float]] = [{} for _ in modules]
        self.last_terms: dict[str, torch.Tensor] = {}
        self._sums: dict[str, dict[str, torch.Tensor]] = {}
        self._sizes: dict[str, int] = {}
        self._norms: torch.Tensor | None = None

    # -- the module protocol -----------------------------------------------------------------------------------
    @property
    def loss_weights(self) -> Any:
        return getattr(self._template.m, "loss_weights", None)

    @loss_weights.setter
    def loss_weights(self, value: Any) -> None:
        self._template.m.loss_weights = value

    def _terms(self, batch: Any, *, shared: bool) -> dict[str, torch.Tensor]:
        """Every seed's ``loss_terms``: name -> ``[K]``."""
        if self._template.training != self.training:
            self._template.train(self.training)
        params = {f"m.{name}": p for name, p in zip(self._names, self.seed_params)}
        if self.vectorise:
            call = vmap(lambda p, b: functional_call(self._template, p, (b,)), in_dims=(0, None if shared else 0),
                        randomness="different")
            return call(params, batch)
        each = [functional_call(self._template, {n: p[k] for n, p in params.items()},
                                (batch if shared else _seed_part(batch, k),)) for k in range(self.seeds_count)]
        return {name: torch.stack([terms[name] for terms in each]) for name in each[0]}

    def training_step(self, batch: Any, batch_idx: int) -> dict[str, torch.Tensor]:
        terms = self._terms(batch, shared=False)
        self.last_terms = {name: value.detach() for name, value in terms.items()}
        self._accumulate("train", self.last_terms, _batch_size(batch, stacked=True))
        loss = torch.where(self.alive, terms["loss"], torch.zeros_like(terms["loss"]))
        return {"loss": loss.sum()}

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        terms = self._terms(batch, shared=True)
        self._accumulate("val", {n: v.detach() for n, v in terms.items()}, _batch_size(batch, stacked=False))

    def on_validation_epoch_start(self) -> None:
        if not self.trainer.sanity_checking:
            self._batches.validation_started(self._val_loader)

    def on_validation_epoch_end(self) -> None:
        self._finish("val")

    def finish_train_epoch(self) -> None:
        """Fold the epoch's training terms into ``seed_metrics`` (the fan-out callback calls it at epoch end)."""
        self._finish("train")

    def clear_metrics(self) -> None:
        """Forget every seed's metrics (after the sanity check, as Lightning resets its logged metrics)."""
        for metrics in self.seed_metrics:
            metrics.clear()

    def _accumulate(self, stage: str, terms: Mapping[str, torch.Tensor], size: int) -> None:
        sums = self._sums.setdefault(stage, {})
        for name, value in terms.items():
            weighted = value * size
            sums[name] = weighted if name not in sums else sums[name] + weighted
        self._sizes[stage] = self._sizes.get(stage, 0) + size

    def _finish(self, stage: str) -> None:
        sums, size = self._sums.pop(stage, {}), self._sizes.pop(stage, 0)
        if not sums:
            return
        names = list(sums)
        table = (torch.stack([sums[n] for n in names]) / size).tolist()  # [terms][K], one device sync
        for k, metrics in enumerate(self.seed_metrics):
            for name, row in zip(names, table):
                metrics[f"{stage}_{name}"] = float(row[k])

    # -- optimizer, gradients ----------------------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        """The run config's optimizer and LR scheduler, their param groups named as the module's own."""
        optimizer = build_optimizer(self._base, self._config.optimizer)  # groups by the module's own names
        stacked_of = {id(p): q for (_, p), q in zip(self._base.named_parameters(), self.seed_params)}
        for group in optimizer.param_groups:  # no step taken yet: no state refers to the single parameters
            group["params"] = [stacked_of[id(p)] for p in group["params"]]
        if self._config.lr_scheduler is None:
            return optimizer
        scheduler = build_lr_scheduler(optimizer, self._config.lr_scheduler, **trainer_lengths(self))
        return {"optimizer": optimizer, "lr_scheduler": scheduler}

    def seed_grad_norms(self) -> torch.Tensor:
        """Every seed's gradient norm (2-norm over all its parameters) before clipping, ``[K]``."""
        if self._norms is None:
            grads = [p.grad for p in self.seed_params if p.grad is not None]
            if not grads:
                return torch.full((self.seeds_count,), math.nan)
            per_param = [torch.linalg.vector_norm(g.float().flatten(1), dim=1) for g in grads]
            self._norms = torch.linalg.vector_norm(torch.stack(per_param), dim=0)
        return self._norms

    def on_after_backward(self) -> None:
        self._norms = None
        if not bool(self.alive.all()):
            for p in self.seed_params:
                if p.grad is not None:  # where, not a product: a dead seed's NaN gradients times 0 stay NaN
                    alive = self.alive.view(-1, *([1] * (p.grad.ndim - 1)))
                    p.grad = torch.where(alive, p.grad, torch.zeros_like(p.grad))

    def configure_gradient_clipping(self, optimizer: Any, gradient_clip_val: float | None = None,
                                    gradient_clip_algorithm: str | None = None) -> None:
        """Clip each seed's gradients by its own norm (``clip_grad_norm_``'s rule: ``max / (norm + 1e-6)``)."""
        if gradient_clip_val is None:
            return
        if gradient_clip_algorithm not in (None, "norm"):
            raise ValueError(f"stacked seeds clip by norm only, not by {gradient_clip_algorithm!r}")
        grads = [p.grad for p in self.seed_params if p.grad is not None]
        norms = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.flatten(1), dim=1)
                                                      for g in grads]), dim=0)
        factor = torch.clamp(gradient_clip_val / (norms + 1e-6), max=1.0)
        for g in grads:
            g.mul_(factor.to(g.dtype).view(-1, *([1] * (g.ndim - 1))))

    def on_before_zero_grad(self, optimizer: Any) -> None:
        self._norms = None

    # -- data, checkpoints -------------------------------------------------------------------------------------
    def train_dataloader(self) -> Any:
        return self._train_loader

    def val_dataloader(self) -> Any:
        return self._val_loader if self._val_loader is not None else []

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["tune_sched_stacked"] = {"data_rng": self._batches.states, "metrics": self.seed_metrics}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint["tune_sched_stacked"]
        self._batches.states[:] = state["data_rng"]
        self.seed_metrics = [dict(m) for m in state["metrics"]]

    def seed_state_dict(self, k: int) -> dict[str, torch.Tensor]:
        """Seed k's parameters under the module's own names (a state dict its class loads)."""
        return {name: p[k].detach().clone() for name, p in zip(self._names, self.seed_params)}


def _seed_part(batch: Any, k: int) -> Any:
    """Seed k's batch out of a stacked one (tensors indexed along their first dimension, containers kept)."""
    if isinstance(batch, torch.Tensor):
        return batch[k]
    if isinstance(batch, Mapping):
        return {key: _seed_part(value, k) for key, value in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(_seed_part(value, k) for value in batch)
    return batch


def _batch_size(batch: Any, *, stacked: bool) -> int:
    first = batch[0] if isinstance(batch, (tuple, list)) else next(iter(batch.values()))
    return int(first.shape[1] if stacked else first.shape[0])
