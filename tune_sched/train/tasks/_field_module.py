"""FieldRegressionModule: the loss protocol every built-in task follows (the trial runner relies on it).

The protocol:

- ``self.loss_weights: dict[str, float]`` is set in ``__init__`` from the ``loss`` kwarg (default ``"field"``, i.e.
  ``{"field": 1.0}``). The trial replaces it before fit and after each validation when a loss scheduler is
  configured (e.g. ``{"field": 0.7, "spectrum": 0.3}``); it is read afresh at every step, never cached.
- ``training_step`` computes every loss named in ``loss_weights`` plus always ``field`` and ``spectrum``, returns
  ``loss = combine(components, loss_weights)``, logs ``train_loss`` and ``train_<name>`` per epoch
  (``on_step=False, on_epoch=True``) and stores the detached components in ``self.tune_sched_components``
  (name -> 0-d tensor) for the trial's per-step records.
- ``validation_step`` logs ``val_loss`` (the weighted sum with the current weights) and ``val_<name>`` for the same
  components, per epoch.
- There is no ``configure_optimizers``: the trial supplies it from the run config.
- ``loss_terms(batch)`` returns ``loss`` and the components without logging anything, which is what lets a
  config's seeds train stacked as one vectorised model (docs/seeds.md).

A subclass builds ``self.net`` (a module mapping ``[B, 1, H, W]`` to ``[B, 1, H, W]``) and calls
``save_hyperparameters()`` itself (so its own kwargs are recorded).
"""

from __future__ import annotations

from collections.abc import Mapping

import pytorch_lightning as pl
import torch

from tune_sched.losses import combine
from tune_sched.losses.registry import get_loss
from tune_sched.train.tasks.registry import parse_loss_weights

__all__ = ["ALWAYS_COMPUTED", "FieldRegressionModule"]

ALWAYS_COMPUTED: tuple[str, ...] = ("field", "spectrum")
"""Loss components computed and logged at every step whatever their weight."""


class FieldRegressionModule(pl.LightningModule):
    """A LightningModule regressing target fields from input fields with weighted loss components."""

    net: torch.nn.Module

    def __init__(self, *, loss: str | Mapping[str, float] = "field") -> None:
        super().__init__()
        self.loss_weights: dict[str, float] = parse_loss_weights(loss, path="loss")
        self.tune_sched_components: dict[str, torch.Tensor] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def loss_components(self, pred: torch.Tensor, true: torch.Tensor) -> dict[str, torch.Tensor]:
        """``field``, ``spectrum`` and every loss named in the current ``loss_weights``, as 0-d tensors."""
        names = dict.fromkeys((*ALWAYS_COMPUTED, *self.loss_weights))
        return {name: get_loss(name, path="loss_weights")(pred, true) for name in names}

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, components = self._step(batch, "train")
        self.tune_sched_components = {name: value.detach() for name, value in components.items()}
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def loss_terms(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The stacked-seeds protocol (docs/seeds.md): ``loss`` (what is minimised) and every component, 0-d."""
        x, y = batch
        components = self.loss_components(self(x), y)
        return {"loss": combine(components, self.loss_weights), **components}

    def _step(
        self, batch: tuple[torch.Tensor, torch.Tensor], stage: str
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x, _ = batch
        components = self.loss_terms(batch)
        loss = components.pop("loss")
        size = x.shape[0]
        self.log(f"{stage}_loss", loss, on_step=False, on_epoch=True, prog_bar=False, batch_size=size)
        for name, value in components.items():
            self.log(f"{stage}_{name}", value, on_step=False, on_epoch=True, prog_bar=False, batch_size=size)
        return loss, components
