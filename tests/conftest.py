"""Shared fixtures: one local Ray cluster per test session (dashboard off, loopback only), torch on one thread."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Test-only user modules (tests/...) are importable by Ray workers and subprocesses through PYTHONPATH.
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def ray_cluster():
    """Start Ray once for the whole session; `run_search` reuses an initialised Ray instead of starting one."""
    from tune_sched.search.ray_session import quiet_ray_environment

    quiet_ray_environment()
    import ray

    if not ray.is_initialized():
        import logging

        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.ERROR)
    yield ray
    ray.shutdown()
