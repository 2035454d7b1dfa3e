"""Trial tests: one CPU thread, and the repository root on sys.path (for ``tests.train.*`` module paths)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # so "tests.train.user_modules:Name" and tests.train.trial_configs import
    sys.path.insert(0, str(ROOT))


@pytest.fixture(autouse=True, scope="session")
def _one_thread() -> None:
    torch.set_num_threads(1)
