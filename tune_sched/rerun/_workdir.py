"""A directory for new runs: the one the user named (new or empty), or a temporary one removed afterwards."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tune_sched.core.errors import UsageError

__all__ = ["work_dir"]


@contextlib.contextmanager
def work_dir(out: str | Path | None, *, flag: str = "--out", prefix: str = "tune-sched-") -> Iterator[Path]:
    """Yield ``out`` (created; an error if it exists and is not an empty directory) or a temporary directory.

    Raises:
        UsageError: ``out`` is a file or a non-empty directory (named as ``flag``).
    """
    if out is None:
        with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
            yield Path(tmp)
        return
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError("already exists and is not an empty directory", path=f"{flag} {out}",
                         fix="pass a new directory")
    out.mkdir(parents=True, exist_ok=True)
    yield out
