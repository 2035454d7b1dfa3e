"""MetricsRecorder: the per-step and per-epoch rows of one trial, written to Parquet as training goes.

Per optimizer step: the train loss, the LR of every param group (as used by that step), the gradient norm, and the
module's loss components when it exposes them (``module.tune_sched_components``). Per epoch: every metric Lightning
has (``trainer.callback_metrics``), the LR of every group and the loss weights. A non-finite train loss raises
:class:`TrialDiverged` at once. On a resumed fit the rows of epochs the checkpoint does not cover are dropped, so a
run resumed after a crash has neither duplicated nor missing epochs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

__all__ = ["MetricsRecorder", "TrialDiverged"]


class TrialDiverged(RuntimeError):
    """The training loss became NaN or infinite."""

    def __init__(self, step: int, value: float) -> None:
        self.step = step
        self.value = value
        super().__init__(f"train loss became {value} at step {step}")


class MetricsRecorder(pl.Callback):
    """Collect step and epoch rows; ``flush()`` writes ``steps.parquet`` and ``epochs.parquet`` atomically."""

    def __init__(self, out_dir: str | Path | None, *, keys: dict[str, Any] | None = None,
                 write_every_epoch: bool = True) -> None:
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.keys = dict(keys or {})  # constant columns, e.g. config_id and seed
        self.write_every_epoch = write_every_epoch
        self.steps: list[dict[str, Any]] = []
        self.epochs: list[dict[str, Any]] = []
        self._pending: dict[str, Any] | None = None
        self._loss_sum = 0.0
        self._loss_count = 0
        self._last_lrs: dict[str, float] = {}

    # -- steps ---------------------------------------------------------------------------------------------
    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: Any) -> None:
        row: dict[str, Any] = {f"lr_group_{i}": float(g["lr"]) for i, g in enumerate(optimizer.param_groups)}
        row["lr"] = row["lr_group_0"]
        row["grad_norm"] = _grad_norm(optimizer)
        self._pending = row
        self._last_lrs = {k: v for k, v in row.items() if k.startswith("lr_group_")}

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        loss = _loss_of(outputs)
        if loss is not None:
            self._loss_sum += loss
            self._loss_count += 1
        if self._pending is None:
            return  # gradient accumulation: no optimizer step yet
        step = trainer.global_step - 1
        value = self._loss_sum / self._loss_count if self._loss_count else math.nan
        row = {**self.keys, "step": step, "epoch": trainer.current_epoch, "train_loss": value, **self._pending}
        for name, comp in (getattr(pl_module, "tune_sched_components", None) or {}).items():
            row[f"train_{name}"] = float(comp)
        self.steps.append(row)
        self._pending, self._loss_sum, self._loss_count = None, 0.0, 0
        if loss is not None and not math.isfinite(value):
            self.flush()
            raise TrialDiverged(step, value)

    # -- epochs --------------------------------------------------------------------------------------------
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.ckpt_path and self.out_dir is not None:
            self._reload(trainer.current_epoch)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        row: dict[str, Any] = {**self.keys, "epoch": trainer.current_epoch, "step": trainer.global_step}
        for name, value in trainer.callback_metrics.items():
            if name.endswith("_step"):
                continue
            row[name.removesuffix("_epoch")] = float(value)
        row.update(self._last_lrs)  # the LR this epoch trained with (epoch schedulers have already stepped here)
        for name, weight in (getattr(pl_module, "loss_weights", None) or {}).items():
            row[f"weight_{name}"] = float(weight)
        self.epochs.append(row)
        if self.write_every_epoch:
            self.flush()

    def flush(self) -> None:
        """Write both tables (no-op without an out_dir)."""
        if self.out_dir is None:
            return
        from tune_sched.results.io import write_table
        from tune_sched.results.tables import rows_to_table

        write_table(self.out_dir / "steps.parquet", rows_to_table(self.steps))
        write_table(self.out_dir / "epochs.parquet", rows_to_table(self.epochs))

    def _reload(self, start_epoch: int) -> None:
        import pyarrow.parquet as pq

        for name, rows in (("steps", self.steps), ("epochs", self.epochs)):
            path = self.out_dir / f"{name}.parquet"
            if path.exists():
                rows[:] = [r for r in pq.read_table(path).to_pylist() if r["epoch"] < start_epoch]


def _loss_of(outputs: Any) -> float | None:
    if isinstance(outputs, dict):
        outputs = outputs.get("loss")
    if isinstance(outputs, torch.Tensor) and outputs.numel() == 1:
        return float(outputs.detach())
    return None


def _grad_norm(optimizer: torch.optim.Optimizer) -> float:
    grads = [p.grad.detach() for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
    if not grads:
        return math.nan
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads])))
