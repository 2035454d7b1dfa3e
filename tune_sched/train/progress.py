"""What `tune-sched run` prints: a header, one plain line per epoch, warnings as one-line notes, and a summary.

Example output::

    training tiny on seed 0: AdamW lr 0.003, CosineAnnealingLR, 8 epochs -> runs/tiny-seed0
    epoch 1/8  train_loss 0.8123  val_loss 0.5012*  val_field 0.5012  val_spectrum 0.0913  (0.4 s)
    epoch 2/8  train_loss 0.4011  val_loss 0.3120*  val_field 0.3120  val_spectrum 0.1022  (0.6 s)
    ...
    completed: 8 epochs (32 steps) in 2.9 s; best val_loss 0.1204 at epoch 8, final 0.1204
    results in runs/tiny-seed0 (epochs.parquet, steps.parquet, result.json)

``*`` marks a new best of the config's ``metric``. Epochs count from 1 here, as everywhere a person reads them;
the stored tables and result.json count from 0 (docs/results.md). The seconds of the epoch lines and of the
summary are the same clock: the trial's own training time (``TrialResult.wall_time_s``).
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from tune_sched.core.words import better

__all__ = ["EpochPrinter", "warnings_as_notes"]


class EpochPrinter:
    """An epoch hook that prints one line per epoch and never stops the run.

    Args:
        config: the RunConfig being trained (its ``metric``, ``mode`` and ``trainer.max_epochs``).
        stream: where to print (default ``sys.stdout``, looked up at every print).
        emit: called with each line instead of printing it (e.g. ``reproduce``'s progress callback).
        indent: put in front of each epoch line.
    """

    def __init__(self, config: Any, *, stream: TextIO | None = None, emit: Callable[[str], Any] | None = None,
                 indent: str = "") -> None:
        self.config = config
        self.stream = stream
        self.emit = emit
        self.indent = indent
        self.start = time.perf_counter()
        self.clock: Any = None  # the trial's clock, once run_trial hands it over (see use_clock)
        self.best = math.nan

    def use_clock(self, clock: Any) -> None:
        """Show ``clock.elapsed`` (the trial's training time, what the summary's seconds are) on epoch lines."""
        self.clock = clock

    def header(self, out: str | Path) -> str:
        """``training <task> on seed <n>: <optimizer> lr <lr>, <schedule>, <n> epochs -> <out>``."""
        config = self.config
        what = config.task or config.module
        schedule = (config.lr_scheduler or {}).get("name", "constant LR")
        return (f"training {what} on seed {config.seed}: {config.optimizer['name']} lr {config.optimizer['lr']:g}, "
                f"{schedule}, {config.trainer.max_epochs} epochs -> {out}")

    def __call__(self, epoch: int, metrics: dict[str, float]) -> bool:
        line = self.line(epoch, metrics)
        if self.emit is not None:
            self.emit(line)
        else:
            print(line, file=self.stream or sys.stdout, flush=True)
        return False

    def line(self, epoch: int, metrics: dict[str, float]) -> str:
        """``epoch 3/8  train_loss ...  (1.2 s)`` for the 0-based ``epoch`` (a new best is starred, and kept)."""
        width = len(str(self.config.trainer.max_epochs))
        parts = [f"epoch {epoch + 1:>{width}}/{self.config.trainer.max_epochs}"]
        for name in _shown(metrics, self.config.metric):
            text = f"{name} {_fmt(metrics[name])}"
            if name == self.config.metric and self._improves(metrics[name]):
                text += "*"
            parts.append(text)
        seconds = self.clock.elapsed if self.clock is not None else time.perf_counter() - self.start
        parts.append(f"({seconds:.1f} s)")
        return self.indent + "  ".join(parts)

    def summary(self, result: Any, out: str | Path | None = None) -> str:
        """The closing lines: outcome, length, time, best and final metric, and where the files are."""
        lines = [f"{_outcome(result)}: {result.epochs_run} epochs ({result.steps_run} steps) in "
                 f"{result.wall_time_s:.1f} s; " + _metric_summary(result)]
        if result.reason and result.status != "pruned":
            lines.append(f"reason: {result.reason}")
        if out is not None:
            lines.append(f"results in {out} (epochs.parquet, steps.parquet, result.json)")
        return "\n".join(lines)

    def _improves(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        improves = math.isnan(self.best) or better(value, self.best, self.config.mode)
        if improves:
            self.best = value
        return improves


@contextmanager
def warnings_as_notes(stream: TextIO | None = None) -> Iterator[list[str]]:
    """Print each warning raised inside as one line ``note: <message>`` as it happens (no file, no line number).

    Yields the list of messages shown, so a caller can leave out notes that were already printed.
    """
    shown: list[str] = []

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: TextIO | None = None, line: str | None = None) -> None:
        text = " ".join(str(message).split())
        shown.append(text)
        print(f"note: {text}", file=stream or sys.stdout, flush=True)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield shown


def _shown(metrics: dict[str, float], metric: str) -> list[str]:
    """train_loss, the objective, then the other validation metrics in name order."""
    rest = sorted(k for k in metrics if k.startswith("val_") and k != metric)
    return [k for k in ("train_loss", metric) if k in metrics] + rest


def _outcome(result: Any) -> str:
    if result.status == "failed" and result.failed_epoch is not None:
        return f"failed in epoch {result.failed_epoch + 1}"
    if result.status == "diverged" and result.diverged_step is not None:
        return f"diverged at step {result.diverged_step}"
    return str(result.status)


def _metric_summary(result: Any) -> str:
    if result.best_epoch < 0:
        return f"no finite {result.metric}"
    return (f"best {result.metric} {_fmt(result.best_metric)} at epoch {result.best_epoch + 1}, "
            f"final {_fmt(result.final_metric)}")


def _fmt(value: float | None) -> str:
    return "nan" if value is None or not math.isfinite(value) else f"{value:.4g}"
