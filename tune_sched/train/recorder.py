"""MetricsRecorder: the per-step and per-epoch rows of one trial, written to Parquet as training goes.

Per optimizer step (``steps.parquet``): ``train_loss`` (the mean over the step's micro-batches when gradients are
accumulated), the LR of every param group as used by that step (``lr_group_<i>``; ``lr`` is group 0), the gradient
norm before clipping (``grad_norm``), the module's loss components when it exposes them
(``module.tune_sched_components`` -> ``train_<name>``) and its loss weights (``module.loss_weights`` ->
``weight_<name>``). Per epoch (``epochs.parquet``): every metric Lightning has (``trainer.callback_metrics``), the
LR of every group and the loss weights the epoch trained with. A non-finite train loss raises
:class:`TrialDiverged` at once (after writing the tables).

The recorder's checkpoint state is how many rows of each table the checkpoint covers; on resume the tables are
read back and cut to those counts, so a run resumed after a crash has neither duplicated nor missing rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from tune_sched.results.io import write_table
from tune_sched.results.tables import rows_to_table
from tune_sched.train.callbacks import SaveSchedule

__all__ = ["MetricsRecorder", "TrialDiverged"]


class TrialDiverged(RuntimeError):
    """The run diverged: its training loss became NaN or infinite at ``step``, or ``reason`` (the divergence rule,
    :func:`tune_sched.config.divergence.judge_divergence`, at the end of ``epoch``)."""

    def __init__(self, step: int, value: float = math.nan, *, epoch: int | None = None, reason: str = "") -> None:
        self.step = step
        self.value = value
        self.epoch = epoch
        super().__init__(reason or f"train loss became {value} at step {step}")


class MetricsRecorder(pl.Callback):
    """Collect step and epoch rows; ``flush()`` writes ``steps.parquet`` and ``epochs.parquet`` atomically, at the
    epoch ends ``saves`` picks (default: every one) and whenever called."""

    def __init__(self, out_dir: str | Path | None, *, keys: dict[str, Any] | None = None,
                 saves: SaveSchedule | None = None) -> None:
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.keys = dict(keys or {})  # constant columns, e.g. config_id and seed
        self.saves = saves or SaveSchedule()
        self.steps: list[dict[str, Any]] = []
        self.epochs: list[dict[str, Any]] = []
        self._pending: dict[str, Any] | None = None
        self._sums: dict[str, float] = {}  # train_loss and components summed over the step's micro-batches
        self._count = 0
        self._last_lrs: dict[str, float] = {}

    # -- steps ---------------------------------------------------------------------------------------------
    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: Any) -> None:
        self.record_optimizer([float(g["lr"]) for g in optimizer.param_groups], _grad_norm(optimizer))

    def record_optimizer(self, lrs: list[float], grad_norm: float) -> None:
        """The LR of every param group and the gradient norm before clipping, for the coming optimizer step."""
        row: dict[str, Any] = {f"lr_group_{i}": lr for i, lr in enumerate(lrs)}
        row["lr"] = row["lr_group_0"]
        row["grad_norm"] = grad_norm
        self._pending = row
        self._last_lrs = {k: v for k, v in row.items() if k.startswith("lr_group_")}

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        components = {k: float(v) for k, v in (getattr(pl_module, "tune_sched_components", None) or {}).items()}
        loss = _loss_of(outputs)
        if loss is not None:
            # Lightning hands callbacks the loss divided by accumulate_grad_batches (automatic optimization only)
            loss *= trainer.accumulate_grad_batches if pl_module.automatic_optimization else 1
        self.record_batch(step=trainer.global_step - 1, epoch=trainer.current_epoch, loss=loss,
                          components=components, weights=_weights(pl_module))

    def record_batch(self, *, step: int, epoch: int, loss: float | None, components: Mapping[str, float],
                     weights: Mapping[str, float]) -> None:
        """One micro-batch's loss (None: not returned) and components; after the step's last micro-batch (an
        optimizer step was recorded), its row. Raises :class:`TrialDiverged` for a non-finite loss."""
        values = {f"train_{k}": v for k, v in components.items()}
        if loss is not None:
            values["train_loss"] = loss
        for name, value in values.items():
            self._sums[name] = self._sums.get(name, 0.0) + value
        self._count += 1
        if self._pending is None:
            return  # gradient accumulation: no optimizer step yet
        means = {name: total / self._count for name, total in self._sums.items()}
        mean_loss = means.pop("train_loss", None)  # None: training_step returned no loss (manual optimization)
        row = {**self.keys, "step": step, "epoch": epoch, "train_loss": math.nan if mean_loss is None else mean_loss,
               **self._pending, **means, **weights}
        self.steps.append(row)
        self._pending, self._sums, self._count = None, {}, 0
        if mean_loss is not None and not math.isfinite(mean_loss):
            self.flush()
            raise TrialDiverged(step, mean_loss, epoch=epoch)

    # -- epochs --------------------------------------------------------------------------------------------
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.record_epoch(epoch=trainer.current_epoch, step=trainer.global_step, metrics=trainer.callback_metrics,
                          weights=_weights(pl_module), save=self.saves.due(trainer))

    def record_epoch(self, *, epoch: int, step: int, metrics: Mapping[str, Any], weights: Mapping[str, float],
                     save: bool) -> None:
        """The epoch's row from the metrics logged so far; with ``save``, write both tables."""
        row: dict[str, Any] = {**self.keys, "epoch": epoch, "step": step}
        for name, value in metrics.items():
            if name.endswith("_step"):
                continue
            row[name.removesuffix("_epoch")] = float(value)
        row.update(self._last_lrs)  # the LR this epoch trained with (epoch schedulers have not stepped yet)
        row.update(weights)
        self.epochs.append(row)
        if save:
            self.flush()

    def flush(self) -> None:
        """Write both tables (no-op without an out_dir)."""
        if self.out_dir is None:
            return

        write_table(self.out_dir / "steps.parquet", rows_to_table(self.steps))
        write_table(self.out_dir / "epochs.parquet", rows_to_table(self.epochs))

    # -- checkpoint state ----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"steps": len(self.steps), "epochs": len(self.epochs)}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Read the tables back, keeping the rows the checkpoint covers (later rows are re-recorded)."""
        if self.out_dir is None:
            return
        # lazy: heavy
        import pyarrow.parquet as pq

        for name, rows in (("steps", self.steps), ("epochs", self.epochs)):
            path = self.out_dir / f"{name}.parquet"
            rows[:] = pq.read_table(path).to_pylist()[: int(state_dict[name])] if path.exists() else []


def _weights(pl_module: pl.LightningModule) -> dict[str, float]:
    return {f"weight_{k}": float(v) for k, v in (getattr(pl_module, "loss_weights", None) or {}).items()}


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
