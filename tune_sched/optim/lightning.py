"""configure_optimizers: what a LightningModule's ``configure_optimizers`` returns, built from a run config.

Use it from your own module::

    def configure_optimizers(self):
        return tune_sched.configure_optimizers(self, self.hparams.run_config)

Lengths the LR-scheduler config leaves out come from ``module.trainer``: ``max_epochs``,
``estimated_stepping_batches`` (optimizer steps in all) and steps per epoch ``= estimated_stepping_batches //
max_epochs``. ``expected_lr_change`` is re-exported here for the trial's LR-liveness check.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from torch import nn

from tune_sched.optim.liveness import expected_lr_change
from tune_sched.optim.lr_schedulers import build_lr_scheduler
from tune_sched.optim.optimizers import build_optimizer
from tune_sched.core.errors import UsageError

__all__ = ["configure_optimizers", "expected_lr_change", "trainer_lengths"]


def configure_optimizers(module: nn.Module, run_config: Any) -> Any:
    """``{"optimizer": opt, "lr_scheduler": lr_dict}``, or just the optimizer when there is no LR scheduler.

    Args:
        module: the LightningModule (its named parameters feed ``param_groups``; its trainer gives the lengths).
        run_config: a :class:`~tune_sched.config.run_config.RunConfig` (``.optimizer``, ``.lr_scheduler``) or a
            mapping with the keys ``optimizer`` and (optionally) ``lr_scheduler``.

    Raises:
        UsageError: a mapping without ``optimizer``, or an invalid block (see the two builders).
    """
    optimizer_cfg, scheduler_cfg = _blocks(run_config)
    optimizer = build_optimizer(module, optimizer_cfg)
    if scheduler_cfg is None:
        return optimizer
    return {"optimizer": optimizer, "lr_scheduler": build_lr_scheduler(optimizer, scheduler_cfg,
                                                                        **trainer_lengths(module))}


def trainer_lengths(module: nn.Module) -> dict[str, int]:
    """``max_epochs``, ``total_steps`` and ``steps_per_epoch`` from the module's trainer; those not known (no
    trainer attached, ``max_epochs=-1``, an infinite dataloader) are left out."""
    try:
        trainer = module.trainer
    except (AttributeError, RuntimeError):  # Lightning raises RuntimeError when no Trainer is attached
        return {}
    if trainer is None:
        return {}
    out: dict[str, int] = {}
    max_epochs = getattr(trainer, "max_epochs", None)
    if isinstance(max_epochs, int) and max_epochs >= 1:
        out["max_epochs"] = max_epochs
    total = trainer.estimated_stepping_batches
    if isinstance(total, (int, float)) and math.isfinite(total) and total >= 1:
        out["total_steps"] = int(total)
    if "max_epochs" in out and "total_steps" in out:
        out["steps_per_epoch"] = max(1, out["total_steps"] // out["max_epochs"])
    return out


def _blocks(run_config: Any) -> tuple[Mapping[str, Any], Mapping[str, Any] | None]:
    if isinstance(run_config, Mapping):
        if run_config.get("optimizer") is None:
            raise UsageError("the run config has no 'optimizer' block", path="optimizer",
                             fix="add e.g. optimizer: {name: AdamW, lr: 1.0e-3}")
        return run_config["optimizer"], run_config.get("lr_scheduler")
    if hasattr(run_config, "optimizer"):
        return run_config.optimizer, getattr(run_config, "lr_scheduler", None)
    raise UsageError(f"expected a RunConfig or a mapping with 'optimizer', but got {type(run_config).__name__}",
                     path="run_config", fix="pass self.hparams.run_config (a RunConfig or its to_dict())")
