"""Starting Ray for a search: a private local cluster (dashboard off, loopback only), or an existing one."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections.abc import Iterator
from typing import Any

from tune_sched.core.errors import UsageError

__all__ = ["object_store_bytes", "quiet_ray_environment", "ray_session"]

# Read by Ray and Tune at import time: no usage reporting, Tune's old quiet output path, no auto loggers.
_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AIR_NEW_OUTPUT": "0",
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
    "RAY_TRAIN_V2_ENABLED": "0",
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # with this, a local cluster binds to 127.0.0.1 only
    "TUNE_GLOBAL_CHECKPOINT_S": "5",  # Tune saves its experiment state at least this often (resume loses less)
    "TUNE_FUNCTION_THREAD_TIMEOUT_S": "30",
    # Ctrl-C raises KeyboardInterrupt in the driver instead of Tune's graceful stop, which stops the running
    # trials as if the pruner had (their seeds would be recorded as pruned and never resumed). The workers are
    # killed with the driver's Ray session; their seeds continue from their last checkpoints on --resume.
    "TUNE_DISABLE_SIGINT_HANDLER": "1",
    # No idle workers started with the cluster: Tune's trials are actors, which always get processes of their own,
    # so prestarted workers only compete for the CPUs while Ray starts (docs/BENCHMARKS.md, start-up).
    "RAY_enable_worker_prestart": "0",
    "RAY_prestart_worker_first_driver": "0",
}


def quiet_ray_environment() -> None:
    """Set Ray's environment defaults (the user's own settings win); call before ``import ray``."""
    for key, value in _ENV.items():
        os.environ.setdefault(key, value)


@contextlib.contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = None,
                num_gpus: int | None = None) -> Iterator[None]:
    """Use the Ray already initialised in this process, attach to ``address``, or start a private local one.

    A private cluster listens on 127.0.0.1 only, has no dashboard, and is shut down on exit. Workers get the
    current directory on their ``PYTHONPATH`` so ``module: pkg.mod:Class`` paths resolve as they do here.
    """
    with _environment_for_ray(address):
        # lazy: heavy
        import ray

        if ray.is_initialized():
            yield
            return
        with _own_sigterm():
            _init(ray, address, num_cpus=num_cpus, num_gpus=num_gpus)
        try:
            yield
        finally:
            ray.shutdown()


@contextlib.contextmanager
def _environment_for_ray(address: str | None) -> Iterator[None]:
    """Ray's environment defaults and the working directory on ``PYTHONPATH`` while Ray runs, then the caller's
    environment as it was: a notebook or test process that runs a search keeps its own settings (a leftover
    ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, for one, makes a later ``ray start`` refuse to join a cluster)."""
    before = dict(os.environ)
    quiet_ray_environment()
    cwd = os.getcwd()
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if cwd not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([cwd, *paths])
    if address:
        # Clusters started by `ray start` require token authentication; Ray reads this when it is imported.
        os.environ.setdefault("RAY_AUTH_MODE", "token")
    try:
        yield
    finally:
        for key in set(os.environ) - set(before):
            del os.environ[key]
        os.environ.update(before)


def _init(ray: Any, address: str | None, *, num_cpus: int | None, num_gpus: int | None) -> None:
    if address:
        try:
            ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False,
                     runtime_env={"env_vars": {"PYTHONPATH": os.environ["PYTHONPATH"]}})
        except (ConnectionError, ValueError, RuntimeError) as err:
            raise UsageError(f"cannot connect to the Ray cluster at {address!r} ({err})".splitlines()[0],
                             path="--address", fix="check the address 'ray start --head' printed") from None
    else:
        # address="local": never attach by accident to another cluster running on this machine.
        ray.init(address="local", num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=False,
                 log_to_driver=False, logging_level=logging.ERROR, object_store_memory=object_store_bytes())


@contextlib.contextmanager
def _own_sigterm() -> Iterator[None]:
    """Keep the driver's SIGTERM handler through ``ray.init``, which installs a handler of Ray's core (it logs
    and exits at once, skipping the search's clean stop). Only a handler Python installed can be put back."""
    handler = signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        if handler is not None:
            signal.signal(signal.SIGTERM, handler)


OBJECT_STORE_CAP = 2 * 1024**3


def object_store_bytes() -> int | None:
    """The object store of a private cluster: at most 2 GiB (None: Ray's default, 30 % of memory, when smaller).

    A search moves only configs and results through it. Ray's default reserves 30 % of the memory, and setting
    up 7.5 GB took the raylet a second longer than 2 GB on the 24 GiB machine of docs/BENCHMARKS.md.
    """
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return None
    return OBJECT_STORE_CAP if total * 0.3 > OBJECT_STORE_CAP else None

