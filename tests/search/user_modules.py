"""A LightningModule with one injected fault, for the search and reliability tests.

Importable by Ray workers as ``tests.search.user_modules:Faulty`` (the repository root is on ``PYTHONPATH``). One
module with a ``fault`` argument, so a ``grid`` space over ``module_kwargs.fault`` runs every fault in one search.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import torch
from torch import nn

from tune_sched.train.tasks.examples import ExampleRegressor

__all__ = ["FAULTS", "Faulty", "Probe"]

FAULTS = ("none", "worse", "crash", "nan", "oom", "kill", "die")
"""What :class:`Faulty` does:

- ``none``: trains normally.
- ``worse``: trains normally but reports ``val_loss`` 100 higher (a config the pruner must stop).
- ``crash``: raises ``RuntimeError('injected crash')`` in the first training step of epoch ``at_epoch``.
- ``nan``: returns a NaN loss from the first step of epoch ``at_epoch`` on (the trial diverges).
- ``oom``: raises ``torch.OutOfMemoryError`` in the first training step of epoch ``at_epoch``.
- ``kill``: in the first step of epoch ``at_epoch`` of the first seed to get there, writes
  ``<marker_dir>/kill.pid`` with the worker's pid and waits up to ``wait_s`` seconds to be killed (the test
  SIGKILLs that pid), then kills its own process; the file existing already (the retried trial) means: train
  normally.
- ``die``: SIGKILLs its own process in the first step of epoch ``at_epoch``, on every attempt (a config whose worker
  always dies: once ``search.max_failures`` retries are spent, Tune gives up on it).
"""


class Faulty(ExampleRegressor):
    """ExampleRegressor (16 train samples, batch 4: 4 steps per epoch) with the fault ``fault``."""

    def __init__(self, *, fault: str = "none", at_epoch: int = 1, marker_dir: str = "", wait_s: float = 30.0,
                 **kwargs: int) -> None:
        kwargs = {"n_train": 16, "n_val": 8, "batch_size": 4, **kwargs}
        super().__init__(**kwargs)
        if fault not in FAULTS:
            raise ValueError(f"fault must be one of {FAULTS}, but got {fault!r}")
        self.fault = fault
        self.at_epoch = at_epoch
        self.marker_dir = marker_dir
        self.wait_s = wait_s

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        if self.current_epoch == self.at_epoch and batch_idx == 0:
            self._inject()
        loss = super().training_step(batch, batch_idx)
        if self.fault == "nan" and self.current_epoch >= self.at_epoch:
            return loss * torch.nan
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        offset = 100.0 if self.fault == "worse" else 0.0
        self.log("val_loss", nn.functional.mse_loss(self(x), y) + offset, on_epoch=True, batch_size=x.shape[0])

    def _inject(self) -> None:
        if self.fault == "crash":
            raise RuntimeError("injected crash")
        if self.fault == "oom":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected)")
        if self.fault == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        if self.fault == "kill":
            marker = Path(self.marker_dir) / "kill.pid"
            if marker.exists():
                return  # the retried trial: train normally
            tmp = marker.with_suffix(".tmp")
            tmp.write_text(str(os.getpid()))
            tmp.replace(marker)
            deadline = time.monotonic() + self.wait_s
            while time.monotonic() < deadline:
                time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGKILL)


class Probe(ExampleRegressor):
    """ExampleRegressor that writes where it was built (cwd, ``TUNE_SCHED_PROBE`` and ``sys.path``) to ``out``."""

    def __init__(self, *, out: str, **kwargs: int) -> None:
        import json
        import sys

        super().__init__(**{"n_train": 16, "n_val": 8, "batch_size": 4, **kwargs})
        Path(out).write_text(json.dumps({"cwd": os.getcwd(), "env": os.environ.get("TUNE_SCHED_PROBE"),
                                         "sys_path": sys.path, "pid": os.getpid()}))
