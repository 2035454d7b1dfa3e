"""Where an experiment lives when it is not a local folder: a URI (``s3://``, ``gs://``, ``file://``, anything
pyarrow or fsspec knows), reached through one filesystem layer (``pyarrow.fs``).

A local path needs none of this: trials write into the experiment directly (a path shared between nodes works the
same way). For a URI, everything that reads or writes the experiment works on a local copy and moves whole files:

- a trial trains into a node-local working folder (:func:`work_dir`) and :class:`FolderSync` uploads each seed's
  changed files at every save point and when it ends (tables and ``last.ckpt`` before ``result.json``, which marks
  a seed finished); a retried or resumed trial first downloads what its seeds saved;
- the driver, ``analyze``, ``export`` and ``reproduce`` read a local mirror (:func:`mirror_dir`) refreshed from the
  URI (:func:`pull`), and the driver uploads what it writes there (:func:`push`).

Every upload is atomic: one object ``PUT`` on an object store (the object appears whole or not at all), a
temporary name and a rename on a filesystem.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tune_sched.core.errors import UsageError
from tune_sched.results.io import atomic_write_bytes

__all__ = ["FolderSync", "Remote", "is_uri", "local_experiment", "mirror_dir", "open_remote", "pull", "push",
           "work_dir"]

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_AUTH_WORDS = ("AccessDenied", "access denied", "credential", "InvalidAccessKeyId", "SignatureDoesNotMatch",
               "ExpiredToken", "403", "401", "Unauthorized", "Forbidden", "permission")


def is_uri(text: str | os.PathLike[str] | None) -> bool:
    """True for ``scheme://...`` (``s3://b/x``, ``file:///mnt/x``); False for plain paths and None."""
    return isinstance(text, str) and bool(_SCHEME.match(text))


@dataclass(frozen=True)
class Remote:
    """A folder behind a URI: ``uri`` as given (for messages), the pyarrow filesystem and the path inside it."""

    uri: str
    fs: Any
    path: str

    def child(self, *parts: str) -> Remote:
        tail = "/".join(p.strip("/") for p in parts if p)
        base, _, query = self.uri.partition("?")
        uri = f"{base.rstrip('/')}/{tail}" + (f"?{query}" if query else "")
        return Remote(uri, self.fs, f"{self.path.rstrip('/')}/{tail}")

    @property
    def display(self) -> str:
        """The URI without its query (an endpoint or a region), for messages."""
        return self.uri.partition("?")[0]

    def exists(self, relative: str) -> bool:
        # lazy: heavy
        from pyarrow import fs as pafs

        return self.fs.get_file_info(f"{self.path}/{relative}").type != pafs.FileType.NotFound

    def read_bytes(self, relative: str) -> bytes:
        with self.fs.open_input_stream(f"{self.path}/{relative}") as stream:
            return stream.read()

    def write_bytes(self, relative: str, data: bytes) -> None:
        """Write one file atomically (see the module's docstring)."""
        # lazy: heavy
        from pyarrow import fs as pafs

        target = f"{self.path}/{relative}"
        if isinstance(self.fs, pafs.LocalFileSystem):
            parent = target.rsplit("/", 1)[0]
            self.fs.create_dir(parent, recursive=True)
            tmp = f"{parent}/.{target.rsplit('/', 1)[1]}.{os.getpid()}.tmp"
            with self.fs.open_output_stream(tmp) as out:
                out.write(data)
            self.fs.move(tmp, target)
        else:
            with self.fs.open_output_stream(target) as out:
                out.write(data)

    def delete(self, relative: str) -> None:
        # lazy: heavy
        from pyarrow import fs as pafs

        target = f"{self.path}/{relative}".rstrip("/")
        info = self.fs.get_file_info(target)
        if info.type == pafs.FileType.Directory:
            self.fs.delete_dir(target)
        elif info.type == pafs.FileType.File:
            self.fs.delete_file(target)

    def listing(self, relative: str = "") -> dict[str, tuple[int, float]]:
        """``{relative path: (size, mtime)}`` of every file under ``relative`` (empty when it does not exist)."""
        # lazy: heavy
        from pyarrow import fs as pafs

        root = f"{self.path}/{relative}".rstrip("/")
        try:
            infos = self.fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
        except OSError as err:
            raise storage_error(err, self.display) from None
        cut = len(self.path.rstrip("/")) + 1
        return {i.path[cut:]: (i.size, i.mtime.timestamp() if i.mtime else 0.0) for i in infos
                if i.type == pafs.FileType.File}


def open_remote(uri: str) -> Remote:
    """The filesystem behind ``uri``: pyarrow's own (s3, gs, hdfs, file), else fsspec's (``pip install gcsfs``...)."""
    # lazy: heavy
    from pyarrow import fs as pafs

    try:
        fs, path = pafs.FileSystem.from_uri(uri)
    except (ValueError, OSError) as err:
        if "Unrecognized filesystem type" not in str(err) and "not supported" not in str(err):
            raise storage_error(err, uri.partition("?")[0]) from None
        fs, path = _fsspec_filesystem(uri)
    return Remote(uri, fs, path.rstrip("/"))


