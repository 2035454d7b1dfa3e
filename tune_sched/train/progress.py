"""One plain line per epoch while `tune-sched run` trains, and the closing summary."""

from __future__ import annotations

import math
import time
from typing import Any

__all__ = ["EpochPrinter"]


class EpochPrinter:
    """An epoch hook that prints ``epoch 3/20  train_loss ...  val_loss ...`` and never stops the run."""

    def __init__(self, config: Any, *, stream: Any = None) -> None:
        self.config = config
        self.stream = stream
        self.start = time.perf_counter()

    def __call__(self, epoch: int, metrics: dict[str, float]) -> bool:
        shown = [f"{k} {_fmt(v)}" for k, v in sorted(metrics.items()) if k.startswith(("train_loss", "val_"))]
        elapsed = time.perf_counter() - self.start
        print(f"epoch {epoch + 1}/{self.config.trainer.max_epochs}  " + "  ".join(shown) + f"  ({elapsed:.1f} s)",
              file=self.stream, flush=True)
        return False

    def summary(self, result: Any) -> str:
        text = (f"{result.status}: {result.epochs_run} epochs, best {result.metric} {_fmt(result.best_metric)} "
                f"at epoch {result.best_epoch + 1}, final {_fmt(result.final_metric)}, {result.wall_time_s:.1f} s")
        if result.reason:
            text += f" ({result.reason})"
        return text


def _fmt(value: float) -> str:
    return "nan" if value is None or not math.isfinite(value) else f"{value:.4g}"
