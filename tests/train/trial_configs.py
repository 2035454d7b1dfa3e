"""Run configs shared by the trial tests: the tiny task at test size, and the modules of user_modules.py.

Import as ``from tests.train.trial_configs import ...`` (conftest.py puts the repository root on sys.path).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
USER_MODULES = "tests.train.user_modules"
TINY: dict[str, Any] = {
    "task": "tiny",
    "task_kwargs": {"resolution": 8, "n_train": 16, "n_val": 8},
    "optimizer": {"name": "Adam", "lr": 0.01},
    "trainer": {"max_epochs": 3, "batch_size": 4},
}
"""A tiny-task run config: 4 optimizer steps per epoch, a fraction of a second per run."""


def tiny(**blocks: Any) -> dict[str, Any]:
    """The TINY run config with top-level blocks replaced and ``trainer`` keys merged in."""
    config = copy.deepcopy(TINY)
    trainer = blocks.pop("trainer", {})
    config.update(copy.deepcopy(blocks))
    config["trainer"] = {**config["trainer"], **trainer}
    return config


def user_module(name: str, *, max_epochs: int = 2, **blocks: Any) -> dict[str, Any]:
    """A run config for a class of :mod:`tests.train.user_modules` (16 train samples, batch 4)."""
    kwargs = {"n_train": 16, "n_val": 8, "batch_size": 4, **blocks.pop("module_kwargs", {})}
    return {"module": f"{USER_MODULES}:{name}", "module_kwargs": kwargs,
            "optimizer": {"name": "Adam", "lr": 0.01}, "trainer": {"max_epochs": max_epochs}, **blocks}
