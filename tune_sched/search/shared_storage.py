"""The driver's side of an experiment at a URI (``--storage s3://bucket/prefix``): a local mirror it reads and
writes like a local experiment, kept equal to the URI where it matters.

- :meth:`RemoteExperiment.open` refreshes the mirror from the URI (everything but checkpoints), so the existing
  checks (does it exist, resume, same space) read it as they read a local experiment;
- :meth:`~RemoteExperiment.created` uploads the manifest and the space; :meth:`~RemoteExperiment.reconciled`
  sends what a resume's reconciliation changed; :meth:`~RemoteExperiment.gather` downloads the seeds' files the
  trials uploaded, gathers the three tables in the mirror and uploads them with the Optuna study;
- Ray Tune keeps its own state at ``<uri>/tune`` (:meth:`~RemoteExperiment.tune_storage`), so a resume works from
  any machine.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tune_sched.results.experiment import TABLES, gather_experiment
from tune_sched.results.storage import Remote, mirror_dir, open_remote, pull, push, storage_error
from tune_sched.search.reconcile import DISCARDED

__all__ = ["RemoteExperiment"]


@dataclass(frozen=True)
class RemoteExperiment:
    """An experiment at ``remote`` (a URI) and its local ``mirror``."""

    remote: Remote
    mirror: Path

    @property
    def uri(self) -> str:
        return self.remote.uri

    @classmethod
    def open(cls, storage: str, name: str) -> RemoteExperiment:
        """The experiment ``name`` under the URI ``storage``; its mirror refreshed (checkpoints left out).

        Writes and removes a probe first: an unreachable bucket or missing credentials are one line here.
        """
        remote = open_remote(storage).child(name)
        probe = ".tune-sched-write-test"
        try:
            remote.write_bytes(probe, b"ok")
            remote.delete(probe)
        except OSError as err:
            raise storage_error(err, remote.display) from None
        mirror = mirror_dir(remote.uri)
        shutil.rmtree(mirror, ignore_errors=True)  # the URI is the truth: never mix in an older mirror
        pull(remote, mirror, skip=(".ckpt",))
        return cls(remote, mirror)

    def created(self) -> None:
        push(self.mirror, self.remote, ["space.yaml", "experiment.json"])

    def reconciled(self, result: Any) -> None:
        """Send what :func:`~tune_sched.search.reconcile.reconcile` changed in the mirror to the URI."""
        for config_id in result.discarded:
            files = self.remote.listing(f"trials/{config_id}")
            for relative in files:
                target = f"{DISCARDED}/{relative.removeprefix('trials/')}"
                self.remote.write_bytes(target, self.remote.read_bytes(relative))
            self.remote.delete(f"trials/{config_id}")
        push(self.mirror, self.remote, [f"trials/{c}/seed={s}/result.json" for c, s in result.pruned])

    def errored(self, config_ids: list[str]) -> None:
        """Upload the ``result.json`` files written for configs whose worker died too often."""
        names = [str(p.relative_to(self.mirror)) for c in config_ids
                 for p in (self.mirror / "trials" / c).glob("seed=*/result.json")]
        push(self.mirror, self.remote, names)

    def pull_trials(self) -> int:
        return pull(self.remote, self.mirror, under="trials", skip=(".ckpt",))

    def gather(self) -> dict[str, Any]:
        """Download the seeds' files, gather the three tables in the mirror, upload them; the tables."""
        # lazy: heavy
        from tune_sched.search.study import STUDY_FILE

        self.pull_trials()
        tables = gather_experiment(self.mirror)
        push(self.mirror, self.remote, [*(f"{name}.parquet" for name in TABLES), STUDY_FILE])  # (no study: grid)
        return tables

    def tune_storage(self) -> tuple[str, Any]:
        """``(storage_path, storage_filesystem)`` for Ray Tune's RunConfig: the experiment at the URI."""
        return self.remote.path, self.remote.fs

    def remove(self) -> None:
        """Delete the experiment at the URI and its mirror (a search that made it and trained nothing)."""
        self.remote.delete("")
        shutil.rmtree(self.mirror, ignore_errors=True)