def _fsspec_filesystem(uri: str) -> tuple[Any, str]:
    try:
        # lazy: heavy
        import fsspec
        from pyarrow.fs import FSSpecHandler, PyFileSystem
    except ImportError:  # pragma: no cover - fsspec is installed with Ray
        raise UsageError(f"{uri!r} is a URI pyarrow does not know", path="--storage",
                         fix="pip install fsspec and the package for its scheme (e.g. gcsfs, adlfs)") from None
    try:
        fs, path = fsspec.core.url_to_fs(uri)
    except (ImportError, ValueError) as err:
        raise UsageError(f"cannot open {uri!r} ({err})".splitlines()[0], path="--storage",
                         fix="install the fsspec package for this scheme, or use s3://, gs:// or a shared path") \
            from None
    return PyFileSystem(FSSpecHandler(fs)), path


def storage_error(err: BaseException, where: str) -> UsageError:
    """A storage failure as one line: an authentication failure says how to give credentials."""
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    if any(word.lower() in text.lower() for word in _AUTH_WORDS):
        return UsageError(f"cannot authenticate to the storage ({text})", path=where,
                          fix="give every node credentials for it (for s3://: AWS_ACCESS_KEY_ID and "
                              "AWS_SECRET_ACCESS_KEY or an instance role; for gs://: GOOGLE_APPLICATION_CREDENTIALS) "
                              "in the environment of 'ray start' and of this command")
    return UsageError(f"cannot use the storage ({text})", path=where,
                      fix="check the URI, the bucket and the network; see docs/clusters.md")


def _cache_root(kind: str) -> Path:
    root = os.environ.get("TUNE_SCHED_CACHE") or os.path.join(tempfile.gettempdir(), f"tune-sched-{os.getuid()}")
    return Path(root) / kind


def _slug(uri: str) -> str:
    base = uri.partition("?")[0]
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", base.split("://", 1)[-1].strip("/"))[-60:]
    return f"{name}-{hashlib.sha1(base.encode()).hexdigest()[:10]}"


def mirror_dir(uri: str) -> Path:
    """The local copy of the experiment at ``uri`` that the driver and the analysis read and write (a folder
    named like the experiment)."""
    base = uri.partition("?")[0].rstrip("/")
    parent, _, name = base.rpartition("/")
    return _cache_root("mirror") / _slug(parent) / name


def work_dir(uri: str) -> Path:
    """A node-local folder where a trial of the experiment at ``uri`` trains before uploading (per process)."""
    return _cache_root("work") / f"{os.getpid()}" / _slug(uri)


def pull(remote: Remote, local: Path, *, under: str = "", skip: Iterable[str] = ()) -> int:
    """Download the files under ``under`` that the local copy lacks or has with another size; how many.

    Names ending in one of ``skip`` (e.g. ``.ckpt``) are left out.
    """
    skip = tuple(skip)
    count = 0

    for relative, (size, mtime) in remote.listing(under).items():
        if skip and relative.endswith(skip):
            continue
        target = local / relative
        if target.is_file() and (target.stat().st_size, target.stat().st_mtime) == (size, mtime):
            continue  # downloaded before: the copy carries the remote file's size and modification time
        atomic_write_bytes(target, remote.read_bytes(relative))
        os.utime(target, (mtime, mtime))
        count += 1
    return count


def push(local: Path, remote: Remote, names: Iterable[str]) -> None:
    """Upload ``names`` (paths relative to ``local``; missing ones are skipped) in the order given."""
    for name in names:
        path = local / name
        if path.is_file():
            remote.write_bytes(name, path.read_bytes())


def local_experiment(path: str | os.PathLike[str]) -> Path:
    """``path`` itself for a local experiment; for a URI, its local mirror refreshed from the URI (without the
    checkpoints, which reading an experiment never needs)."""
    if not is_uri(path):
        return Path(path)
    remote = open_remote(str(path))
    local = mirror_dir(str(path))
    pull(remote, local, skip=(".ckpt",))
    return local


# The files a seed writes, in upload order: its result.json last, since a seed with one is finished.
SEED_FILES = ("config.yaml", "steps.parquet", "epochs.parquet", "last.ckpt", "result.json")


class FolderSync:
    """Keeps a trial's seed folders at a URI equal to the node-local folders it trains in.

    ``upload()`` sends the files changed since the last upload (compared by modification time and size), the
    seeds' tables and checkpoints before their ``result.json``. ``download(relative)`` fetches a seed folder that a
    trial continues (a resume, a retry on another node) unless the local copy already has it.
    """

    def __init__(self, uri: str, local: Path) -> None:
        self.remote = open_remote(uri)
        self.local = local
        self._sent: dict[str, tuple[int, int]] = {}

    def download(self, relative: str) -> None:
        pull(self.remote, self.local, under=relative)
        for path in (self.local / relative).rglob("*"):
            if path.is_file():
                self._sent[str(path.relative_to(self.local))] = _stamp(path)

    def upload(self, folders: Iterable[str]) -> int:
        """Upload what changed in ``folders`` (relative to the local root); the number of files sent."""
        names = []
        for folder in folders:
            # a stacked trial's checkpoint of all its seeds (train/stacked.py) goes before the results, too
            stacked = sorted(path.name for path in (self.local / folder).glob("stacked-*.ckpt"))
            for name in (*SEED_FILES[:-1], *stacked, SEED_FILES[-1]):
                relative = f"{folder}/{name}"
                path = self.local / relative
                if path.is_file() and self._sent.get(relative) != (stamp := _stamp(path)):
                    names.append((relative, stamp))
        for relative, stamp in names:
            self.remote.write_bytes(relative, (self.local / relative).read_bytes())
            self._sent[relative] = stamp
        return len(names)


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size
