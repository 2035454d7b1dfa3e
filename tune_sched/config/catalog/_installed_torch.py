"""The installed torch's optimizer and LR-scheduler signatures, for the catalog, without importing torch here.

Why this design. The catalog must describe the torch that will build the objects (an optimizer an older torch
lacks must fail ``validate``, not the build), and ``tune-sched validate`` must stay fast and torch-free. Both hold
when the signatures are keyed by the installed torch's release, read from the ``torch/version.py`` that
``import torch`` would load (the file, not the module):

1. the committed snapshot (``torch_signatures.json``, written by ``scripts/gen_torch_catalog.py``) when it is that
   release: the torch the suite runs on, so the usual path reads one small JSON file;
2. else this machine's cache file for that release (``torch_signatures-<release>.json`` in
   ``$TUNE_SCHED_CACHE_DIR``, default ``$XDG_CACHE_HOME/tune-sched`` or ``~/.cache/tune-sched``);
3. else torch itself, read once and cached: in this process when torch is already imported, otherwise in a child
   Python, so that the caller stays torch-free (the first command after installing another torch pays one torch
   import; an unwritable cache only means paying it again).

The release leaves out the local label (``2.13.0+cpu`` and ``2.13.0+cu130`` share signatures). A test compares
what the catalog uses with the live torch, so a snapshot or cache that disagrees with torch cannot pass unseen.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from tune_sched.config.catalog._torch_snapshot import live_signatures, read_snapshot, render

__all__ = ["cache_dir", "installed_release", "release_of", "torch_signatures"]


def release_of(version: str) -> str:
    """``"2.13.0+cpu"`` -> ``"2.13.0"``: the part of a version that fixes torch's Python signatures."""
    return version.split("+", 1)[0]


def installed_release() -> str | None:
    """The release of the torch that ``import torch`` would load, read from its ``version.py`` (None: no torch)."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    try:
        text = (Path(spec.submodule_search_locations[0]) / "version.py").read_text(encoding="utf-8")
    except OSError:
        return None
    found = re.search(r"""^__version__\s*(?::\s*str\s*)?=\s*['"]([^'"]+)['"]""", text, re.MULTILINE)
    return release_of(found.group(1)) if found else None


def cache_dir() -> Path:
    """Where signatures read from a torch other than the snapshot's are kept, one file per release."""
    if os.environ.get("TUNE_SCHED_CACHE_DIR"):
        return Path(os.environ["TUNE_SCHED_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tune-sched"


def torch_signatures(release: str | None = None, *, cache: Path | None = None) -> dict[str, Any]:
    """The signatures the catalog uses (see the module docstring for where they come from).

    Args:
        release: the torch release to describe (default: the installed one).
        cache: the cache folder (default :func:`cache_dir`).

    Returns:
        The snapshot's form: ``{"torch_version", "optimizers", "lr_schedulers"}``.
    """
    release = release if release is not None else installed_release()
    snapshot = read_snapshot()
    if release is not None and release == release_of(snapshot["torch_version"]):
        return snapshot
    if release is None:  # no version.py to read: nothing to key a cache on
        return _read_torch()
    path = (cache if cache is not None else cache_dir()) / f"torch_signatures-{release}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    signatures = _read_torch()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(render(signatures), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass
    return signatures


def _read_torch() -> dict[str, Any]:
    if "torch" in sys.modules:
        return live_signatures()
    # torch first: the child's own catalog then reads it in-process instead of starting another child
    code = ("import torch; from tune_sched.config.catalog._torch_snapshot import live_signatures, render; "
            "print(render(live_signatures()), end='')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"could not read the installed torch's optimizer signatures:\n{done.stderr.strip()}")
    return json.loads(done.stdout)
